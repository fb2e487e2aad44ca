"""CTKD against a dense translation of zhengli97/CTKD: ``models/temp_global.py``
(``Global_T`` and its gradient reversal), ``distiller_zoo/KD.py`` (``DistillKL``), the
temperature and loss lines of ``helper/loops.py`` and ``CosineDecay`` of
``train_student.py``. Values and gradients in float64, the curriculum, the defaults."""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F

import graphkd
from graphkd import Responses
from graphkd.distill import EnsembleDistiller
from graphkd.distill.presets.ctkd import (
    CTKDDistiller,
    LearnableTemperature,
    LearnedTemperatureKD,
    cosine_curriculum,
    ctkd,
    reverse_gradient,
)


def batch(size=8, classes=6, seed=0, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)

    def logits():
        return torch.randn(size, classes, generator=generator, dtype=torch.float64) * 3

    teacher, student = Responses(logits()), Responses(logits())
    if requires_grad:
        student.logits.requires_grad_(True)
    return teacher, student


# ----------------------------------------------------- dense reference (CTKD, float64)


def reference_decay(epoch_one_based, loops=10, max_value=0.0, min_value=-1.0):
    """train_student.py's CosineDecay.get_value: the epoch clipped to [0, loops], a half
    cosine from max_value down to min_value (the script's --decay_max 0 --decay_min -1)."""
    i = min(max(epoch_one_based, 0), loops)
    return (math.cos(i * math.pi / loops) + 1.0) * 0.5 * (max_value - min_value) + min_value


class ReferenceReversal(torch.autograd.Function):
    """temp_global.py's GradientReversalFunction: identity forward, the incoming
    gradient multiplied by lambda_ (the negative decay value) on the way back."""

    @staticmethod
    def forward(ctx, x, lambda_):
        ctx.lambda_ = lambda_
        return x.clone()

    @staticmethod
    def backward(ctx, grads):
        return ctx.lambda_ * grads, None


def reference_loss(z_s, z_t, raw, lambda_, t_start=1.0, t_end=20.0, alpha=0.9):
    """loops.py: temp = t_start + t_end * sigmoid(Global_T(lambda_)); DistillKL:
    KLDivLoss(batchmean)(log_softmax(s / T), softmax(t / T)) * T * T; the KD part of the
    loss is alpha times that (gamma * CE is added apart)."""
    temp = t_start + t_end * torch.sigmoid(ReferenceReversal.apply(raw, lambda_))
    kd = F.kl_div(
        F.log_softmax(z_s / temp, dim=1), F.softmax(z_t / temp, dim=1), reduction="batchmean"
    )
    return alpha * kd * temp * temp, temp


# ------------------------------------------------------------------------------- tests


def test_defaults_are_the_references():
    """scripts/run_cifar_distill.sh: -r 0.1 -a 0.9, --t_start 1 --t_end 20,
    --cosine_decay 1 --decay_max 0 --decay_min -1 --decay_loops 10; Global_T starts at 1."""
    defaults = {k: p.default for k, p in inspect.signature(ctkd).parameters.items()}
    assert defaults == {
        "weight": 0.9,
        "ce_weight": 0.1,
        "min_temperature": 1.0,
        "temperature_range": 20.0,
        "init": 1.0,
        "curriculum_epochs": 10,
        "max_strength": 1.0,
    }
    method = graphkd.create_method("ctkd")
    assert isinstance(method, CTKDDistiller) and method.ce_weight == 0.1
    assert [p.shape for p in method.parameters()] == [torch.Size([1])]
    assert method.temperature.strength == pytest.approx(-reference_decay(1))
    torch.testing.assert_close(float(method.temperature().detach()), 1 + 20 / (1 + math.exp(-1)))


@pytest.mark.parametrize("epoch", [0, 1, 4, 8, 9, 10, 239])
def test_curriculum_is_the_references_cosine_decay(epoch):
    """graphkd's 0-based epoch e is the reference's epoch e + 1; the strength is minus
    the decay value."""
    assert cosine_curriculum(epoch, 10) == pytest.approx(-reference_decay(epoch + 1))
    assert cosine_curriculum(epoch, 5, 0.5) == pytest.approx(
        -reference_decay(epoch + 1, loops=5, min_value=-0.5)
    )
    assert cosine_curriculum(epoch, 0) == 1.0


