"""Vanilla KD against torch's kl_div with the tau^2 factor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphkd.metrics import KD, create_metric

from .cases import node_pair


@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_matches_hinton_formula(tau: float) -> None:
    student, teacher = node_pair(shape=(4, 5))
    expected = tau**2 * F.kl_div(
        F.log_softmax(student / tau, dim=1), F.softmax(teacher / tau, dim=1), reduction="batchmean"
    )
    assert torch.allclose(KD(tau=tau)(student, teacher), expected, rtol=1e-5, atol=1e-7)


def test_default_tau_is_four_and_equals_scaled_kl() -> None:
    student, teacher = node_pair()
    kl = create_metric("kl", temperature=4.0, scale_by_temperature_squared=True)
    assert KD().tau == 4.0
    assert torch.allclose(KD()(student, teacher), kl(student, teacher))


def test_non_positive_tau_is_rejected() -> None:
    with pytest.raises(ValueError, match="tau must be positive"):
        KD(tau=0.0)
