"""CRD: the NCE loss and memory banks against a dense translation of the reference, errors.

The reference is RepDistiller (HobbitLong/RepDistiller): ``crd/criterion.py`` (the
linear + L2 embeddings, ``ContrastLoss``), ``crd/memory.py`` (``ContrastMemory``: two
banks, the scores ``exp(<row, v> / T)``, ``Z`` fixed from the first batch, the momentum
update) and ``dataset/cifar100.py`` (``CIFAR100InstanceSample``, mode ``"exact"``: the
sample itself as the positive, K other-class samples without replacement as negatives);
``train_student.py`` for the defaults. mdistiller ``mdistiller/distillers/CRD.py`` and
``mdistiller/engine/cfg.py`` agree on every default.
"""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F

import graphkd
from graphkd import Responses
from graphkd.distill.presets.crd import CRDDistiller, NoiseContrast

NUM_SAMPLES, CLASSES, TEACHER_DIM, STUDENT_DIM, EMBED, K = 60, 6, 12, 8, 5, 9


def labels():
    return torch.arange(NUM_SAMPLES) % CLASSES


def distiller(**options):
    torch.manual_seed(0)
    options = {"embed_dim": EMBED, "nce_k": K, **options}
    return CRDDistiller(
        teacher_dim=TEACHER_DIM, student_dim=STUDENT_DIM, labels=labels(), **options
    ).double()


def batch(size=10, seed=0):
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(NUM_SAMPLES, generator=generator)[:size]

    def make(dim):
        return Responses(
            logits=torch.randn(size, CLASSES, generator=generator, dtype=torch.float64) * 2,
            embedding=torch.randn(size, dim, generator=generator, dtype=torch.float64),
            index=index,
            labels=labels()[index],
        )

    teacher, student = make(TEACHER_DIM), make(STUDENT_DIM)
    student.logits.requires_grad_(True)
    student.embedding.requires_grad_(True)
    return teacher, student


def other_class_negatives(index, seed=1):
    """(B, K) like the 'exact' mode: K distinct samples of other classes per anchor."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for i in index.tolist():
        pool = [j for j in range(NUM_SAMPLES) if labels()[j] != labels()[i]]
        pick = torch.randperm(len(pool), generator=generator)[:K]
        rows.append([pool[p] for p in pick.tolist()])
    return torch.tensor(rows)


# ------------------------------------------------- dense translation of the reference


class DenseCRD:
    """The reference's CRD step written out: its own copies of the banks and of Z."""

    def __init__(self, d, temperature=0.07, momentum=0.5):
        self.memory_student = d.bank_s.memory.clone()  # the reference's memory_v1
        self.memory_teacher = d.bank_t.memory.clone()  # memory_v2
        self.z_student = None
        self.z_teacher = None
        self.temperature, self.momentum = temperature, momentum

    @staticmethod
    def embed(head, features):
        linear = head.embed.linear
        out = features @ linear.weight.t() + linear.bias
        return out / out.pow(2).sum(1, keepdim=True).sqrt()

    def contrast_loss(self, likelihood):
        """ContrastLoss on (B, K + 1) likelihoods, positive first."""
        count = likelihood.shape[1] - 1
        noise = count / NUM_SAMPLES
        positive = torch.log(likelihood[:, 0] / (likelihood[:, 0] + noise + 1e-7))
        negative = torch.log(noise / (likelihood[:, 1:] + noise + 1e-7))
        return -(positive.sum() + negative.sum()) / likelihood.shape[0]

    def step(self, d, teacher, student, negatives):
        v1 = self.embed(d.student_builder, student.embedding)
        v2 = self.embed(d.teacher_builder, teacher.embedding.detach())
        y = student.index
        idx = torch.cat([y[:, None], negatives], 1)
        # teacher anchors against the student's bank, student anchors against the teacher's
        out_v2 = torch.exp(
            torch.einsum("bkd,bd->bk", self.memory_student[idx], v2) / self.temperature
        )
        out_v1 = torch.exp(
            torch.einsum("bkd,bd->bk", self.memory_teacher[idx], v1) / self.temperature
        )
        if self.z_student is None:
            self.z_student = float(out_v1.detach().mean()) * NUM_SAMPLES
        if self.z_teacher is None:
            self.z_teacher = float(out_v2.detach().mean()) * NUM_SAMPLES
        s_loss = self.contrast_loss(out_v1 / self.z_student)
        t_loss = self.contrast_loss(out_v2 / self.z_teacher)
        with torch.no_grad():
            for memory, v in ((self.memory_student, v1), (self.memory_teacher, v2)):
                mixed = memory[y] * self.momentum + v * (1 - self.momentum)
                memory[y] = mixed / mixed.pow(2).sum(1, keepdim=True).sqrt()
        return s_loss, t_loss


