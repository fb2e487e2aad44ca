"""FitNet against a dense translation of mdistiller's FitNet and ConvReg.

Reference: mdistiller ``mdistiller/distillers/FitNet.py`` (the loss: weight times the
MSE between the regressed student map and the teacher's map at hint layer 2, CE weight 1)
and ``mdistiller/distillers/_common.py`` (``ConvReg``: which convolution maps the
student's map to the teacher's shape, then batch norm and ReLU); defaults from
``mdistiller/engine/cfg.py`` (``FITNET.HINT_LAYER = 2``, ``FEAT_WEIGHT = 100``,
``CE_WEIGHT = 1``).
"""

import math

import pytest
import torch
import torch.nn.functional as F

import graphkd
from graphkd import Responses
from graphkd.distill.presets.fitnet import FitNetDistiller, middle_feature
from graphkd.models import create_model, tap

B = 5


def responses(shapes, seed, requires_grad=False, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    features = {
        name: torch.randn(B, *shape, generator=generator, dtype=dtype).requires_grad_(requires_grad)
        for name, shape in shapes.items()
    }
    return Responses(torch.randn(B, 10, generator=generator, dtype=dtype), features=features)


def make(teacher_shapes, student_shapes, **options):
    torch.manual_seed(0)
    method = graphkd.create_method(
        "fitnet", teacher_shapes=teacher_shapes, student_shapes=student_shapes, **options
    ).double()
    with torch.no_grad():  # a batch norm that is not the identity
        method.regressor.bn.weight.uniform_(0.5, 1.5)
        method.regressor.bn.bias.normal_(0, 0.3)
    return method


# --- the reference, written out densely in float64 ----------------------------------------


def dense_regressor(x, conv_weight, conv_bias, gamma, beta, s_hw, t_hw, relu=True):
    """ConvReg: stride-2 3x3 conv if the student's map is twice the teacher's, stride-2
    4x4 transposed conv if half, else a valid conv of kernel 1 + (s - t); batch norm with
    the batch's biased statistics (training mode, eps 1e-5); ReLU."""
    (s_h, s_w), (t_h, t_w) = s_hw, t_hw
    if s_h == 2 * t_h:
        y = F.conv2d(x, conv_weight, conv_bias, stride=2, padding=1)
    elif 2 * s_h == t_h:
        y = F.conv_transpose2d(x, conv_weight, conv_bias, stride=2, padding=1)
    else:
        assert conv_weight.shape[-2:] == (1 + s_h - t_h, 1 + s_w - t_w)
        y = F.conv2d(x, conv_weight, conv_bias)
    mean = y.mean(dim=(0, 2, 3), keepdim=True)
    var = y.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    y = (y - mean) / torch.sqrt(var + 1e-5) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)
    return torch.clamp(y, min=0) if relu else y


def dense_fitnet(student_map, teacher_map, regressor, weight=100.0, relu=True):
    conv, bn = regressor.conv, regressor.bn
    out = dense_regressor(
        student_map,
        conv.weight,
        conv.bias,
        bn.weight,
        bn.bias,
        tuple(student_map.shape[-2:]),
        tuple(teacher_map.shape[-2:]),
        relu,
    )
    return weight * ((out - teacher_map) ** 2).sum() / teacher_map.numel()


CASES = {
    "equal": ({"a": (3, 4, 4), "b": (6, 4, 4)}, {"a": (2, 4, 4), "b": (5, 4, 4)}),
    "student_larger": ({"a": (3, 4, 4), "b": (6, 3, 2)}, {"a": (2, 4, 4), "b": (5, 5, 4)}),
    "student_twice": ({"a": (3, 4, 4), "b": (6, 3, 3)}, {"a": (2, 4, 4), "b": (5, 6, 6)}),
    "student_half": ({"a": (3, 4, 4), "b": (6, 4, 4)}, {"a": (2, 4, 4), "b": (5, 2, 2)}),
}


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("case", list(CASES))
def test_loss_and_gradients_equal_the_dense_reference(case, relu):
    teacher_shapes, student_shapes = CASES[case]
    method = make(teacher_shapes, student_shapes, relu=relu)
    assert (method.hint, method.student_hint) == ("a", "a")  # middle of two: the first
    method = make(teacher_shapes, student_shapes, relu=relu, hint="b", student_hint="b")
    teacher = responses(teacher_shapes, 1)
    student = responses(student_shapes, 2, requires_grad=True)
    out = method(teacher, student)
    params = [student.features["b"], *method.parameters()]
    grads = torch.autograd.grad(out["loss"], params)
    expected = dense_fitnet(
        student.features["b"], teacher.features["b"], method.regressor, relu=relu
    )
    dense_grads = torch.autograd.grad(expected, params)
    torch.testing.assert_close(out["loss"], expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out["hint"] * 100.0, expected, rtol=1e-12, atol=1e-12)
    for mine, reference in zip(grads, dense_grads):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)
    assert tuple(method.regressor(student.features["b"]).shape[1:]) == teacher_shapes["b"]


def test_defaults_are_mdistillers():
    shapes = {"layer1": (4, 8, 8), "layer2": (8, 4, 4), "layer3": (16, 2, 2)}
    method = graphkd.create_method("fitnet", teacher_shapes=shapes, student_shapes=shapes)
    assert isinstance(method, FitNetDistiller)
    assert method.terms[0].weight == 100.0 and method.ce_weight == 1.0
    assert method.terms[0].metric == "mse" and method.regressor.relu
    assert (method.hint, method.student_hint) == ("layer2", "layer2")


