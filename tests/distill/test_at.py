"""AT against a dense translation of mdistiller's mdistiller/distillers/AT.py."""

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill.presets.at import ATDistiller, attention_map

B = 5
NAMES = ["layer1", "layer2", "layer3"]


def responses(shapes, seed, requires_grad=False, names=NAMES):
    generator = torch.Generator().manual_seed(seed)
    features = {
        name: torch.rand(B, *shape, generator=generator, dtype=torch.float64).requires_grad_(
            requires_grad
        )
        for name, shape in zip(names, shapes)
    }
    return Responses(
        torch.randn(B, 10, generator=generator, dtype=torch.float64), features=features
    )


# --- dense reference: mdistiller mdistiller/distillers/AT.py, in other words -------------------


def reference_stage(student, teacher, p):
    # the map with the greater height is averaged down to the other's (square) size
    hs, ht = student.shape[2], teacher.shape[2]
    if hs > ht:
        student = torch.nn.functional.adaptive_avg_pool2d(student, (ht, ht))
    if hs < ht:
        teacher = torch.nn.functional.adaptive_avg_pool2d(teacher, (hs, hs))

    def spatial(x):
        q = (x**p).sum(1).reshape(x.shape[0], -1) / x.shape[1]
        return q / torch.sqrt((q * q).sum(1, keepdim=True)).clamp_min(1e-12)

    difference = spatial(student) - spatial(teacher)
    return (difference * difference).sum() / difference.numel()


def reference_loss(students, teachers, p=2.0, weight=1000.0):
    return weight * sum(reference_stage(s, t, p) for s, t in zip(students, teachers))


SAME = [(4, 8, 8), (6, 4, 4), (8, 2, 2)]
CASES = {
    "same sizes": (SAME, SAME),
    "other channels": ([(3, 8, 8), (5, 4, 4), (7, 2, 2)], SAME),
    "student larger": ([(4, 16, 16), (6, 8, 8), (8, 2, 2)], SAME),
    "student smaller": ([(4, 4, 4), (6, 2, 2), (8, 1, 1)], SAME),
}


@pytest.mark.parametrize("p", [2.0, 3.0])
@pytest.mark.parametrize("case", list(CASES))
def test_loss_and_gradients_equal_the_reference(case, p):
    student_shapes, teacher_shapes = CASES[case]
    distiller = graphkd.create_method(
        "at", teacher_features=NAMES, student_features=NAMES, p=p
    ).double()
    teacher = responses(teacher_shapes, 0)
    student = responses(student_shapes, 1, requires_grad=True)
    out = distiller(teacher, student)
    got = torch.autograd.grad(out["loss"], list(student.features.values()))

    maps = [f.detach().clone().requires_grad_(True) for f in student.features.values()]
    expected = reference_loss(maps, list(teacher.features.values()), p=p)
    want = torch.autograd.grad(expected, maps)
    assert out["loss"].dtype == torch.float64
    torch.testing.assert_close(out["loss"], expected, rtol=1e-12, atol=1e-14)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-14)
    # each logged term is one stage's unweighted mean squared error
    for name, s, t in zip(NAMES, maps, teacher.features.values()):
        torch.testing.assert_close(out[f"at_{name}"], reference_stage(s.detach(), t, p))


def test_defaults_are_the_references():
    distiller = graphkd.create_method("at", teacher_channels={"a": 1}, student_channels={"b": 1})
    assert distiller.p == 2.0
    assert [term.weight for term in distiller.terms] == [1000.0]
    assert distiller.ce_weight == 1.0
    assert distiller.teacher_features == ["a"] and distiller.student_features == ["b"]


def test_features_override_the_channel_keys():
    channels = {"relu0": 8, "relu1": 16, "relu2": 32}
    distiller = graphkd.create_method(
        "at",
        teacher_channels=channels,
        student_channels=channels,
        teacher_features=["relu1", "relu2"],
        student_features=["relu1", "relu2"],
    )
    assert distiller.fields == ["at_relu1", "at_relu2"]


def test_identical_maps_give_zero_and_the_teacher_no_gradient():
    distiller = ATDistiller(teacher_features=NAMES, student_features=NAMES).double()
    teacher = responses(SAME, 0, requires_grad=True)
    out = distiller(teacher, teacher)
    assert float(out["loss"].detach()) == 0.0
    out["loss"].backward()
    assert all(f.grad is None or not f.grad.any() for f in teacher.features.values())


def test_attention_map_of_a_zero_map_is_zero():
    q = attention_map(torch.zeros(2, 3, 4, 4, dtype=torch.float64))
    assert not q.any()


def test_gradient_is_finite_for_zero_student_maps():
    distiller = ATDistiller(teacher_features=NAMES, student_features=NAMES).double()
    student = responses(SAME, 1, requires_grad=True)
    with torch.no_grad():
        for f in student.features.values():
            f.zero_()
    distiller(responses(SAME, 0), student)["loss"].backward()
    assert all(torch.isfinite(f.grad).all() for f in student.features.values())


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="teacher_features=\\[...\\]"):
        graphkd.create_method("at")
    with pytest.raises(ValueError, match="pairs the stage outputs by order"):
        graphkd.create_method("at", teacher_features=["a", "b"], student_features=["a"])
    distiller = ATDistiller(teacher_features=NAMES, student_features=NAMES).double()
    with pytest.raises(ValueError, match="carry no feature 'layer3'"):
        distiller(responses(SAME[:2], 0, names=NAMES[:2]), responses(SAME, 1))
    flat = Responses(torch.randn(B, 10), features={n: torch.rand(B, 4) for n in NAMES})
    with pytest.raises(ValueError, match="reads \\(B, C, H, W\\) feature maps"):
        ATDistiller(teacher_features=NAMES, student_features=NAMES)(flat, flat)
    bad = responses(SAME, 1)
    bad.features["layer2"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="student feature 'layer2' contains NaN"):
        distiller(responses(SAME, 0), bad)
    short = responses(SAME, 2)
    short = Responses(short.logits[:3], features={k: v[:3] for k, v in short.features.items()})
    with pytest.raises(ValueError, match="batch size"):
        distiller(responses(SAME, 0), short)


def test_default_pairing_keeps_the_deepest_stages_of_the_deeper_network():
    teacher = {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
    student = {"s1": 116, "s2": 232, "s3": 464}
    distiller = graphkd.create_method("at", teacher_channels=teacher, student_channels=student)
    assert distiller.teacher_features == ["layer2", "layer3", "layer4"]
    assert distiller.student_features == ["s1", "s2", "s3"]
    with pytest.raises(ValueError, match="repeat a name"):
        graphkd.create_method("at", teacher_features=["a", "a"], student_features=["b", "c"])


@pytest.mark.parametrize("name", ["at", "nst", "fsp", "kdsvd"])
def test_module_path_feature_names_give_valid_term_names(name):
    # WRN taps are module paths; term names key module dicts and may hold no dots
    paths = ["block2.layer.0.relu1", "block3.layer.0.relu1", "relu"]
    distiller = graphkd.create_method(name, teacher_features=paths, student_features=paths)
    maps = responses([(4, 4, 4), (4, 2, 2), (4, 2, 2)], 0, names=paths)
    out = distiller(maps, responses([(4, 4, 4), (4, 2, 2), (4, 2, 2)], 1, names=paths))
    assert all("." not in key for key in out)
    assert torch.isfinite(out["loss"])
