"""OFD against a dense translation of mdistiller's mdistiller/distillers/OFD.py (float64)."""

import inspect
import math

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill import method_arguments
from graphkd.distill.method_registry import METHODS
from graphkd.distill.presets.ofd import Connector, OFDDistiller, margin_from_batchnorm
from graphkd.distill.stage_pairs import term_name
from graphkd.engine.method_setup import preact_taps

B = 6
# the teacher's maps are as large as the student's or twice as large
TEACHER = {"t1": (6, 8, 8), "t2": (8, 4, 4), "t3": (12, 2, 2)}
STUDENT = {"s1": (3, 4, 4), "s2": (4, 4, 4), "s3": (5, 2, 2)}


def channels(shapes):
    return {name: shape[0] for name, shape in shapes.items()}


def batchnorms(seed=0):
    """Trained-looking (gamma, beta) per teacher map: some channels nearly never negative,
    one with gamma = 0."""
    generator = torch.Generator().manual_seed(seed)
    affine = {}
    for name, (c, _, _) in TEACHER.items():
        gamma = torch.rand(c, generator=generator, dtype=torch.float64) * 1.5 + 0.1
        beta = torch.randn(c, generator=generator, dtype=torch.float64)
        gamma[0], beta[0] = 0.2, 1.5  # Phi(-m/s) < 1e-3: the -3s branch
        gamma[1] = -gamma[1]  # the sign of gamma does not matter
        affine[name] = (gamma, beta)
    return affine


def responses(shapes, seed, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)
    features = {
        name: torch.randn(B, *shape, generator=generator, dtype=torch.float64).requires_grad_(
            requires_grad
        )
        for name, shape in shapes.items()
    }
    return Responses(
        torch.randn(B, 10, generator=generator, dtype=torch.float64), features=features
    )


def distiller(**options):
    torch.manual_seed(0)
    options = {
        "teacher_channels": channels(TEACHER),
        "student_channels": channels(STUDENT),
        "teacher_bn": batchnorms(),
        **options,
    }
    method = graphkd.create_method("ofd", **options).double()
    with torch.no_grad():  # connectors' batch norms away from their initial affine map
        for connector in method.connectors:
            connector[1].weight.uniform_(0.5, 1.5)
            connector[1].bias.normal_(0.0, 0.3)
    return method


# ------------------------------------------ dense reference (mdistiller OFD.py, own words)


def normal_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def reference_margin(gamma, beta):
    """Channel by channel as mdistiller's init_ofd_modules: E[x | x < 0] for
    x ~ N(beta, |gamma|^2) when P(x < 0) > 0.001, else -3 |gamma|."""
    values = []
    for g, b in zip(gamma.tolist(), beta.tolist()):
        s = abs(g)
        if normal_cdf(-b / s) > 0.001:
            values.append(
                -s * math.exp(-((b / s) ** 2) / 2) / math.sqrt(2 * math.pi) / normal_cdf(-b / s) + b
            )
        else:
            values.append(-3 * s)
    return torch.tensor(values, dtype=torch.float64)


def reference_partial_l2(source, target, margin):
    """mdistiller's feat_loss: three masked squared errors, summed over C, H, W and
    averaged over the batch."""
    margin = margin.view(1, -1, 1, 1)
    loss = (
        (source - margin) ** 2 * ((source > margin) & (target <= margin)).double()
        + (source - target) ** 2 * ((source > target) & (target > margin) & (target <= 0)).double()
        + (source - target) ** 2 * (target > 0).double()
    )
    return torch.abs(loss).mean(dim=0).sum()


def reference_connector(x, conv_weight, bn_weight, bn_bias, eps=1e-5):
    """1x1 convolution without bias, then batch norm with the batch's statistics."""
    y = torch.einsum("oc,bchw->bohw", conv_weight[:, :, 0, 0], x)
    mean = y.mean(dim=(0, 2, 3), keepdim=True)
    var = y.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (y - mean) / torch.sqrt(var + eps) * bn_weight.view(1, -1, 1, 1) + bn_bias.view(
        1, -1, 1, 1
    )


