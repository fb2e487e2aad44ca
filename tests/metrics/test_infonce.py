"""InfoNCE against an explicit per-anchor loop."""

from __future__ import annotations

import math

import pytest
import torch

from graphkd.metrics import InfoNCE

from .cases import negatives_for, node_pair


def _anchor_loss(anchor: list, positive: list, negatives: list, temperature: float) -> float:
    logits = [sum(a * b for a, b in zip(anchor, other)) / temperature for other in [positive]]
    logits += [sum(a * b for a, b in zip(anchor, n)) / temperature for n in negatives]
    peak = max(logits)
    return -(logits[0] - peak) + math.log(sum(math.exp(x - peak) for x in logits))


@pytest.mark.parametrize("temperature", [0.07, 1.0])
def test_explicit_negatives_match_reference(temperature: float) -> None:
    student, teacher = node_pair(shape=(4, 3))
    negatives = negatives_for(student, k=5)
    losses = [
        _anchor_loss(student[i].tolist(), teacher[i].tolist(), negatives[i].tolist(), temperature)
        for i in range(4)
    ]
    value = InfoNCE(temperature=temperature)(student, teacher, negatives=negatives)
    assert float(value) == pytest.approx(sum(losses) / 4, rel=1e-5)


def test_in_batch_negatives_are_the_other_teacher_rows() -> None:
    student, teacher = node_pair(shape=(5, 3))
    rows = teacher.tolist()
    losses = [
        _anchor_loss(student[i].tolist(), rows[i], rows[:i] + rows[i + 1 :], 0.5) for i in range(5)
    ]
    value = InfoNCE(temperature=0.5)(student, teacher)
    assert float(value) == pytest.approx(sum(losses) / 5, rel=1e-5)


def test_default_temperature_and_no_normalisation() -> None:
    student, teacher = node_pair(shape=(4, 3))
    metric = InfoNCE()
    assert metric.temperature == 0.07
    assert not torch.allclose(metric(2 * student, teacher), metric(student, teacher))


def test_single_row_without_negatives_is_zero() -> None:
    student, teacher = node_pair(shape=(1, 3))
    assert float(InfoNCE()(student, teacher)) == 0.0


def test_bad_negatives_are_rejected() -> None:
    student, teacher = node_pair(shape=(4, 3))
    metric = InfoNCE()
    with pytest.raises(ValueError, match=r"\(B, K, D\) = \(4, K, 3\).*\(4, 2, 2\)"):
        metric(student, teacher, negatives=torch.zeros(4, 2, 2))
    with pytest.raises(ValueError, match="negatives contains NaN or Inf"):
        metric(student, teacher, negatives=torch.full((4, 2, 3), float("nan")))


def test_non_matrix_inputs_are_rejected() -> None:
    student, teacher = node_pair(shape=(2, 3, 4))
    with pytest.raises(ValueError, match=r"shape \(B, D\), got \(2, 3, 4\)"):
        InfoNCE()(student, teacher)
