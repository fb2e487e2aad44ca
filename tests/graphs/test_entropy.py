"""Joint entropy of edge endpoints: against hand-computed entropies, on any topology."""

import math

import pytest
import torch

from graphkd.graphs import joint_entropy, knn_graph, prediction_entropy, view_graph


def entropy_reference(logits):
    p = torch.softmax(logits.double(), 1)
    return -(p * p.log()).sum(1)


def test_prediction_entropy_hand_values():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [math.log(3.0), 0.0, -1e4, -1e4]])
    # uniform over 4 -> log 4; probabilities (3/4, 1/4, 0, 0) -> saturated zeros add nothing
    expected = torch.tensor([math.log(4.0), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))])
    torch.testing.assert_close(prediction_entropy(logits), expected.float())


def test_prediction_entropy_half_precision_and_no_gradient():
    logits = torch.randn(5, 7, requires_grad=True)
    result = prediction_entropy(logits.half())
    assert result.dtype == torch.float32 and not result.requires_grad
    torch.testing.assert_close(
        result.double(), entropy_reference(logits.half().float()), rtol=1e-5, atol=1e-6
    )


def test_joint_entropy_on_view_graph_is_outer_sum():
    real, virtual = torch.randn(5, 6), torch.randn(5, 6)
    graph = view_graph(real, virtual)
    expected = entropy_reference(real)[:, None] + entropy_reference(virtual)[None, :]
    torch.testing.assert_close(
        joint_entropy(graph, graph.ndata["h"]).double(), expected.reshape(-1)
    )


def test_joint_entropy_on_sparse_graph():
    logits = torch.randn(9, 4)
    graph = knn_graph(torch.randn(9, 3), k=3)
    h = entropy_reference(logits)
    torch.testing.assert_close(joint_entropy(graph, logits).double(), h[graph.src] + h[graph.dst])


def test_joint_entropy_rejects_wrong_row_count():
    graph = view_graph(torch.randn(3, 4), torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"shape \(6, C\)"):
        joint_entropy(graph, torch.randn(3, 4))
