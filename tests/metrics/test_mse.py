"""MSE against an explicit reference."""

from __future__ import annotations

import pytest
import torch

from graphkd.metrics import MSE

from .cases import node_pair


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean"])
@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 4), (6,)])
def test_matches_reference(reduction: str, shape) -> None:
    student, teacher = node_pair(shape=shape)
    squares = [(float(s) - float(t)) ** 2 for s, t in zip(student.flatten(), teacher.flatten())]
    divisor = {"mean": len(squares), "sum": 1, "batchmean": shape[0]}[reduction]
    expected = sum(squares) / divisor
    assert float(MSE(reduction=reduction)(student, teacher)) == pytest.approx(expected, rel=1e-5)


def test_batchmean_divides_by_rows_only() -> None:
    student, teacher = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    assert float(MSE(reduction="batchmean")(student, teacher)) == 12.0


def test_unknown_reduction_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="'mean', 'sum', 'batchmean'"):
        MSE(reduction="avg")


def test_per_sample_and_per_node_divide_the_sum_by_the_graph_counts() -> None:
    """Two member graphs of 3 complete nodes (9 edges each): the sum of the 18 edge
    squares over 2 samples (KD-SVD) or over 6 nodes (ICKD, MLKD), gradients included."""
    from graphkd.graphs import complete_graph
    from graphkd.knowledge_graph import KnowledgeGraph

    graph = KnowledgeGraph.batch([complete_graph(3), complete_graph(3)])
    student = torch.randn(18, 2, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(18, 2, dtype=torch.float64)
    pairs = zip(student.detach().flatten(), teacher.flatten())
    squares = sum((float(s) - float(t)) ** 2 for s, t in pairs)
    for reduction, count in (("per_sample", 2), ("per_node", 6)):
        loss = MSE(reduction=reduction)(student, teacher, graph=graph)
        assert float(loss.detach()) == pytest.approx(squares / count, rel=1e-12)
        (grad,) = torch.autograd.grad(loss, student)
        torch.testing.assert_close(grad, 2 * (student - teacher).detach() / count)
        with pytest.raises(ValueError, match=f"reduction '{reduction}' divides by the graph"):
            MSE(reduction=reduction)(student, teacher)