def average_to(x, size):
    b, c, h, w = x.shape
    return x.reshape(b, c, size[0], h // size[0], size[1], w // size[1]).mean(dim=(3, 5))


def reference(method, teacher, student, affine, weight=1e-3):
    """mdistiller's ofd_loss: connectors on the student's maps, the teacher's pooled to
    the student's size, stage i of n weighted 1 / 2^(n - i - 1), times the weight."""
    total, n = 0.0, len(method.teacher_features)
    for i, (t_name, s_name) in enumerate(zip(method.teacher_features, method.student_features)):
        conv, bn = method.connectors[i][0], method.connectors[i][1]
        source = reference_connector(student.features[s_name], conv.weight, bn.weight, bn.bias)
        target = average_to(teacher.features[t_name].detach(), source.shape[-2:])
        margin = reference_margin(*affine[t_name])
        total = total + reference_partial_l2(source, target, margin) / 2 ** (n - i - 1)
    return weight * total


# --------------------------------------------------------------------------- the tests


def test_defaults_are_mdistillers():
    defaults = {n: p.default for n, p in inspect.signature(METHODS.get("ofd")).parameters.items()}
    assert defaults["weight"] == 1e-3 and defaults["kernel_size"] == 1
    assert defaults["ce_weight"] == 1.0 and defaults["preact"] is True
    connector = Connector(3, 6)
    assert connector[0].bias is None and connector[0].kernel_size == (1, 1)
    assert isinstance(connector[1], torch.nn.BatchNorm2d)
    torch.testing.assert_close(connector[1].weight.detach(), torch.ones(6))
    torch.testing.assert_close(connector[1].bias.detach(), torch.zeros(6))
    # He initialisation over the fan-out: std sqrt(2 / (k^2 C_out))
    big = Connector(64, 512)
    assert abs(float(big[0].weight.detach().std()) - math.sqrt(2 / 512)) < 2e-3


def test_margins_equal_the_reference():
    affine = batchnorms()
    method = distiller()
    for name, margin in method.margins().items():
        torch.testing.assert_close(margin, reference_margin(*affine[name]))
    zero = margin_from_batchnorm(torch.tensor([0.0, 1.0]), torch.tensor([-1.0, 0.0]))
    assert float(zero[0]) == 0.0 and abs(float(zero[1]) + math.sqrt(2 / math.pi)) < 1e-6


@pytest.mark.parametrize("weight", [1e-3, 0.5])
def test_value_and_gradients_equal_the_dense_reference(weight):
    method = distiller(weight=weight)
    teacher = responses(TEACHER, 1, requires_grad=True)
    student = responses(STUDENT, 2, requires_grad=True)
    out = method(teacher, student)
    expected = reference(method, teacher, student, batchnorms(), weight)
    torch.testing.assert_close(out["loss"], expected)
    n = len(TEACHER)
    weighted = sum(out[term_name("ofd", name)] / 2 ** (n - 1 - k) for k, name in enumerate(TEACHER))
    torch.testing.assert_close(weight * weighted, out["loss"])

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


def test_every_region_of_the_partial_l2_is_exercised():
    """The test batch hits all four cases: teacher below the margin with the student above
    and below it, teacher between margin and 0, teacher positive."""
    method = distiller()
    teacher, student = responses(TEACHER, 1), responses(STUDENT, 2)
    t_graphs, s_graphs = method.build_graphs(teacher, student)
    t_graph, s_graph = t_graphs["samples"], s_graphs["samples"]
    name = "t2"
    s, t = s_graph.ndata[name], t_graph.ndata[name]
    m = method.margins()[name].view(1, -1, 1, 1)
    assert bool(((t <= m) & (s > m)).any()) and bool(((t <= m) & (s <= m)).any())
    assert bool(((t > m) & (t <= 0) & (s > t)).any()) and bool((t > 0).any())


def test_without_teacher_bn_every_channel_is_standard_normal():
    method = graphkd.create_method(
        "ofd", teacher_channels=channels(TEACHER), student_channels=channels(STUDENT)
    )
    for margin in method.margins().values():
        torch.testing.assert_close(margin, torch.full_like(margin, -math.sqrt(2 / math.pi)))


def test_every_parameter_gets_a_finite_gradient_through_the_registry():
    known = {
        "teacher_channels": channels(TEACHER),
        "student_channels": channels(STUDENT),
        "teacher_bn": batchnorms(),
        "num_classes": 10,
    }
    method = graphkd.create_method("ofd", **method_arguments("ofd", known)).double()
    method(responses(TEACHER, 3), responses(STUDENT, 4, requires_grad=True))["loss"].backward()
    assert len(list(method.parameters())) == 3 * 3  # conv weight, bn weight and bias per stage
    for name, parameter in method.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_the_trainer_taps_pre_activations_for_ofd():
    assert preact_taps("ofd", {}) and not preact_taps("ofd", {"preact": False})
    assert not preact_taps("kd", {}) and not preact_taps("ce", {})


def test_the_stage_weights_halve_towards_the_input():
    method = distiller(weight=1.0)
    assert [term.weight for term in method.terms] == [0.25, 0.5, 1.0]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"teacher_channels": None}, "ofd needs teacher_channels"),
        (
            {"teacher_bn": {"t1": batchnorms()["t1"]}},
            "teacher_bn has no batch norm for the teacher feature 't2'",
        ),
        (
            {"teacher_bn": {**batchnorms(), "t2": batchnorms()["t1"]}},
            r"teacher_bn\['t2'\] holds gamma \(6,\)",
        ),
        ({"kernel_size": 2}, "positive odd number"),
        ({"student_features": ["s1"]}, "pairs teacher and student features by order"),
    ],
)
def test_bad_options_name_the_fix(options, message):
    with pytest.raises(ValueError, match=message):
        distiller(**options)


