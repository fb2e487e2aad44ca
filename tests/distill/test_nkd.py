"""NKD against a dense translation of cls_KD's ``mmcls/models/dis_losses/nkd.py``
(``NKDLoss``): values and gradients in float64, the defaults, the errors."""

import inspect

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill.presets.nkd import NKDDistiller, SoftCrossEntropy, TargetLikelihood, nkd

CLASSES = 9


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


# ----------------------------------------- dense reference (cls_KD NKDLoss, float64)


def reference_nkd(z_s, z_t, labels, temp=1.0, gamma=1.5):
    """cls_KD's NKDLoss, sample by sample: the student's log-probability of the label
    (plain softmax) times the teacher's probability of it (no gradient), negated and
    averaged; then both logit rows lose the label's entry, the rest go through a softmax
    (teacher) and a log-softmax (student) at ``temp``, and the negated sum of their
    products, averaged over samples, is scaled by gamma * temp^2. Returns
    (total, target term, non-target term without gamma)."""
    rows, classes = z_s.shape
    target_terms, other_terms = [], []
    for i in range(rows):
        y = int(labels[i])
        log_p_s = z_s[i] - torch.logsumexp(z_s[i], 0)
        p_t = torch.exp(z_t[i] - torch.logsumexp(z_t[i], 0)).detach()
        target_terms.append(-(p_t[y] * log_p_s[y]))
        keep = [k for k in range(classes) if k != y]
        s_rest, t_rest = z_s[i, keep] / temp, z_t[i, keep] / temp
        log_q_s = s_rest - torch.logsumexp(s_rest, 0)
        q_t = torch.exp(t_rest - torch.logsumexp(t_rest, 0))
        other_terms.append(-(q_t * log_q_s).sum() * temp**2)
    target = torch.stack(target_terms).mean()
    other = torch.stack(other_terms).mean()
    return target + gamma * other, target, other


# ------------------------------------------------------------------------------- tests


def test_defaults_are_the_references():
    """NKDLoss(temp=1.0, gamma=1.5) (also its ImageNet configs); the student keeps its
    own cross-entropy at weight 1."""
    defaults = {k: p.default for k, p in inspect.signature(nkd).parameters.items()}
    assert defaults == {"temperature": 1.0, "gamma": 1.5, "ce_weight": 1.0}
    method = graphkd.create_method("nkd")
    assert isinstance(method, NKDDistiller) and method.ce_weight == 1.0


@pytest.mark.parametrize(
    "options",
    [{}, {"temperature": 3.0, "gamma": 3.5}, {"temperature": 0.5, "gamma": 0.0}],
)
def test_values_and_gradients_equal_the_reference(options):
    teacher, student = batch(requires_grad=True)
    out = nkd(**options).double()(teacher, student)
    ref_options = {"temp": options.get("temperature", 1.0), "gamma": options.get("gamma", 1.5)}
    total, target, other = reference_nkd(
        student.logits, teacher.logits, student.labels, **ref_options
    )
    torch.testing.assert_close(out["loss"], total, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out["target"], target, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out["non_target"], other, rtol=1e-10, atol=1e-12)
    (mine,) = torch.autograd.grad(out["loss"], student.logits)
    (theirs,) = torch.autograd.grad(total, student.logits)
    assert torch.isfinite(mine).all() and mine.abs().sum() > 0
    torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-12)


def test_teacher_gets_no_gradient_even_when_it_requires_one():
    teacher, student = batch(requires_grad=True)
    teacher.logits.requires_grad_(True)
    nkd().double()(teacher, student)["loss"].backward()
    assert teacher.logits.grad is None
    assert torch.isfinite(student.logits.grad).all()


def test_the_metrics_alone():
    s = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    t = torch.tensor([[2.0, 0.0, 1.0]], dtype=torch.float64)
    expected = -(torch.softmax(t / 2, 1) * torch.log_softmax(s / 2, 1)).sum() * 4
    torch.testing.assert_close(SoftCrossEntropy(2.0)(s, t), expected)
    log_p = torch.tensor([[-0.5], [-2.0]], dtype=torch.float64)
    log_q = torch.tensor([[-0.1], [-1.0]], dtype=torch.float64)
    expected = -(log_q.exp() * log_p).mean()
    torch.testing.assert_close(TargetLikelihood()(log_p, log_q), expected)


def test_two_classes_and_confident_logits_stay_finite():
    teacher, student = batch(classes=2, requires_grad=True)
    out = nkd(temperature=3.0).double()(teacher, student)
    total, _, other = reference_nkd(student.logits, teacher.logits, student.labels, temp=3.0)
    torch.testing.assert_close(out["loss"], total)
    torch.testing.assert_close(out["non_target"], torch.zeros((), dtype=torch.float64))
    teacher, student = batch(seed=4, requires_grad=True)
    teacher.logits.mul_(30)
    with torch.no_grad():
        student.logits.mul_(30)
    out = nkd().double()(teacher, student)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and torch.isfinite(student.logits.grad).all()


def test_errors_name_the_problem_and_the_fix():
    teacher, student = batch()
    with pytest.raises(ValueError, match="carry no labels"):
        nkd()(Responses(teacher.logits), Responses(student.logits))
    wrong = Responses(student.logits, labels=torch.full_like(student.labels, -1))
    with pytest.raises(ValueError, match=r"labels outside \[0, 9\)"):
        nkd()(teacher, wrong)
    one_class = Responses(torch.zeros(4, 1), labels=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 classes"):
        nkd()(one_class, one_class)
    other_classes = Responses(torch.zeros(10, CLASSES + 2), labels=student.labels)
    with pytest.raises(ValueError, match="same number of classes"):
        nkd()(teacher, other_classes)
    with pytest.raises(ValueError, match="temperature must be positive"):
        nkd(temperature=-1.0)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        nkd(gamma=-0.5)
    inf = Responses(student.logits.clone(), labels=student.labels)
    inf.logits[1, 2] = float("inf")
    with pytest.raises(ValueError, match="NaN or Inf"):
        nkd()(teacher, inf)