@pytest.mark.parametrize("epoch", [0, 3, 9, 20])
@pytest.mark.parametrize("raw", [1.0, -2.5])
def test_values_and_gradients_equal_the_reference(epoch, raw):
    teacher, student = batch(requires_grad=True)
    method = ctkd().double()
    with torch.no_grad():
        method.temperature.raw.fill_(raw)
    method.set_epoch(epoch)
    out = method(teacher, student)

    theirs_raw = torch.full((1,), raw, dtype=torch.float64, requires_grad=True)
    z_s = student.logits.detach().clone().requires_grad_(True)
    expected, temp = reference_loss(z_s, teacher.logits, theirs_raw, reference_decay(epoch + 1))
    torch.testing.assert_close(out["loss"], expected[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out["kd"], expected[0] / 0.9, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out["temperature"], temp.detach()[0])

    out["loss"].backward()
    expected.sum().backward()
    torch.testing.assert_close(student.logits.grad, z_s.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(method.temperature.raw.grad, theirs_raw.grad, rtol=1e-9, atol=1e-14)
    assert torch.isfinite(method.temperature.raw.grad).all()


def test_the_temperature_ascends_the_kd_loss():
    """One SGD step on the reversed gradient raises the KD loss through the temperature
    alone (the student held fixed)."""
    teacher, student = batch()
    method = ctkd(curriculum_epochs=0, init=-1.0).double()
    assert method.temperature.strength == 1.0
    optimiser = torch.optim.SGD(method.parameters(), lr=50.0)
    before = method(teacher, student)["kd"]
    before.backward()
    optimiser.step()
    after = method(teacher, student)["kd"]
    assert float(after.detach()) > float(before.detach()) + 1e-6


def test_reversal_layer_and_metric_alone():
    x = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    y = reverse_gradient(x, 0.25)
    torch.testing.assert_close(y, x.detach())
    (y * torch.tensor([2.0, 4.0], dtype=torch.float64)).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-0.5, -1.0], dtype=torch.float64))

    class Fixed(torch.nn.Module):
        def forward(self):
            return torch.tensor(3.0, dtype=torch.float64)

    s, t = batch()[1].logits, batch()[0].logits
    expected = F.kl_div(F.log_softmax(s / 3, 1), F.softmax(t / 3, 1), reduction="batchmean") * 9
    torch.testing.assert_close(LearnedTemperatureKD(Fixed())(s, t), expected)


def test_set_epoch_reaches_the_temperature_through_ensembles():
    members = [ctkd(), ctkd()]
    EnsembleDistiller(members).set_epoch(4)
    assert [m.temperature.strength for m in members] == [pytest.approx(-reference_decay(5))] * 2


def test_reset_and_float32_and_bounds():
    method = ctkd()
    with torch.no_grad():
        method.temperature.raw.fill_(50.0)
    assert float(method.temperature().detach()) <= 21.0
    method.reset_parameters()
    assert float(method.temperature.raw.detach()) == 1.0
    teacher, student = batch()
    out = method(teacher.map(lambda t: t.float()), student.map(lambda t: t.float()))
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])


def test_errors_name_the_problem_and_the_fix():
    teacher, student = batch()
    with pytest.raises(ValueError, match="float32 parameters but got torch.float64"):
        ctkd()(teacher, student)
    with pytest.raises(ValueError, match="span must be positive"):
        ctkd(temperature_range=0.0)
    with pytest.raises(ValueError, match="minimum must be positive"):
        ctkd(min_temperature=-1.0)
    with pytest.raises(ValueError, match="curriculum_epochs and max_strength must be >= 0"):
        ctkd(curriculum_epochs=-1)
    other = Responses(torch.zeros(8, 7, dtype=torch.float64))
    with pytest.raises(ValueError, match="same number of classes"):
        ctkd().double()(teacher, other)
    nan = Responses(student.logits.clone())
    nan.logits[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        ctkd().double()(teacher, nan)


def test_a_learnable_temperature_is_reusable_on_its_own():
    module = LearnableTemperature(minimum=2.0, span=4.0, init=0.0, curriculum_epochs=2)
    assert float(module().detach()) == pytest.approx(4.0)
    assert module.strength == pytest.approx(0.5)  # a fresh module is at the first epoch
    module.set_epoch(0)
    assert module.strength == pytest.approx(0.5)
    module.set_epoch(1)
    assert module.strength == pytest.approx(1.0)


def test_the_distillers_temperature_options_build_its_module():
    method = CTKDDistiller(
        min_temperature=2.0, temperature_range=4.0, init=0.0, curriculum_epochs=2, max_strength=0.5
    )
    module = method.temperature
    assert isinstance(module, LearnableTemperature)
    assert (module.minimum, module.span, module.init) == (2.0, 4.0, 0.0)
    assert (module.curriculum_epochs, module.max_strength) == (2, 0.5)
    assert float(module().detach()) == pytest.approx(4.0)
    assert module.strength == pytest.approx(0.25)
    assert list(inspect.signature(ctkd).parameters) == list(
        inspect.signature(CTKDDistiller).parameters
    )


def test_the_temperature_trains_with_the_student_through_the_trainer(tmp_path, monkeypatch):
    """Through the Trainer: each epoch's strength is the reference's, the temperature's
    parameter moves with the student's optimiser and its value is logged per epoch."""
    import csv

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
        "optim.milestones=[3]",
    ]
    Trainer(log=lambda line: None).train_teacher(
        load_config("fashion_mnist", [*tiny, "optim.epochs=1"])
    )
    seen = []
    forward = CTKDDistiller.forward

    def recording(self, teacher, student):
        seen.append((self.temperature.strength, float(self.temperature.raw.detach())))
        return forward(self, teacher, student)

    monkeypatch.setattr(CTKDDistiller, "forward", recording)
    overrides = [*tiny, "optim.epochs=3", "method.name=ctkd", "method.options.curriculum_epochs=2"]
    result = Trainer(log=lambda line: None).distill(load_config("fashion_mnist", overrides))
    strengths = [strength for strength, _ in seen]
    expected = [-reference_decay(e + 1, loops=2) for e in range(3)]
    assert strengths == pytest.approx(expected)
    assert seen[0][1] == 1.0 and seen[1][1] != 1.0 and seen[2][1] != seen[1][1]
    with open(result.output / "metrics.csv") as rows:
        logged = [float(row["train_temperature"]) for row in csv.DictReader(rows)]
    assert len(logged) == 3 and all(1.0 < value < 21.0 for value in logged)
