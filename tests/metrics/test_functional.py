"""The functional API: same values as the modules, shape and option checks."""

from __future__ import annotations

import pytest
import torch

from graphkd.metrics import create_metric, functional

from .cases import edge_pair, make_graph, node_pair

PAIRS = [
    ("mse", functional.mse, {}),
    ("l1", functional.l1, {}),
    ("smooth_l1", functional.smooth_l1, {}),
    ("cosine", functional.cosine_distance, {}),
    ("pearson", functional.pearson_distance, {}),
    ("kl", functional.kl_divergence, {}),
    ("js", functional.js_divergence, {}),
    ("kd", functional.kd_loss, {}),
    ("zscore_kd", functional.zscore_kd_loss, {}),
    ("infonce", functional.info_nce, {}),
]


@pytest.mark.parametrize("name, function, options", PAIRS)
def test_functions_equal_the_modules(name: str, function, options: dict) -> None:
    student, teacher = node_pair()
    assert torch.equal(function(student, teacher, **options), create_metric(name)(student, teacher))


@pytest.mark.parametrize("name, function, options", PAIRS)
def test_functions_reject_shape_mismatch_without_broadcasting(
    name: str, function, options: dict
) -> None:
    student, _ = node_pair(shape=(4, 5))
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(1, 5\)"):
        function(student, student[:1], **options)


@pytest.mark.parametrize("function", [functional.kl_divergence, functional.js_divergence])
def test_edge_mode_on_the_graph_device_only(function) -> None:
    student, teacher = edge_pair()
    graph = make_graph()
    graph.dst = graph.dst.to("meta")
    with pytest.raises(ValueError, match="graph is on meta.*one device"):
        function(student, teacher, graph)


def test_kl_without_a_last_dim_is_rejected() -> None:
    with pytest.raises(ValueError, match="no distribution"):
        functional.kl_divergence(torch.zeros(3, 0), torch.zeros(3, 0))


@pytest.mark.parametrize("dim", [0, 1])
def test_clamped_norm_equals_the_clamped_vector_norm_in_value_and_gradient(dim):
    """The sum-of-squares form is the norm kernel's twin: same values, and no gradient
    through rows whose norm sits below eps (a zero row and a tiny one included)."""
    x = torch.randn(6, 5, dtype=torch.float64)
    x.select(1 - dim, 0).zero_()
    x.select(1 - dim, 1).mul_(1e-10)
    eps = 1e-8
    weights = torch.randn(x.shape[1 - dim], dtype=torch.float64)
    ours = x.clone().requires_grad_()
    reference = x.clone().requires_grad_()
    value = functional.clamped_norm(ours, dim, eps)
    expected = torch.linalg.vector_norm(reference, dim=dim).clamp_min(eps)
    torch.testing.assert_close(value, expected)
    (value * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(ours.grad, reference.grad)
    assert ours.grad.select(1 - dim, 1).abs().max() == 0
