"""Behaviour every registered metric shares, parametrised over the registry."""

from __future__ import annotations

import pytest
import torch

from graphkd.metrics import Metric, check_finite, create_metric, list_metrics

from .cases import EDGE_METRICS, edge_pair, extra_inputs, make_graph, node_pair

ALL = list_metrics()


def _call(metric: Metric, name: str, student, teacher, graph=None):
    return metric(student, teacher, graph=graph, **extra_inputs(name, student))


@pytest.mark.parametrize("name", ALL)
def test_returns_a_scalar(name: str) -> None:
    student, teacher = node_pair()
    value = _call(create_metric(name), name, student, teacher)
    assert value.dim() == 0
    assert value.dtype == torch.float32
    assert torch.isfinite(value)


@pytest.mark.parametrize("name", ALL)
def test_gradients_are_finite_and_reach_both_inputs(name: str) -> None:
    student, teacher = node_pair()
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    _call(create_metric(name), name, student, teacher).backward()
    for grad in (student.grad, teacher.grad):
        assert grad is not None
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


@pytest.mark.parametrize("name", ALL)
def test_gradcheck_node_mode(name: str) -> None:
    student, teacher = node_pair(shape=(3, 4), dtype=torch.float64)
    extra = extra_inputs(name, student)
    metric = create_metric(name)
    inputs = (student.requires_grad_(True), teacher.requires_grad_(True))
    assert torch.autograd.gradcheck(lambda s, t: metric(s, t, **extra), inputs, fast_mode=True)


@pytest.mark.parametrize("name", EDGE_METRICS)
@pytest.mark.parametrize("heads", [None, 2])
def test_gradcheck_edge_mode(name: str, heads) -> None:
    student, teacher = edge_pair(heads=heads, dtype=torch.float64)
    graph = make_graph()
    metric = create_metric(name)
    inputs = (student.requires_grad_(True), teacher.requires_grad_(True))
    assert torch.autograd.gradcheck(lambda s, t: metric(s, t, graph=graph), inputs, fast_mode=True)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("kind", ["identical", "zeros", "constant_rows"])
def test_degenerate_inputs_give_finite_values_and_gradients(name: str, kind: str) -> None:
    student, _ = node_pair()
    if kind == "zeros":
        student = torch.zeros_like(student)
    elif kind == "constant_rows":
        student = torch.arange(4.0).unsqueeze(1).expand(4, 5).contiguous()
    teacher = student.clone().requires_grad_(True)
    student = student.clone().requires_grad_(True)
    value = _call(create_metric(name), name, student, teacher)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(student.grad).all() and torch.isfinite(teacher.grad).all()


@pytest.mark.parametrize("name", ALL)
def test_identical_inputs_are_a_minimum_where_the_metric_is_a_divergence(name: str) -> None:
    student, _ = node_pair()
    value = _call(create_metric(name), name, student, student.clone())
    if name != "infonce":  # InfoNCE compares against negatives, not only the positive
        assert value.abs() < 1e-5


@pytest.mark.parametrize("name", EDGE_METRICS)
def test_degenerate_edge_scores_give_finite_values_and_gradients(name: str) -> None:
    graph = make_graph()
    for scores in (torch.zeros(8, 2), torch.tensor([[1e4], [-1e4]] * 4).expand(8, 2)):
        student = scores.clone().requires_grad_(True)
        teacher = (scores.flip(0) * 0.5).requires_grad_(True)
        value = create_metric(name)(student, teacher, graph=graph)
        value.backward()
        assert torch.isfinite(value)
        assert torch.isfinite(student.grad).all() and torch.isfinite(teacher.grad).all()


@pytest.mark.parametrize("name", ALL)
def test_shape_mismatch_names_both_shapes_and_the_fix(name: str) -> None:
    student, _ = node_pair(shape=(4, 5))
    _, teacher = node_pair(shape=(4, 6))
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(4, 6\).*same shape"):
        create_metric(name)(student, teacher)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("side", ["student", "teacher"])
def test_nan_and_inf_are_rejected(name: str, bad: float, side: str) -> None:
    student, teacher = node_pair()
    (student if side == "student" else teacher)[1, 2] = bad
    with pytest.raises(ValueError, match=rf"{side} contains NaN or Inf.*check_finite=False"):
        _call(create_metric(name), name, student, teacher)


@pytest.mark.parametrize("name", ALL)
def test_finite_check_can_be_switched_off_by_argument_and_attribute(name: str) -> None:
    student, teacher = node_pair()
    student[0, 0] = float("nan")
    value = _call(create_metric(name, check_finite=False), name, student, teacher)
    assert torch.isnan(value)
    metric = create_metric(name)
    metric.check_finite = False
    assert torch.isnan(_call(metric, name, student, teacher))


@pytest.mark.parametrize("name", ALL)
def test_zero_dim_and_empty_inputs_are_rejected(name: str) -> None:
    metric = create_metric(name)
    with pytest.raises(ValueError, match="0-d.*unsqueeze"):
        metric(torch.tensor(1.0), torch.tensor(2.0))
    with pytest.raises(ValueError, match="empty"):
        metric(torch.zeros(0, 3), torch.zeros(0, 3))


@pytest.mark.parametrize("name", ALL)
def test_half_precision_is_computed_in_float32(name: str) -> None:
    student, teacher = node_pair()
    metric = create_metric(name)
    extra = {k: v.half() for k, v in extra_inputs(name, student).items()}
    low = metric(student.half(), teacher.half(), **extra)
    assert low.dtype == torch.float32
    reference = metric(student.half().float(), teacher.half().float(), **extra)
    assert torch.allclose(low, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_repr_shows_the_options(name: str) -> None:
    text = repr(create_metric(name, check_finite=False))
    assert "check_finite=False" in text


def test_check_finite_helper_counts_the_bad_entries() -> None:
    check_finite("x", torch.ones(3))
    with pytest.raises(ValueError, match=r"x contains NaN or Inf values \(2 of 3 entries\)"):
        check_finite("x", torch.tensor([1.0, float("nan"), float("inf")]))


def test_metric_cannot_be_instantiated_without_forward() -> None:
    with pytest.raises(TypeError):
        Metric()


@pytest.mark.parametrize(
    "values",
    [
        [3e38, 3e38],  # finite entries whose float32 sum overflows
        [float("inf"), float("-inf")],  # infinities whose sum is NaN
        [1.0, float("inf")],
        [float("nan"), 1.0],
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_check_finite_judges_entries_not_their_sum(values, dtype) -> None:
    tensor = torch.tensor(values, dtype=torch.float64).to(dtype)
    bad = sum(1 for v in tensor.tolist() if v != v or abs(v) == float("inf"))
    if bad == 0:
        check_finite("x", tensor)
        return
    with pytest.raises(ValueError, match=rf"x contains NaN or Inf values \({bad} of 2"):
        check_finite("x", tensor)
