"""MLKD against a dense translation of the reference, its graphs, options and errors.

The reference is Jin-Ying/Multi-Level-Logit-Distillation ``mdistiller/distillers/KD_ours.py``
(``KD_ours.forward_train`` with ``kd_loss``, ``cc_loss`` and ``bc_loss``), its defaults in
``mdistiller/engine/cfg.py`` (``KD.TEMPERATURE`` 4, ``KD.LOSS.CE_WEIGHT`` 0.1,
``KD.LOSS.KD_WEIGHT`` 0.9) and ``mdistiller/dataset/cifar100.py`` (weak view: crop and
flip; strong view: crop, flip and its RandAugment(2, 10) with Cutout). The reference's
returned losses are ``loss_ce``, ``loss_kd`` (weak + strong), ``loss_cc`` (weak) and
``loss_bc`` (weak); its strong-view class and batch sums are computed but not returned,
so they do not train.
"""

import inspect

import numpy as np
import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill.presets.mlkd import (
    MLKDDistiller,
    MultiLevelGraphs,
    confidence_factors,
)

BATCH, CLASSES = 9, 7


def views(seed, requires_grad=False, batch=BATCH):
    generator = torch.Generator().manual_seed(seed)

    def logits():
        return torch.randn(batch, CLASSES, generator=generator, dtype=torch.float64) * 3

    weak, strong = logits(), logits()
    if requires_grad:
        weak.requires_grad_(True)
        strong.requires_grad_(True)
    return Responses(weak, virtual=Responses(strong))


# ------------------------------------------------- dense translation of the reference


def hinton(student, teacher, temperature):
    """kd_loss: KL summed over classes, batch mean, times T^2."""
    log_s = torch.log_softmax(student / temperature, 1)
    p_t = torch.softmax(teacher / temperature, 1)
    return (p_t * (torch.log(p_t) - log_s)).sum(1).mean() * temperature**2


def class_correlation(student, teacher, temperature):
    """cc_loss: C x C matrices P^T P, squared difference summed, over C."""
    p_s = torch.softmax(student / temperature, 1)
    p_t = torch.softmax(teacher / temperature, 1)
    return ((p_t.t() @ p_t - p_s.t() @ p_s) ** 2).sum() / student.shape[1]


def batch_correlation(student, teacher, temperature):
    """bc_loss: B x B matrices P P^T, squared difference summed, over B."""
    p_s = torch.softmax(student / temperature, 1)
    p_t = torch.softmax(teacher / temperature, 1)
    return ((p_t @ p_t.t() - p_s @ p_s.t()) ** 2).sum() / student.shape[0]


def reference(teacher, student, base=4.0, kd_weight=0.9):
    """forward_train's returned losses other than CE: loss_kd + loss_cc + loss_bc."""
    t_weak, t_strong = teacher.logits, teacher.virtual.logits
    s_weak, s_strong = student.logits, student.virtual.logits
    probabilities = torch.softmax(t_weak.detach(), 1).numpy()
    confidence = probabilities.max(1)
    mask = torch.from_numpy(confidence <= np.percentile(confidence, 50))
    class_confidence = probabilities.sum(0)
    class_mask = torch.from_numpy(class_confidence <= np.percentile(class_confidence, 50))
    temps = [base, 3.0, 5.0, 2.0, 6.0]
    # a scalar times a bool mask, then the mean: the scalar times the mask's fraction
    kd_weak = sum(kd_weight * (hinton(s_weak, t_weak, t) * mask).mean() for t in temps)
    kd_strong = sum(kd_weight * hinton(s_strong, t_strong, t) for t in temps[:3]) + sum(
        kd_weight * hinton(s_weak, t_weak, t) for t in temps[3:]
    )
    cc_weak = sum(
        kd_weight * (class_correlation(s_weak, t_weak, t) * class_mask).mean() for t in temps
    )
    bc_weak = sum(kd_weight * (batch_correlation(s_weak, t_weak, t) * mask).mean() for t in temps)
    return kd_weak + kd_strong, cc_weak, bc_weak


# ------------------------------------------------------------------------------ tests


def test_defaults_are_the_references():
    parameters = inspect.signature(graphkd.distill.presets.mlkd.mlkd).parameters
    defaults = {name: p.default for name, p in parameters.items()}
    assert tuple(defaults["temperatures"]) == (4.0, 3.0, 5.0, 2.0, 6.0)
    assert tuple(defaults["strong_temperatures"]) == (4.0, 3.0, 5.0)
    assert defaults["weight"] == 0.9 and defaults["ce_weight"] == 0.1
    assert defaults["masking"] is True
    method = graphkd.create_method("mlkd")
    assert method.needs_virtual_view and method.ce_on_virtual_view  # CE on both views
    assert method.ce_weight == 0.1 and not method.needs_index


