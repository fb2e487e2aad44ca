"""AB against a dense translation of RepDistiller's distiller_zoo/AB.py, its Connector
(models/util.py) and its initialisation stage (train_student.py, helper/pretrain.py)."""

import inspect

import pytest
import torch
import torch.nn.functional as F

import graphkd
from graphkd import Responses
from graphkd.distill import method_arguments
from graphkd.distill.base import GradientStep
from graphkd.distill.method_registry import METHODS
from graphkd.distill.presets.ab import ABDistiller, BoundaryLoss
from graphkd.distill.stage_pairs import term_name
from graphkd.engine.method_setup import preact_taps

B = 6
# t1/s1: equal channels and height (no connector); t2/s2: the student's map twice as
# large (3x3 stride-2 conv); t3/s3: other channels, same size (1x1 conv)
TEACHER = {"t1": (4, 4, 4), "t2": (8, 2, 2), "t3": (12, 2, 2)}
STUDENT = {"s1": (4, 4, 4), "s2": (6, 4, 4), "s3": (5, 2, 2)}


def responses(shapes, seed, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)
    features = {
        name: (
            torch.randn(B, *shape, generator=generator, dtype=torch.float64) * 1.5
        ).requires_grad_(requires_grad)
        for name, shape in shapes.items()
    }
    return Responses(
        torch.randn(B, 10, generator=generator, dtype=torch.float64), features=features
    )


def distiller(**options):
    torch.manual_seed(0)
    options = {"teacher_shapes": TEACHER, "student_shapes": STUDENT, **options}
    method = graphkd.create_method("ab", **options).double()
    with torch.no_grad():  # connector batch norms away from their initial affine map
        for connector in method.connectors:
            if hasattr(connector, "bn"):
                connector.bn.weight.uniform_(0.5, 1.5)
                connector.bn.bias.normal_(0.0, 0.3)
    return method


# ------------------------------------ dense reference (RepDistiller AB.py, own words)


def reference_alternative_l2(source, target, margin=1.0):
    """RepDistiller's criterion_alternative_l2: push the student below -margin where the
    teacher is off and above +margin where it is on; summed over everything."""
    loss = (source + margin) ** 2 * ((source > -margin) & (target <= 0)).double() + (
        source - margin
    ) ** 2 * ((source <= margin) & (target > 0)).double()
    return torch.abs(loss).sum()


def reference_connector(x, module):
    """RepDistiller's Connector: identity for equal channels and height, else ConvReg
    without ReLU (convolution chosen by size, then batch norm on the batch's statistics)."""
    if isinstance(module, torch.nn.Identity):
        return x
    conv, bn = module.conv, module.bn
    y = F.conv2d(x, conv.weight, conv.bias, stride=conv.stride, padding=conv.padding)
    mean = y.mean(dim=(0, 2, 3), keepdim=True)
    var = y.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (y - mean) / torch.sqrt(var + 1e-5) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(
        1, -1, 1, 1
    )


def reference(method, teacher, student, margin=1.0):
    """ABLoss.forward: per-layer losses weighted 2^(i - n + 1), each divided by the batch
    size, then / 1000 * 3; the init stage sums them."""
    n = len(method.teacher_features)
    weights = [2 ** (i - n + 1) for i in range(n)]
    losses = []
    for i, (t_name, s_name) in enumerate(zip(method.teacher_features, method.student_features)):
        source = reference_connector(student.features[s_name], method.connectors[i])
        losses.append(reference_alternative_l2(source, teacher.features[t_name].detach(), margin))
    losses = [w * loss for w, loss in zip(weights, losses)]
    losses = [loss / B for loss in losses]
    losses = [loss / 1000 * 3 for loss in losses]
    return sum(losses)


# --------------------------------------------------------------------------- the tests


def test_defaults_are_repdistillers():
    defaults = {n: p.default for n, p in inspect.signature(METHODS.get("ab")).parameters.items()}
    assert defaults["margin"] == 1.0 and defaults["weight"] == 3e-3
    assert defaults["init_epochs"] == 30 and defaults["ce_weight"] == 1.0
    assert defaults["preact"] is True and preact_taps("ab", {})
    method = distiller()
    assert isinstance(method.connectors[0], torch.nn.Identity)
    second, third = method.connectors[1], method.connectors[2]
    assert (second.conv.kernel_size, second.conv.stride, second.conv.padding) == (
        (3, 3),
        (2, 2),
        (1, 1),
    )
    assert third.conv.kernel_size == (1, 1) and second.conv.bias is not None
    assert not second.relu and not third.relu
    assert [term.weight for term in method.terms] == [3e-3 / 4, 3e-3 / 2, 3e-3]


