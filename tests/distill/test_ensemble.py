"""EnsembleDistiller and ensemble_kd against dense per-teacher references."""

import pytest
import torch
import torch.nn.functional as F

import graphkd
from graphkd import Responses
from graphkd.distill.ensemble import EnsembleDistiller, average_responses, ensemble_kd

from .references import kd as kd_reference
from .references import rkd as rkd_reference


def make(batch=8, classes=6, dim=5, teachers=3, seed=0, grad=False):
    generator = torch.Generator().manual_seed(seed)

    def responses(d):
        return Responses(
            logits=torch.randn(batch, classes, generator=generator, dtype=torch.float64) * 2,
            embedding=torch.randn(batch, d, generator=generator, dtype=torch.float64),
        )

    teacher_list = [responses(dim) for _ in range(teachers)]
    student = responses(dim)
    if grad:
        student.logits.requires_grad_(True)
        student.embedding.requires_grad_(True)
    return teacher_list, student


@pytest.mark.parametrize("method, reference", [("kd", kd_reference), ("rkd", rkd_reference)])
def test_per_teacher_loss_is_the_mean_of_per_teacher_losses(method, reference):
    teachers, student = make()
    out = EnsembleDistiller(graphkd.create_method(method))(teachers, student)
    losses = [reference(t, student) for t in teachers]
    torch.testing.assert_close(out["loss"], sum(losses) / len(losses))
    for k, value in enumerate(losses):
        torch.testing.assert_close(out[f"teacher{k}"], value)


def test_each_teacher_may_have_its_own_distiller():
    teachers, student = make(teachers=2)
    distillers = [graphkd.create_method("kd", temperature=t) for t in (2.0, 5.0)]
    out = EnsembleDistiller(distillers)(teachers, student)
    expected = (
        kd_reference(teachers[0], student, tau=2.0) + kd_reference(teachers[1], student, tau=5.0)
    ) / 2
    torch.testing.assert_close(out["loss"], expected)
    assert len(EnsembleDistiller(distillers).distillers) == 2


def test_average_logits_mode_is_one_loss_on_the_mean_teacher():
    teachers, student = make()
    mean = Responses(
        logits=sum(t.logits for t in teachers) / 3, embedding=sum(t.embedding for t in teachers) / 3
    )
    out = EnsembleDistiller(graphkd.create_method("rkd"), mode="average_logits")(teachers, student)
    torch.testing.assert_close(out["loss"], rkd_reference(mean, student))
    assert not any(key.startswith("teacher") for key in out)


def test_average_responses_averages_shared_features_and_views():
    a = Responses(torch.zeros(2, 3), features={"f": torch.zeros(2, 4), "g": torch.zeros(2, 1)})
    b = Responses(torch.ones(2, 3), features={"f": torch.ones(2, 4), "g": torch.ones(2, 2)})
    a.virtual, b.virtual = Responses(torch.ones(2, 3)), Responses(torch.full((2, 3), 3.0))
    mean = average_responses([a, b])
    assert torch.equal(mean.features["f"], torch.full((2, 4), 0.5)) and "g" not in mean.features
    assert torch.equal(mean.virtual.logits, torch.full((2, 3), 2.0))
    assert mean.embedding is None


def test_reference_ensemble_kd_equals_per_teacher_ce_plus_kd_averaged():
    teachers, student = make(seed=4)
    labels = torch.arange(8) % 6
    ensemble = ensemble_kd()
    out = ensemble(teachers, student)
    total = ensemble.ce_weight * F.cross_entropy(student.logits, labels) + out["loss"]
    per_teacher = []
    for t in teachers:
        kl = F.kl_div(
            F.log_softmax(student.logits / 3, 1), F.softmax(t.logits / 3, 1), reduction="batchmean"
        )
        per_teacher.append(0.6 * F.cross_entropy(student.logits, labels) + 0.4 * 9 * kl)
    torch.testing.assert_close(total, sum(per_teacher) / 3)
    assert ensemble.ce_weight == 0.6 and ensemble.mode == "per_teacher"


@pytest.mark.parametrize("mode", ["per_teacher", "average_logits"])
def test_every_student_tensor_gets_a_finite_gradient(mode):
    teachers, student = make(grad=True)
    out = EnsembleDistiller(graphkd.create_method("rkd"), mode=mode)(teachers, student)
    out["loss"].backward()
    assert torch.isfinite(student.embedding.grad).all() and student.embedding.grad.abs().sum() > 0


def test_ce_weight_comes_from_the_distillers_or_the_caller():
    assert EnsembleDistiller(graphkd.create_method("kd")).ce_weight == 0.1
    mixed = [graphkd.create_method("kd"), graphkd.create_method("rkd")]
    with pytest.raises(ValueError, match="ce_weight"):
        EnsembleDistiller(mixed)
    assert EnsembleDistiller(mixed, ce_weight=0.5).ce_weight == 0.5


def test_reset_parameters_resets_the_wrapped_distillers():
    calls = []

    class Resettable(torch.nn.Module):
        ce_weight = 1.0

        def reset_parameters(self):
            calls.append(self)

    members = [Resettable(), Resettable()]
    ensemble = EnsembleDistiller(members)
    ensemble.reset_parameters()
    assert calls == members  # plain modules are adapted once; their own hook still runs


def test_bad_input_is_rejected():
    teachers, student = make()
    kd = graphkd.create_method("kd")
    with pytest.raises(ValueError, match="no teacher"):
        EnsembleDistiller(kd)([], student)
    other = Responses(torch.randn(8, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="teacher 1 predicts 4 classes but the student 6"):
        EnsembleDistiller(kd)([teachers[0], other], student)
    with pytest.raises(ValueError, match="one distiller per teacher"):
        EnsembleDistiller([kd, graphkd.create_method("kd")])(teachers, student)
    with pytest.raises(ValueError, match="one distiller"):
        EnsembleDistiller([kd, kd], mode="average_logits")
    with pytest.raises(ValueError, match="unknown ensemble mode"):
        EnsembleDistiller(kd, mode="vote")
    with pytest.raises(ValueError, match="no distiller"):
        EnsembleDistiller([])
    wide = Responses(teachers[0].logits, embedding=torch.randn(8, 9, dtype=torch.float64))
    with pytest.raises(ValueError, match="per_teacher"):
        EnsembleDistiller(graphkd.create_method("rkd"), mode="average_logits")(
            [teachers[0], wide], student
        )
