"""DKD against a dense translation of mdistiller's ``mdistiller/distillers/DKD.py``:
values and gradients in float64, the warm-up by epoch, the defaults, the errors."""

import inspect

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill import EnsembleDistiller, ModuleDistiller
from graphkd.distill.presets.dkd import DKDDistiller, dkd

CLASSES = 7


def batch(size=10, seed=0, requires_grad=False, classes=CLASSES):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (size,), generator=generator)

    def logits():
        return torch.randn(size, classes, generator=generator, dtype=torch.float64) * 3

    teacher = Responses(logits(), labels=labels)
    student = Responses(logits(), labels=labels)
    if requires_grad:
        student.logits.requires_grad_(True)
    return teacher, student


# ------------------------------------------------ dense reference (mdistiller DKD.py, float64)


def reference_dkd(z_s, z_t, target, alpha=1.0, beta=8.0, temperature=4.0):
    """mdistiller's ``dkd_loss``: both probability vectors at temperature T are reduced
    to (target probability, sum of the other probabilities); TCKD is the summed KL of
    those pairs with the student's side logged directly, over the batch, times T^2.
    NCKD pushes the target logit down by 1000 before a softmax / log-softmax at T, so
    the target class carries no mass, and takes the same summed KL times T^2 / B."""
    onehot = torch.zeros_like(z_s).scatter(1, target.view(-1, 1), 1.0)
    others = 1.0 - onehot
    rows = target.shape[0]
    p_s = torch.softmax(z_s / temperature, dim=1)
    p_t = torch.softmax(z_t / temperature, dim=1)
    pair_s = torch.stack([(p_s * onehot).sum(1), (p_s * others).sum(1)], dim=1)
    pair_t = torch.stack([(p_t * onehot).sum(1), (p_t * others).sum(1)], dim=1)
    tckd = (pair_t * (pair_t.log() - pair_s.log())).sum() * temperature**2 / rows
    q_t = torch.softmax(z_t / temperature - 1000.0 * onehot, dim=1)
    log_q_s = torch.log_softmax(z_s / temperature - 1000.0 * onehot, dim=1)
    # kl_div's convention: 0 log 0 = 0 where the teacher puts no mass
    nckd = torch.where(q_t > 0, q_t * (q_t.log() - log_q_s), torch.zeros_like(q_t)).sum()
    nckd = nckd * temperature**2 / rows
    return alpha * tckd + beta * nckd, tckd, nckd


def reference_warmup(epoch_one_based, warmup_epochs=20):
    """The reference scales the DKD loss by min(epoch / warmup_epochs, 1), epochs from 1."""
    return min(epoch_one_based / warmup_epochs, 1.0)


# ------------------------------------------------------------------------------- tests


def test_defaults_are_the_reference_configs():
    """mdistiller/engine/cfg.py: CE_WEIGHT 1.0, ALPHA 1.0, BETA 8.0, T 4.0, WARMUP 20."""
    defaults = {k: p.default for k, p in inspect.signature(dkd).parameters.items()}
    assert defaults == {
        "alpha": 1.0,
        "beta": 8.0,
        "temperature": 4.0,
        "warmup_epochs": 20,
        "ce_weight": 1.0,
    }
    method = graphkd.create_method("dkd")
    assert isinstance(method, DKDDistiller)
    assert method.ce_weight == 1.0 and method.epoch == 0


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"beta": 6.0},
        {"beta": 2.0, "alpha": 0.5},
        {"temperature": 1.0, "beta": 0.5},
        {"temperature": 2.5, "alpha": 0.0},
    ],
)
def test_values_and_gradients_equal_the_reference(options):
    teacher, student = batch(requires_grad=True)
    method = dkd(warmup_epochs=0, **options).double()
    out = method(teacher, student)
    expected, tckd, nckd = reference_dkd(student.logits, teacher.logits, student.labels, **options)
    torch.testing.assert_close(out["loss"], expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out["tckd"], tckd, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out["nckd"], nckd, rtol=1e-10, atol=1e-12)
    (mine,) = torch.autograd.grad(out["loss"], student.logits)
    (theirs,) = torch.autograd.grad(expected, student.logits)
    assert torch.isfinite(mine).all() and mine.abs().sum() > 0
    torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-12)


def test_confident_logits_stay_finite_and_match():
    """Large logits: the reference's log of summed probabilities still holds; graphkd
    works in log space throughout."""
    teacher, student = batch(requires_grad=True, seed=3)
    teacher.logits.mul_(4)
    with torch.no_grad():
        student.logits.mul_(4)
    out = dkd(warmup_epochs=0).double()(teacher, student)
    expected, _, _ = reference_dkd(student.logits, teacher.logits, student.labels)
    torch.testing.assert_close(out["loss"], expected, rtol=1e-8, atol=1e-10)
    out["loss"].backward()
    assert torch.isfinite(student.logits.grad).all()


@pytest.mark.parametrize("epoch", [0, 1, 9, 18, 19, 20, 100])
def test_warmup_follows_the_reference_epoch_count(epoch):
    """graphkd's epoch e (0-based) is the reference's epoch e + 1."""
    teacher, student = batch()
    method = dkd().double()
    method.set_epoch(epoch)
    expected, _, _ = reference_dkd(student.logits, teacher.logits, student.labels)
    factor = reference_warmup(epoch + 1)
    assert method.warmup_factor() == pytest.approx(factor)
    torch.testing.assert_close(method(teacher, student)["loss"], factor * expected)