@pytest.mark.parametrize("margin", [1.0, 0.25])
def test_value_and_gradients_equal_the_dense_reference(margin):
    method = distiller(margin=margin)
    teacher = responses(TEACHER, 1, requires_grad=True)
    student = responses(STUDENT, 2, requires_grad=True)
    out = method(teacher, student)
    expected = reference(method, teacher, student, margin)
    torch.testing.assert_close(out["loss"], expected)
    torch.testing.assert_close(out["ab"], expected)
    inputs = [*student.features.values(), *method.parameters()]
    got = torch.autograd.grad(out["loss"], inputs, retain_graph=True)
    want = torch.autograd.grad(expected, inputs)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in got)
    teacher_grads = torch.autograd.grad(
        out["loss"], list(teacher.features.values()), allow_unused=True
    )
    assert teacher_grads == (None, None, None)
    n = len(TEACHER)
    parts = [out[term_name("ab", t)] * 3e-3 * 2.0 ** (k - n + 1) for k, t in enumerate(TEACHER)]
    torch.testing.assert_close(sum(parts), out["loss"])


def test_initialisation_trains_on_ab_alone_then_cross_entropy_alone():
    """RepDistiller: init_epochs epochs of the AB loss on the student's feature layers and
    the connectors (no cross-entropy), then training with loss_kd = 0 (CE only)."""
    method = distiller(init_epochs=2)
    teacher = responses(TEACHER, 1)
    weight = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def grads(epoch):
        method.set_epoch(epoch)
        student = responses(STUDENT, 2, requires_grad=True)
        scaled = {k: v * weight for k, v in student.features.items()}
        student = Responses(student.logits, features=scaled)
        out = method(teacher, student)
        ce = 5.0 * weight.square()  # d ce / d weight = 10 weight = 10
        ab = torch.autograd.grad(reference(method, teacher, student), weight, retain_graph=True)
        weight.grad = None
        method.zero_grad(set_to_none=True)
        method.combine_gradients(GradientStep([weight], ce, out["loss"], epoch))
        return out, float(weight.grad), float(ab[0])

    out, grad, ab = grads(1)
    assert method.initialising() and abs(grad - ab) < 1e-12 and ab != 0
    out, grad, _ = grads(2)
    assert not method.initialising() and float(out["loss"].detach()) == 0.0
    assert float(out["ab"].detach()) > 0
    assert abs(grad - 10.0) < 1e-12
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in method.parameters())


def test_every_parameter_gets_a_finite_gradient_through_the_registry():
    known = {
        "teacher_shapes": TEACHER,
        "student_shapes": STUDENT,
        "teacher_channels": {k: v[0] for k, v in TEACHER.items()},
        "num_classes": 10,
    }
    method = graphkd.create_method("ab", **method_arguments("ab", known)).double()
    method(responses(TEACHER, 3), responses(STUDENT, 4, requires_grad=True))["loss"].backward()
    assert len(list(method.parameters())) == 2 * 4  # conv weight, bias, bn weight, bias
    for name, parameter in method.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_boundary_loss_cases():
    loss = BoundaryLoss(margin=1.0).double()
    s = torch.tensor([[-2.0, 0.5, 2.0, 0.5]], dtype=torch.float64)
    t = torch.tensor([[-1.0, -1.0, 1.0, 1.0]], dtype=torch.float64)
    # off and below -1: 0; off at 0.5: 1.5^2; on and above 1: 0; on at 0.5: 0.5^2
    assert float(loss(s, t)) == pytest.approx(1.5**2 + 0.5**2)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"teacher_shapes": None}, "ab needs teacher_shapes"),
        ({"student_shapes": {**STUDENT, "s3": (5, 1, 3)}}, r"ab cannot connect a student map"),
        ({"margin": -1.0}, "margin must be >= 0"),
        ({"init_epochs": -1}, "init_epochs must be >= 0"),
        ({"teacher_features": ["t9"]}, r"teacher_features names \['t9'\]"),
    ],
)
def test_bad_options_name_the_fix(options, message):
    with pytest.raises(ValueError, match=message):
        distiller(**options)


def test_bad_inputs_name_the_fix():
    method = distiller()
    teacher, student = responses(TEACHER, 1), responses(STUDENT, 2)
    del student.features["s1"]
    with pytest.raises(ValueError, match=r"student's responses carry no feature 's1'"):
        method(teacher, student)
    student = responses({**STUDENT, "s1": (4, 2, 2)}, 2)
    with pytest.raises(ValueError, match="pass the shapes of the tapped maps"):
        method(teacher, student)
    student = responses(STUDENT, 2)
    student.features["s3"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="student feature 's3' contains NaN or Inf"):
        method(teacher, student)
    with pytest.raises(ValueError, match="holds torch.float32 parameters but got torch.float64"):
        method.float()(teacher, responses(STUDENT, 2))
    assert isinstance(method, ABDistiller)
