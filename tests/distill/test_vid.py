"""VID against a dense translation of mdistiller's mdistiller/distillers/VID.py (float64)."""

import inspect
import math

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill import method_arguments
from graphkd.distill.method_registry import METHODS
from graphkd.distill.presets.vid import GaussianNLL, VIDDistiller
from graphkd.distill.stage_pairs import paired_features, term_name

B = 5
# student larger than the teacher at s1/t1, smaller at s2/t2, equal at s3/t3
TEACHER = {"t1": (6, 4, 4), "t2": (8, 4, 4), "t3": (12, 2, 2)}
STUDENT = {"s1": (3, 8, 8), "s2": (4, 2, 2), "s3": (5, 2, 2)}


def channels(shapes):
    return {name: shape[0] for name, shape in shapes.items()}


def responses(shapes, seed, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)
    features = {
        name: torch.randn(B, *shape, generator=generator, dtype=torch.float64).requires_grad_(
            requires_grad
        )
        for name, shape in shapes.items()
    }
    logits = torch.randn(B, 10, generator=generator, dtype=torch.float64)
    return Responses(logits, features=features)


def distiller(**options):
    torch.manual_seed(0)
    method = graphkd.create_method(
        "vid", teacher_channels=channels(TEACHER), student_channels=channels(STUDENT), **options
    ).double()
    with torch.no_grad():  # trained-looking variances, different per channel
        for metric in method.metrics.values():
            metric.log_scale.add_(torch.randn(metric.log_scale.shape, dtype=torch.float64))
    return method


# ------------------------------------------ dense reference (mdistiller VID.py, own words)


def conv1x1(x, weight):
    """A bias-free 1x1 convolution written as a sum over input channels."""
    return torch.einsum("oc,bchw->bohw", weight[:, :, 0, 0], x)


def average_to(x, size):
    """Average ``x`` (B, C, H, W) down to ``size`` x ``size`` by equal blocks."""
    b, c, h, w = x.shape
    return x.reshape(b, c, size, h // size, size, w // size).mean(dim=(3, 5))


def reference_stage(student, teacher, weights, log_scale, eps):
    """One term of mdistiller's ``vid_loss``: pool the taller map to the other's height,
    predict the teacher's map with conv-relu-conv-relu-conv, Gaussian NLL with the
    variance log(1 + exp(alpha)) + eps per channel, averaged over every entry."""
    if student.shape[2] > teacher.shape[2]:
        student = average_to(student, teacher.shape[2])
    elif student.shape[2] < teacher.shape[2]:
        teacher = average_to(teacher, student.shape[2])
    w1, w2, w3 = weights
    mean = conv1x1(torch.relu(conv1x1(torch.relu(conv1x1(student, w1)), w2)), w3)
    variance = (torch.log(1.0 + torch.exp(log_scale)) + eps).view(1, -1, 1, 1)
    return torch.mean(0.5 * ((mean - teacher) ** 2 / variance + torch.log(variance)))


def reference(method, teacher, student, weight=1.0, eps=1e-5):
    """mdistiller's forward: the VID terms of every paired stage summed, times the weight."""
    total = 0.0
    pairs = zip(method.teacher_features, method.student_features, method.regressors)
    for t_name, s_name, network in pairs:
        weights = [network[0].weight, network[2].weight, network[4].weight]
        log_scale = method.metrics[term_name("vid", t_name)].log_scale
        total = total + reference_stage(
            student.features[s_name], teacher.features[t_name].detach(), weights, log_scale, eps
        )
    return weight * total


# --------------------------------------------------------------------------- the tests


def test_defaults_are_mdistillers():
    defaults = {n: p.default for n, p in inspect.signature(METHODS.get("vid")).parameters.items()}
    assert defaults["weight"] == 1.0 and defaults["ce_weight"] == 1.0
    assert defaults["init_pred_var"] == 5.0 and defaults["eps"] == 1e-5
    method = graphkd.create_method(
        "vid", teacher_channels=channels(TEACHER), student_channels=channels(STUDENT)
    ).double()
    for metric in method.metrics.values():
        # mdistiller: alpha = log(exp(5 - eps) - 1), so log(1 + exp(alpha)) + eps = 5
        alpha = math.log(math.exp(5.0 - 1e-5) - 1.0)
        torch.testing.assert_close(metric.log_scale, torch.full_like(metric.log_scale, alpha))
        torch.testing.assert_close(metric.variance(), torch.full_like(metric.log_scale, 5.0))
    first = method.regressors[0]
    assert [tuple(first[k].weight.shape) for k in (0, 2, 4)] == [
        (6, 3, 1, 1),
        (6, 6, 1, 1),
        (6, 6, 1, 1),
    ]
    assert all(first[k].bias is None for k in (0, 2, 4))
    assert isinstance(first[1], torch.nn.ReLU) and isinstance(first[3], torch.nn.ReLU)


@pytest.mark.parametrize("options", [{}, {"weight": 2.5, "eps": 1e-3, "init_pred_var": 0.5}])
def test_value_and_gradients_equal_the_dense_reference(options):
    method = distiller(**options)
    teacher = responses(TEACHER, 1, requires_grad=True)
    student = responses(STUDENT, 2, requires_grad=True)
    out = method(teacher, student)
    expected = reference(
        method, teacher, student, options.get("weight", 1.0), options.get("eps", 1e-5)
    )
    torch.testing.assert_close(out["loss"], expected)
    terms = [out[f"vid_{name}"] for name in TEACHER]
    torch.testing.assert_close(options.get("weight", 1.0) * sum(terms), out["loss"])

    inputs = [*student.features.values(), *method.parameters()]
    got = torch.autograd.grad(out["loss"], inputs, retain_graph=True)
    want = torch.autograd.grad(expected, inputs)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in got)
    # the teacher is a fixed target
    assert torch.autograd.grad(out["loss"], list(teacher.features.values()), allow_unused=True) == (
        None,
        None,
        None,
    )