def grads(loss, d, student):
    params = [student.embedding, *d.parameters()]
    return torch.autograd.grad(loss, params, allow_unused=True)


# ------------------------------------------------------------------------------ tests


def test_defaults_are_the_references():
    parameters = inspect.signature(graphkd.distill.presets.crd.crd).parameters
    defaults = {name: p.default for name, p in parameters.items()}
    assert defaults["weight"] == 0.8  # train_student.py -b 0.8 (CE -r 1, KD -a 0)
    assert defaults["embed_dim"] == 128  # feat_dim
    assert defaults["nce_k"] == 16384
    assert defaults["temperature"] == 0.07  # nce_t
    assert defaults["momentum"] == 0.5  # nce_m
    assert defaults["kd_weight"] == 0.0
    assert defaults["replacement"] is False  # 'exact': np.random.choice(..., replace=False)
    method = graphkd.create_method(
        "crd", teacher_dim=TEACHER_DIM, student_dim=STUDENT_DIM, labels=labels()
    )
    assert method.ce_weight == 1.0 and method.needs_index
    assert method.bank_s.memory.shape == (NUM_SAMPLES, 128)
    assert method.bank_s.momentum == 0.5 and method.sampler.num_negatives == 16384
    bound = 1 / math.sqrt(128 / 3)  # ContrastMemory's stdv
    assert float(method.bank_t.memory.abs().max()) <= bound


def test_three_steps_equal_the_reference_values_gradients_and_banks():
    d = distiller()
    reference = DenseCRD(d)
    for step in range(3):
        teacher, student = batch(seed=step)
        negatives = other_class_negatives(student.index, seed=10 + step)
        out = d(teacher, student, negatives=negatives)
        assert sorted(out) == ["loss", "student_anchor", "teacher_anchor"]
        got = grads(out["loss"], d, student)
        teacher, student = batch(seed=step)
        s_loss, t_loss = reference.step(d, teacher, student, negatives)
        total = 0.8 * (s_loss + t_loss)
        torch.testing.assert_close(out["student_anchor"], s_loss)
        torch.testing.assert_close(out["teacher_anchor"], t_loss)
        torch.testing.assert_close(out["loss"], total)
        want = grads(total, d, student)
        for g, w in zip(got, want):
            assert g is not None and w is not None
            assert torch.isfinite(g).all()
            torch.testing.assert_close(g, w)
        d.after_step(teacher, student)
        torch.testing.assert_close(d.bank_s.memory, reference.memory_student)
        torch.testing.assert_close(d.bank_t.memory, reference.memory_teacher)
    # Z was fixed by the first batch, one constant per direction
    assert float(d.metrics["student_anchor"].normaliser) == pytest.approx(reference.z_student)
    assert float(d.metrics["teacher_anchor"].normaliser) == pytest.approx(reference.z_teacher)


def test_every_parameter_gets_a_finite_gradient_and_the_teacher_none():
    d = distiller()
    teacher, student = batch()
    teacher.embedding.requires_grad_(True)
    d(teacher, student)["loss"].backward()
    for name, p in d.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert teacher.embedding.grad is None


def test_with_kd_adds_the_hinton_term():
    d = distiller(kd_weight=1.0)
    teacher, student = batch()
    negatives = other_class_negatives(student.index)
    out = d(teacher, student, negatives=negatives)
    kd = F.kl_div(
        F.log_softmax(student.logits / 4, 1),
        F.softmax(teacher.logits / 4, 1),
        reduction="batchmean",
    )
    torch.testing.assert_close(out["kd"], 16 * kd)
    torch.testing.assert_close(
        out["loss"], 0.8 * (out["student_anchor"] + out["teacher_anchor"]) + out["kd"]
    )