def test_bad_inputs_name_the_fix():
    method = distiller()
    teacher, student = responses(TEACHER, 1), responses(STUDENT, 2)
    del teacher.features["t3"]
    with pytest.raises(ValueError, match=r"teacher's responses carry no feature 't3'"):
        method(teacher, student)
    teacher = responses(TEACHER, 1)
    teacher.features["t1"][0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="teacher feature 't1' contains NaN or Inf"):
        method(teacher, student)
    with pytest.raises(ValueError, match="holds torch.float32 parameters but got torch.float64"):
        method.float()(responses(TEACHER, 1), student)
    assert isinstance(method, OFDDistiller)


def test_zoo_networks_tapped_before_activation_give_the_margins_of_their_batch_norms():
    from graphkd.models import create_model, tap
    from graphkd.models.preact_batchnorm import preact_batchnorm_affine

    torch.manual_seed(0)
    teacher_net = create_model("resnet8", num_classes=10)
    with torch.no_grad():
        for module in teacher_net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.2, 1.5)
                module.bias.normal_(0.0, 1.0)
    teacher = tap(teacher_net, preact=True).eval()
    student = tap(create_model("resnet8", num_classes=10), preact=True)
    images = torch.randn(4, 3, 32, 32)
    t, s = teacher(images), student(images)
    affine = preact_batchnorm_affine(teacher, images)
    method = graphkd.create_method(
        "ofd",
        teacher_channels={k: v.shape[1] for k, v in t.features.items()},
        student_channels={k: v.shape[1] for k, v in s.features.items()},
        teacher_bn=affine,
    )
    assert method.teacher_features == ["layer1.0.merge", "layer2.0.merge", "layer3.0.merge"]
    modules = dict(teacher_net.named_modules())
    for name, margin in method.margins().items():
        bn = modules[name.replace("merge", "bn2")]
        torch.testing.assert_close(
            margin.double(),
            reference_margin(bn.weight.detach().double(), bn.bias.detach().double()),
        )
    assert bool((t.features["layer3.0.merge"] < 0).any())  # pre-activation maps
    assert torch.isfinite(method(t, s)["loss"])