def test_every_parameter_gets_a_finite_gradient_through_the_registry():
    known = {
        "teacher_channels": channels(TEACHER),
        "student_channels": channels(STUDENT),
        "num_classes": 10,
        "teacher_dim": 12,
    }
    method = graphkd.create_method("vid", **method_arguments("vid", known)).double()
    method(responses(TEACHER, 3), responses(STUDENT, 4, requires_grad=True))["loss"].backward()
    names = [name for name, _ in method.named_parameters()]
    assert len(names) == 3 * 3 + 3  # three convolutions and one variance vector per stage
    for name, parameter in method.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_pairing_keeps_the_deepest_stages_unless_told():
    t = {"a": 1, "b": 2, "c": 3, "d": 4}
    s = {"x": 1, "y": 2, "z": 3}
    assert paired_features("vid", t, s)[:2] == (["b", "c", "d"], ["x", "y", "z"])
    assert paired_features("vid", t, s, ["a", "d"], ["x", "z"]) == (
        ["a", "d"],
        ["x", "z"],
        [1, 4],
        [1, 3],
    )
    method = graphkd.create_method(
        "vid",
        teacher_channels=t,
        student_channels=s,
        teacher_features=["c", "d"],
        student_features=["y", "z"],
    )
    assert sorted(method.metrics) == ["vid_c", "vid_d"]
    dotted = graphkd.create_method("vid", teacher_channels={"a.b": 2}, student_channels={"x": 2})
    assert list(dotted.metrics) == ["vid_a_b"]


def test_fixed_variances_as_mdistiller_keeps_them():
    method = distiller(learn_variance=False)
    student = responses(STUDENT, 2, requires_grad=True)
    method(responses(TEACHER, 1), student)["loss"].backward()
    for metric in method.metrics.values():
        assert not metric.log_scale.requires_grad and metric.log_scale.grad is None
    assert all(network[0].weight.grad is not None for network in method.regressors)


def test_reset_parameters_restores_the_initial_variance():
    method = distiller()
    method.reset_parameters()
    for metric in method.metrics.values():
        torch.testing.assert_close(metric.variance(), torch.full_like(metric.log_scale, 5.0))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"teacher_channels": None}, "vid needs teacher_channels"),
        ({"teacher_features": ["t9"]}, r"teacher_features names \['t9'\]"),
        ({"teacher_features": "t1"}, "must be a list of feature names"),
        ({"teacher_features": ["t1", "t2"]}, "pairs teacher and student features by order"),
        ({"init_pred_var": 1e-6}, "initial variance must exceed eps"),
        ({"teacher_channels": {}, "student_channels": {}}, "none are tapped"),
    ],
)
def test_bad_options_name_the_fix(options, message):
    options = {
        "teacher_channels": channels(TEACHER),
        "student_channels": channels(STUDENT),
        **options,
    }
    with pytest.raises(ValueError, match=message):
        graphkd.create_method("vid", **options)


def test_bad_inputs_name_the_fix():
    method = distiller()
    teacher, student = responses(TEACHER, 1), responses(STUDENT, 2)
    del student.features["s2"]
    with pytest.raises(
        ValueError, match=r"student's responses carry no feature 's2' \(tapped: s1, s3\)"
    ):
        method(teacher, student)
    student = responses({**STUDENT, "s2": (7, 2, 2)}, 2)
    with pytest.raises(ValueError, match=r"expects a \(B, 4, H, W\) map"):
        method(teacher, student)
    student = responses(STUDENT, 2)
    student.features["s1"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="student feature 's1' contains NaN or Inf"):
        method(teacher, student)
    with pytest.raises(ValueError, match="holds torch.float32 parameters but got torch.float64"):
        method.float()(teacher, responses(STUDENT, 2))
    wide = responses({**STUDENT, "s3": (5, 2, 4)}, 2)
    with pytest.raises(ValueError, match="differ in width after pooling"):
        distiller()(teacher, wide)


def test_gaussian_nll_is_the_closed_form():
    nll = GaussianNLL(2, init_var=2.0, eps=0.0).double()
    mean = torch.zeros(1, 2, 1, 1, dtype=torch.float64)
    target = torch.tensor([1.0, 3.0], dtype=torch.float64).view(1, 2, 1, 1)
    expected = 0.5 * ((1 / 2 + math.log(2)) + (9 / 2 + math.log(2))) / 2
    torch.testing.assert_close(nll(mean, target), torch.tensor(expected, dtype=torch.float64))
    assert isinstance(distiller(), VIDDistiller)
