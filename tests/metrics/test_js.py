"""JS divergence against explicit node and edge references."""

from __future__ import annotations

import math
from typing import Optional

import pytest
import torch
import torch.nn.functional as F

from graphkd.metrics import JSDivergence

from .cases import DST, NUM_NODES, edge_pair, make_graph, node_pair


def _js(s_scores: torch.Tensor, t_scores: torch.Tensor) -> float:
    p, q = s_scores.double().softmax(0), t_scores.double().softmax(0)
    m = (p + q) / 2
    kl_pm = F.kl_div(m.log(), p, reduction="sum")
    kl_qm = F.kl_div(m.log(), q, reduction="sum")
    return float(0.5 * kl_pm + 0.5 * kl_qm)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
@pytest.mark.parametrize("reduction", ["batchmean", "sum"])
def test_node_mode_matches_reference(temperature: float, reduction: str) -> None:
    student, teacher = node_pair(shape=(4, 5))
    rows = [_js(s / temperature, t / temperature) for s, t in zip(student, teacher)]
    expected = sum(rows) / (4 if reduction == "batchmean" else 1)
    metric = JSDivergence(temperature=temperature, reduction=reduction)
    assert float(metric(student, teacher)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("heads", [None, 2])
def test_edge_mode_matches_loop_reference(heads: Optional[int]) -> None:
    student, teacher = edge_pair(heads=heads)
    s = student.reshape(len(DST), -1)
    t = teacher.reshape(len(DST), -1)
    values = []
    for node in range(NUM_NODES):
        edges = [e for e, d in enumerate(DST) if d == node]
        if edges:
            values += [_js(s[edges, h], t[edges, h]) for h in range(s.shape[1])]
    value = JSDivergence()(student, teacher, graph=make_graph())
    assert float(value) == pytest.approx(sum(values) / len(values), rel=1e-5)


def test_symmetric_bounded_and_scaled() -> None:
    student, teacher = node_pair()
    metric = JSDivergence(temperature=2.0)
    assert torch.allclose(metric(student, teacher), metric(teacher, student))
    disjoint = metric(torch.tensor([[1e3, 0.0]]), torch.tensor([[0.0, 1e3]]))
    assert float(disjoint) == pytest.approx(math.log(2), rel=1e-5)
    scaled = JSDivergence(temperature=2.0, scale_by_temperature_squared=True)
    assert torch.allclose(scaled(student, teacher), 4 * metric(student, teacher))


def test_has_no_direction_option() -> None:
    with pytest.raises(TypeError):
        JSDivergence(direction="teacher||student")