def test_a_fresh_method_trains_as_in_the_first_epoch_and_warmup_zero_disables_it():
    teacher, student = batch()
    full, _, _ = reference_dkd(student.logits, teacher.logits, student.labels)
    torch.testing.assert_close(dkd().double()(teacher, student)["loss"], full / 20)
    torch.testing.assert_close(dkd(warmup_epochs=1).double()(teacher, student)["loss"], full)
    torch.testing.assert_close(dkd(warmup_epochs=0).double()(teacher, student)["loss"], full)


def test_ensembles_and_wrapped_modules_pass_the_epoch_on():
    members = [dkd(), dkd()]
    ensemble = EnsembleDistiller(members)
    ensemble.set_epoch(7)
    assert [m.epoch for m in members] == [7, 7] and ensemble.epoch == 7

    class Plain(torch.nn.Module):
        seen = None

        def set_epoch(self, epoch):
            self.seen = epoch

        def forward(self, teacher, student):
            return {"loss": student.logits.sum() * 0}

    plain = Plain()
    wrapped = ModuleDistiller(plain)
    wrapped.set_epoch(3)
    assert plain.seen == 3 and wrapped.epoch == 3


def test_teacher_gets_no_gradient_and_identical_predictions_cost_nothing():
    teacher, student = batch()
    teacher.logits.requires_grad_(True)
    same = Responses(teacher.logits.detach().clone().requires_grad_(True), labels=student.labels)
    out = dkd(warmup_epochs=0).double()(teacher, same)
    torch.testing.assert_close(out["loss"], torch.zeros((), dtype=torch.float64))
    out["loss"].backward()
    assert teacher.logits.grad is None
    assert same.logits.grad.abs().max() < 1e-12


def test_two_classes_leave_nckd_at_zero():
    teacher, student = batch(classes=2, requires_grad=True)
    out = dkd(warmup_epochs=0).double()(teacher, student)
    expected, tckd, _ = reference_dkd(student.logits, teacher.logits, student.labels)
    torch.testing.assert_close(out["nckd"], torch.zeros((), dtype=torch.float64))
    torch.testing.assert_close(out["loss"], expected)
    out["loss"].backward()
    assert torch.isfinite(student.logits.grad).all()


def test_float32_inputs_work_with_the_default_float32_method():
    teacher, student = batch()
    teacher, student = teacher.map(lambda t: t.float()), student.map(lambda t: t.float())
    out = dkd()(teacher, student)
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])


def test_errors_name_the_problem_and_the_fix():
    teacher, student = batch()
    with pytest.raises(ValueError, match="carry no labels"):
        dkd()(Responses(teacher.logits), Responses(student.logits))
    wrong = Responses(student.logits, labels=torch.full_like(student.labels, CLASSES))
    with pytest.raises(ValueError, match=r"labels outside \[0, 7\)"):
        dkd()(teacher, wrong)
    floats = Responses(student.logits, labels=student.labels.double())
    with pytest.raises(ValueError, match="integer class indices"):
        dkd()(teacher, floats)
    one_class = Responses(torch.zeros(4, 1), labels=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 classes"):
        dkd()(one_class, one_class)
    other_classes = Responses(torch.zeros(10, CLASSES + 1), labels=student.labels)
    with pytest.raises(ValueError, match="same number of classes"):
        dkd()(teacher, other_classes)
    with pytest.raises(ValueError, match="temperature must be positive"):
        dkd(temperature=0.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        dkd(beta=-1.0)
    with pytest.raises(ValueError, match="warmup_epochs must be >= 0"):
        dkd(warmup_epochs=-1)
    nan = Responses(student.logits.clone(), labels=student.labels)
    nan.logits[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        dkd()(teacher, nan)


def test_the_trainer_announces_every_epoch_to_the_method(tmp_path, monkeypatch):
    """Through the Trainer: each epoch's batches see the epoch set by ``set_epoch``, so
    the warm-up factor of a 3-epoch run is 1/20, 2/20, 3/20 (the reference's)."""
    from graphkd.data import FashionMNIST
    from graphkd.engine import Trainer, load_config

    if FashionMNIST.find_files(None, train=True) is None:
        pytest.skip("Fashion-MNIST is not installed")
    tiny = [
        f"run.output={tmp_path}",
        "run.device=cpu",
        "data.subset=32",
        "data.test_subset=32",
        "data.batch_size=16",
        "data.test_batch_size=32",
        "data.limit_batches=1",
        "model.teacher=resnet8",
        "model.student=resnet8",
        "optim.milestones=[1]",
    ]
    Trainer(log=lambda line: None).train_teacher(
        load_config("fashion_mnist", [*tiny, "optim.epochs=1"])
    )
    seen = []
    forward = DKDDistiller.forward

    def recording(self, teacher, student):
        seen.append((self.epoch, self.warmup_factor()))
        return forward(self, teacher, student)

    monkeypatch.setattr(DKDDistiller, "forward", recording)
    config = load_config("fashion_mnist", [*tiny, "optim.epochs=3", "method.name=dkd"])
    Trainer(log=lambda line: None).distill(config)
    assert seen == [(e, pytest.approx(reference_warmup(e + 1))) for e in range(3)]
