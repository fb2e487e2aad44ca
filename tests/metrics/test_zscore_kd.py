"""Logit-standardised KD against an independent standardisation and kl_div."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphkd.metrics import ZScoreKD
from graphkd.metrics.functional import zscore

from .cases import node_pair


def _standardise(z: torch.Tensor) -> torch.Tensor:
    return (z - z.mean(dim=1, keepdim=True)) / (z.std(dim=1, unbiased=True, keepdim=True) + 1e-7)


@pytest.mark.parametrize("tau", [2.0, 3.0])
def test_matches_reference(tau: float) -> None:
    student, teacher = node_pair(shape=(4, 5))
    zs, zt = _standardise(student), _standardise(teacher)
    expected = tau**2 * F.kl_div(
        F.log_softmax(zs / tau, dim=1), F.softmax(zt / tau, dim=1), reduction="batchmean"
    )
    assert torch.allclose(ZScoreKD(tau=tau)(student, teacher), expected, rtol=1e-5, atol=1e-7)


def test_default_tau_is_two() -> None:
    assert ZScoreKD().tau == 2.0


def test_zscore_uses_the_unbiased_std() -> None:
    logits, _ = node_pair(shape=(3, 6))
    standardised = zscore(logits)
    assert torch.allclose(standardised, _standardise(logits), atol=1e-6)
    assert torch.allclose(standardised.std(dim=1), torch.ones(3), atol=1e-5)


def test_invariant_to_row_shift_and_scale() -> None:
    student, teacher = node_pair()
    metric = ZScoreKD()
    shift = torch.randn(4, 1, generator=torch.Generator().manual_seed(3))
    moved = metric(3.0 * student + shift, 0.5 * teacher - shift)
    assert torch.allclose(moved, metric(student, teacher), atol=1e-5)


def test_single_class_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 2 entries"):
        ZScoreKD()(torch.zeros(4, 1), torch.zeros(4, 1))
