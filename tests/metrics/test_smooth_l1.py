"""Smooth L1 against an explicit piecewise reference."""

from __future__ import annotations

import pytest
import torch

from graphkd.metrics import SmoothL1

from .cases import node_pair


def _piecewise(d: float, beta: float) -> float:
    if abs(d) < beta:
        return 0.5 * d * d / beta
    return abs(d) - 0.5 * beta


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean"])
@pytest.mark.parametrize("beta", [1.0, 0.5, 3.0, 0.0])
def test_matches_reference(reduction: str, beta: float) -> None:
    student, teacher = node_pair(shape=(4, 5))
    values = [
        _piecewise(float(s) - float(t), beta) for s, t in zip(student.flatten(), teacher.flatten())
    ]
    divisor = {"mean": len(values), "sum": 1, "batchmean": 4}[reduction]
    metric = SmoothL1(beta=beta, reduction=reduction)
    assert float(metric(student, teacher)) == pytest.approx(sum(values) / divisor, rel=1e-5)


def test_default_beta_is_one() -> None:
    student, teacher = torch.zeros(2), torch.tensor([0.5, 3.0])
    assert float(SmoothL1()(student, teacher)) == pytest.approx((0.125 + 2.5) / 2)


def test_negative_beta_is_rejected() -> None:
    with pytest.raises(ValueError, match="beta must be >= 0"):
        SmoothL1(beta=-1.0)