# mdistiller's feats[2] (its hint layer 2) for each zoo family, in graphkd's tap names
MDISTILLER_HINT = {
    "resnet8x4": "layer2",
    "resnet20": "layer2",
    "vgg8": "relu2",
    "wrn_16_2": "block3.layer.0.relu1",
    "ResNet50": "layer2",
    "MobileNetV2": "blocks.2",
    "ShuffleV1": "layer2",
    "ShuffleV2": "layer2",
}


@pytest.mark.parametrize("arch", list(MDISTILLER_HINT))
def test_the_default_hint_is_mdistillers_hint_layer_2(arch):
    model = tap(create_model(arch, num_classes=100)).eval()
    with torch.no_grad():
        features = model(torch.zeros(1, 3, 32, 32)).features
    assert middle_feature({k: v.shape[1:] for k, v in features.items()}) == MDISTILLER_HINT[arch]


def test_regressor_kinds_follow_the_spatial_rule():
    def regressor(s, t):
        return make({"x": t}, {"x": s}).regressor.conv

    conv = regressor((4, 8, 8), (6, 4, 4))
    assert isinstance(conv, torch.nn.Conv2d) and (conv.kernel_size, conv.stride) == ((3, 3), (2, 2))
    conv = regressor((4, 4, 4), (6, 8, 8))
    assert isinstance(conv, torch.nn.ConvTranspose2d) and conv.kernel_size == (4, 4)
    conv = regressor((4, 4, 4), (6, 4, 4))
    assert isinstance(conv, torch.nn.Conv2d) and conv.kernel_size == (1, 1)
    conv = regressor((4, 7, 5), (6, 4, 4))
    assert conv.kernel_size == (4, 2)


def test_the_trainer_values_build_the_regressor_for_a_zoo_pair():
    def shapes(arch):
        model = tap(create_model(arch, num_classes=100)).eval()
        with torch.no_grad():
            return {
                k: tuple(v.shape[1:]) for k, v in model(torch.zeros(1, 3, 32, 32)).features.items()
            }

    method = graphkd.create_method(
        "fitnet", teacher_shapes=shapes("resnet32x4"), student_shapes=shapes("ShuffleV2")
    )
    assert isinstance(method.regressor.conv, torch.nn.ConvTranspose2d)  # 8x8 -> 16x16
    assert (method.regressor.conv.in_channels, method.regressor.conv.out_channels) == (232, 128)


def test_every_parameter_gets_a_finite_gradient_and_the_teacher_none():
    shapes = {"a": (3, 4, 4)}
    method = make(shapes, shapes)
    teacher = responses(shapes, 1, requires_grad=True)
    student = responses(shapes, 2, requires_grad=True)
    method(teacher, student)["loss"].backward()
    assert teacher.features["a"].grad is None
    assert torch.isfinite(student.features["a"].grad).all()
    for name, parameter in method.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_reset_parameters_redraws_the_regressor():
    shapes = {"a": (3, 4, 4)}
    method = make(shapes, shapes)
    before = method.regressor.conv.weight.clone()
    method.reset_parameters()
    assert not torch.equal(before, method.regressor.conv.weight)
    assert torch.equal(method.regressor.bn.weight, torch.ones(3, dtype=torch.float64))


def test_bad_inputs_are_rejected_with_the_fix():
    shapes = {"a": (3, 4, 4), "b": (6, 2, 2)}
    with pytest.raises(ValueError, match="fitnet needs teacher_shapes"):
        graphkd.create_method("fitnet", student_shapes=shapes)
    with pytest.raises(ValueError, match="student hint 'zz' is not among"):
        graphkd.create_method(
            "fitnet", teacher_shapes=shapes, student_shapes=shapes, student_hint="zz"
        )
    with pytest.raises(ValueError, match="cannot regress a student map of shape"):
        graphkd.create_method(
            "fitnet", teacher_shapes={"a": (3, 8, 8)}, student_shapes={"a": (3, 3, 3)}
        )
    with pytest.raises(ValueError, match="cannot regress"):  # wider teacher, same height
        graphkd.create_method(
            "fitnet", teacher_shapes={"a": (3, 4, 6)}, student_shapes={"a": (3, 4, 4)}
        )
    with pytest.raises(ValueError, match="needs a spatial map"):
        graphkd.create_method("fitnet", teacher_shapes={"a": (3,)}, student_shapes={"a": (3,)})
    with pytest.raises(ValueError, match="taps no features"):
        graphkd.create_method("fitnet", teacher_shapes={}, student_shapes={})

    method = make(shapes, shapes)
    teacher, student = responses(shapes, 1), responses(shapes, 2)
    del student.features["a"]
    with pytest.raises(ValueError, match=r"student's responses carry no feature 'a' \(tapped: b\)"):
        method(teacher, student)
    student = responses({"a": (3, 5, 5)}, 2)
    with pytest.raises(ValueError, match=r"has shape \(5, 3, 5, 5\) but student_shapes gives"):
        method(teacher, student)
    student = responses(shapes, 2)
    student.features["a"][0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="student feature 'a' contains NaN or Inf"):
        method(teacher, student)
    float32 = graphkd.create_method("fitnet", teacher_shapes=shapes, student_shapes=shapes)
    with pytest.raises(ValueError, match=r"distiller.to\(torch.float64\)"):
        float32(responses(shapes, 1), responses(shapes, 2))
