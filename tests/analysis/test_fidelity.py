"""fidelity: agreement and KL against hand computations."""

import math

import pytest
import torch

from graphkd.analysis import KL_SCALE, fidelity


def test_a_model_is_fully_faithful_to_itself():
    z = torch.randn(16, 7)
    result = fidelity(z, z)
    assert result.agreement == 1.0
    assert result.kl == pytest.approx(0.0, abs=1e-12)
    assert result.kl_scaled == pytest.approx(0.0, abs=1e-12)


def test_agreement_and_kl_equal_a_hand_computation():
    log3 = math.log(3.0)
    student = torch.tensor([[0.0, 0.0], [log3, 0.0]], dtype=torch.float64)
    teacher = torch.tensor([[log3, 0.0], [0.0, log3]], dtype=torch.float64)
    # student p: (1/2, 1/2), (3/4, 1/4); teacher p: (3/4, 1/4), (1/4, 3/4)
    kl0 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    kl1 = 0.75 * math.log(0.75 / 0.25) + 0.25 * math.log(0.25 / 0.75)
    result = fidelity(student, teacher)
    # sample 0: student argmax of a tie is class 0 (first), teacher 0; sample 1: 0 vs 1
    assert result.agreement == 0.5
    assert result.kl == pytest.approx((kl0 + kl1) / 2, rel=1e-12)
    assert result.kl_scaled == pytest.approx(KL_SCALE * result.kl)
    assert KL_SCALE == 10.0


def test_ensemble_top1_is_the_argmax_of_the_mean_logits_not_of_the_mean_probabilities():
    a = torch.tensor([[3.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 2.8, -20.0]])
    mean_probs = (a.softmax(1) + b.softmax(1)) / 2
    assert int(mean_probs.argmax(1)) == 1 and int(((a + b) / 2).argmax(1)) == 0
    assert fidelity(torch.tensor([[1.0, 0.0, 0.0]]), [a, b]).agreement == 1.0
    assert fidelity(torch.tensor([[0.0, 1.0, 0.0]]), [a, b]).agreement == 0.0


def test_ensemble_kl_is_against_the_softmax_of_the_mean_teacher_logits():
    generator = torch.Generator().manual_seed(3)
    student = torch.randn(5, 4, generator=generator)
    teachers = [torch.randn(5, 4, generator=generator) for _ in range(3)]
    ps = student.double().softmax(1)
    pt = (sum(t.double() for t in teachers) / 3).softmax(1)
    expected = 0.0
    for i in range(5):
        expected += sum(float(ps[i, c] * math.log(ps[i, c] / pt[i, c])) for c in range(4)) / 5
    assert fidelity(student, teachers).kl == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    "student, teachers, message",
    [
        (torch.zeros(4, 10), [torch.zeros(4, 5)], "10"),
        (torch.zeros(4, 10), [torch.zeros(3, 10)], "same images"),
        (torch.zeros(0, 10), [torch.zeros(0, 10)], "no sample"),
        (torch.zeros(4), [torch.zeros(4)], "(B, C)"),
        (torch.zeros(4, 10), [], "no teacher"),
    ],
)
def test_bad_input_is_rejected(student, teachers, message):
    with pytest.raises(ValueError, match=message):
        fidelity(student, teachers)


def test_a_list_of_teachers_agrees_with_their_precomputed_mean_logits():
    """fidelity(student, [t1, t2]) equals fidelity(student, (t1 + t2) / 2), as the report
    computes it from the ensemble's mean logits."""
    generator = torch.Generator().manual_seed(4)
    student = torch.randn(9, 6, generator=generator, dtype=torch.float64)
    teachers = [torch.randn(9, 6, generator=generator, dtype=torch.float64) * 4 for _ in range(2)]
    listed = fidelity(student, teachers)
    averaged = fidelity(student, (teachers[0] + teachers[1]) / 2)
    assert listed.agreement == averaged.agreement
    assert listed.kl == pytest.approx(averaged.kl, rel=1e-12)
