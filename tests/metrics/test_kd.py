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


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 7)])
@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_gradient_matches_the_hinton_formula_with_and_without_a_learning_teacher(shape, tau):
    """The formula's value and gradients, for a fixed teacher and for one that learns
    too (every position of the leading dims is a row)."""
    torch.manual_seed(0)
    student, teacher = torch.randn(shape, dtype=torch.float64), torch.randn(shape).double()
    rows = student.numel() // shape[-1]

    def reference(s, t):
        log_s = F.log_softmax(s / tau, dim=-1)
        p_t = F.softmax(t / tau, dim=-1)
        return tau**2 * (p_t * (p_t.log() - log_s)).sum() / rows

    upstream = 0.7  # a weight applied after the loss reaches the gradient
    s_ref = student.clone().requires_grad_()
    t_ref = teacher.clone().requires_grad_()
    (upstream * reference(s_ref, t_ref)).backward()
    s_fixed = student.clone().requires_grad_()
    fixed = KD(tau=tau)(s_fixed, teacher)
    (upstream * fixed).backward()
    s_both, t_both = student.clone().requires_grad_(), teacher.clone().requires_grad_()
    both = KD(tau=tau)(s_both, t_both)
    (upstream * both).backward()
    expected = reference(student, teacher)
    torch.testing.assert_close(fixed, expected)
    torch.testing.assert_close(both, expected)
    torch.testing.assert_close(s_fixed.grad, s_ref.grad)
    torch.testing.assert_close(s_both.grad, s_ref.grad)
    torch.testing.assert_close(t_both.grad, t_ref.grad)
    assert torch.autograd.gradcheck(
        lambda s: KD(tau=tau)(s, teacher), (s_fixed.detach().requires_grad_(),)
    )


def test_half_precision_logits_are_computed_in_float32() -> None:
    student, teacher = node_pair(shape=(4, 5))
    half = KD()(student.half().requires_grad_(), teacher.half())
    assert half.dtype == torch.float32
    s, t = student.half().float() / 4.0, teacher.half().float() / 4.0
    expected = 16.0 * F.kl_div(F.log_softmax(s, dim=1), F.softmax(t, dim=1), reduction="batchmean")
    torch.testing.assert_close(half, expected)