@pytest.mark.parametrize("batch", [BATCH, 8])  # odd and even: the median's interpolation
def test_loss_and_gradients_equal_the_reference(batch):
    d = MLKDDistiller()
    teacher, student = views(0, batch=batch), views(1, requires_grad=True, batch=batch)
    out = d(teacher, student)
    assert sorted(out) == ["batch", "class", "instance", "loss"]
    inputs = [student.logits, student.virtual.logits]
    got = torch.autograd.grad(out["loss"], inputs)
    kd, cc, bc = reference(teacher, student)
    torch.testing.assert_close(0.9 * out["instance"], kd)
    torch.testing.assert_close(0.9 * out["class"], cc)
    torch.testing.assert_close(0.9 * out["batch"], bc)
    total = kd + cc + bc
    torch.testing.assert_close(out["loss"], total)
    want = torch.autograd.grad(total, inputs)
    for g, w in zip(got, want):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, w)


def test_imagenet_setting_base_temperature_one():
    d = MLKDDistiller(
        temperatures=(1.0, 3.0, 5.0, 2.0, 6.0),
        strong_temperatures=(1.0, 3.0, 5.0),
        weight=0.5,
        ce_weight=0.5,
    )
    teacher, student = views(2), views(3)
    kd, cc, bc = reference(teacher, student, base=1.0, kd_weight=0.5)
    torch.testing.assert_close(d(teacher, student)["loss"], kd + cc + bc)


def test_options_without_masking_and_with_every_strong_temperature():
    teacher, student = views(4), views(5)
    temps = (4.0, 3.0, 5.0, 2.0, 6.0)
    out = MLKDDistiller(strong_temperatures=temps, masking=False)(teacher, student)
    s, t = student, teacher
    instance = sum(
        hinton(s.logits, t.logits, x) + hinton(s.virtual.logits, t.virtual.logits, x) for x in temps
    )
    torch.testing.assert_close(out["instance"], instance)
    torch.testing.assert_close(
        out["class"], sum(class_correlation(s.logits, t.logits, x) for x in temps)
    )
    torch.testing.assert_close(
        out["batch"], sum(batch_correlation(s.logits, t.logits, x) for x in temps)
    )


def test_confidence_factors_follow_numpy_percentile():
    teacher = views(6).logits
    batch, classes = confidence_factors(teacher)
    p = torch.softmax(teacher, 1).numpy()
    assert float(batch) == pytest.approx(np.mean(p.max(1) <= np.percentile(p.max(1), 50)))
    assert float(classes) == pytest.approx(np.mean(p.sum(0) <= np.percentile(p.sum(0), 50)))


def test_graphs_hold_the_gram_matrices_of_each_temperature():
    student = views(7)
    graphs = MultiLevelGraphs((4.0, 2.0))(student)
    assert graphs["instance"].num_edges == 0
    for column, tau in enumerate((4.0, 2.0)):
        p = torch.softmax(student.logits / tau, 1)
        batch = graphs["batch"].edata["affinity"][:, column].reshape(BATCH, BATCH)
        torch.testing.assert_close(batch, p @ p.t())
        classes = graphs["class"].edata["affinity"][:, column].reshape(CLASSES, CLASSES)
        torch.testing.assert_close(classes, p.t() @ p)


def test_teacher_gets_no_gradient():
    teacher, student = views(8, requires_grad=True), views(9, requires_grad=True)
    MLKDDistiller()(teacher, student)["loss"].backward()
    assert teacher.logits.grad is None and teacher.virtual.logits.grad is None
    assert torch.isfinite(student.logits.grad).all()
    assert torch.isfinite(student.virtual.logits.grad).all()


def test_errors_name_the_fix():
    d = MLKDDistiller()
    with pytest.raises(ValueError, match="no virtual view"):
        d(Responses(torch.randn(4, 5)), Responses(torch.randn(4, 5)))
    with pytest.raises(ValueError, match="equal shape for both views"):
        d(views(0), Responses(torch.randn(BATCH, CLASSES), virtual=Responses(torch.randn(3, 2))))
    with pytest.raises(ValueError, match="same classes"):
        d(views(0), Responses(torch.randn(BATCH, 3), virtual=Responses(torch.randn(BATCH, 3))))
    with pytest.raises(ValueError, match="not among the temperatures"):
        MLKDDistiller(strong_temperatures=(7.0,))
    with pytest.raises(ValueError, match="temperatures must be positive"):
        MLKDDistiller(temperatures=(4.0, 0.0), strong_temperatures=())
    with pytest.raises(ValueError, match="at least one temperature"):
        MLKDDistiller(temperatures=(), strong_temperatures=())
    nan = views(1)
    nan.logits[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        d(views(0), nan)