def test_sampled_negatives_are_other_class_and_distinct():
    d = distiller()
    teacher, student = batch()
    out = d(teacher, student)
    assert torch.isfinite(out["loss"])
    negatives = d.sampler(student.index)
    assert negatives.shape == (10, K)
    assert (labels()[negatives] != labels()[student.index][:, None]).all()
    assert all(len(set(row)) == K for row in negatives.tolist())


def test_noise_contrast_metric_dense_form_and_stable_tail():
    metric = NoiseContrast(num_samples=50, temperature=0.5).double()
    generator = torch.Generator().manual_seed(3)
    a = F.normalize(torch.randn(4, 6, generator=generator, dtype=torch.float64), dim=1)
    p = F.normalize(torch.randn(4, 6, generator=generator, dtype=torch.float64), dim=1)
    n = F.normalize(torch.randn(4, 7, 6, generator=generator, dtype=torch.float64), dim=2)
    a.requires_grad_(True)
    loss = metric(a, p, negatives=n)
    scores = torch.cat([(a * p).sum(1, keepdim=True), (n @ a[:, :, None])[..., 0]], 1)
    likelihood = torch.exp(scores / 0.5)
    likelihood = likelihood / (float(likelihood.detach().mean()) * 50)
    noise = 7 / 50
    want = (
        -(
            torch.log(likelihood[:, 0] / (likelihood[:, 0] + noise + 1e-7)).sum()
            + torch.log(noise / (likelihood[:, 1:] + noise + 1e-7)).sum()
        )
        / 4
    )
    torch.testing.assert_close(loss, want)
    torch.testing.assert_close(torch.autograd.grad(loss, a)[0], torch.autograd.grad(want, a)[0])
    # a vanishing likelihood (float32 underflow in the reference's form) stays finite
    far = torch.tensor([[-1.0, 1.0, 1.0]], requires_grad=True)
    tiny = NoiseContrast(num_samples=50, temperature=0.001)
    tiny.normaliser.fill_(1.0)
    value = tiny.from_scores(far * 1.0)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(far.grad).all()


def test_z_is_saved_and_reset():
    d = distiller()
    teacher, student = batch()
    d(teacher, student)
    state = d.state_dict()
    assert float(state["metrics.student_anchor.normaliser"]) > 0
    fresh = distiller()
    fresh.load_state_dict(state)
    assert float(fresh.metrics["teacher_anchor"].normaliser) == float(
        state["metrics.teacher_anchor.normaliser"]
    )
    fresh.reset_parameters()
    assert float(fresh.metrics["student_anchor"].normaliser) == -1.0


def test_errors_name_the_fix():
    d = distiller()
    teacher, student = batch()
    with pytest.raises(ValueError, match="carry no index"):
        d(
            Responses(teacher.logits, embedding=teacher.embedding),
            Responses(student.logits, embedding=student.embedding),
        )
    bad = Responses(student.logits, embedding=student.embedding, index=student.index + 100)
    with pytest.raises(ValueError, match="outside the memory bank of 60 samples"):
        d(teacher, bad)
    with pytest.raises(ValueError, match="negatives must be"):
        d(teacher, student, negatives=torch.zeros(3, dtype=torch.long))
    wide = Responses(
        student.logits, embedding=torch.randn(10, 3, dtype=torch.float64), index=student.index
    )
    with pytest.raises(ValueError, match="built for width 8"):
        d(teacher, wide)
    with pytest.raises(ValueError, match=r"float32 parameters but got torch.float64"):
        CRDDistiller(teacher_dim=TEACHER_DIM, student_dim=STUDENT_DIM, labels=labels(), nce_k=K)(
            teacher, student
        )
    with pytest.raises(ValueError, match="no forward pass|there was none"):
        d.after_step(teacher, student)
    with pytest.raises(ValueError, match="one label per training sample"):
        CRDDistiller(
            teacher_dim=TEACHER_DIM, student_dim=STUDENT_DIM, labels=labels(), num_samples=7
        )
    with pytest.raises(ValueError, match="CRD needs teacher_dim"):
        graphkd.create_method("crd", student_dim=8, labels=labels())
    with pytest.raises(ValueError, match="needs labels"):
        graphkd.create_method("crd", teacher_dim=8, student_dim=8)
    with pytest.raises(ValueError, match="temperature must be positive"):
        NoiseContrast(10, temperature=0.0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        nan = Responses(
            student.logits, embedding=student.embedding * float("nan"), index=student.index
        )
        d(teacher, nan)
