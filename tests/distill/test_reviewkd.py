"""ReviewKD against a dense translation of mdistiller's ReviewKD.

Reference: mdistiller ``mdistiller/distillers/ReviewKD.py`` (``ABF``: 1x1 conv + BN to
the middle width, attention fusion with the nearest-upsampled residual of the deeper
level, nearest resize to the output size, 3x3 conv + BN; ``ReviewKD.forward_train``:
the student's levels reversed, reviewed deepest first, outputs put back shallow to deep,
the teacher's levels and pooled feature as targets; ``hcl_loss``: MSE plus halving-weight
MSEs of 4x4, 2x2, 1x1 average pools smaller than the map, normalised; the loss weighted by
``min(epoch / WARMUP_EPOCHS, 1)`` with mdistiller's 1-based epoch) and the defaults of
``mdistiller/engine/cfg.py`` (``REVIEWKD_WEIGHT = 1``, ``WARMUP_EPOCHS = 20``,
``CE_WEIGHT = 1``, middle width ``min(512, IN_CHANNELS[-1])``).
"""

import math

import pytest
import torch
import torch.nn.functional as F

import graphkd
from graphkd import Responses
from graphkd.distill.presets.reviewkd import HierarchicalContextLoss, ReviewKDDistiller
from graphkd.models import create_model, tap

B = 4


def responses(shapes, dim, seed, requires_grad=False, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)

    def draw(*shape):
        return torch.randn(B, *shape, generator=generator, dtype=dtype).requires_grad_(
            requires_grad
        )

    features = {name: draw(*shape) for name, shape in shapes.items()}
    return Responses(draw(10), embedding=draw(dim), features=features)


def make(teacher_shapes, student_shapes, teacher_dim, student_dim, **options):
    torch.manual_seed(0)
    method = graphkd.create_method(
        "reviewkd",
        teacher_shapes=teacher_shapes,
        student_shapes=student_shapes,
        teacher_dim=teacher_dim,
        student_dim=student_dim,
        **options,
    ).double()
    with torch.no_grad():  # batch norms that are not the identity
        for module in method.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.3)
    return method


# --- the reference, written out densely in float64 ----------------------------------------


def dense_bn(y, bn):
    mean = y.mean(dim=(0, 2, 3), keepdim=True)
    var = ((y - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (y - mean) / torch.sqrt(var + 1e-5) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(
        1, -1, 1, 1
    )


def dense_abf(abf, x, y=None, shape=None, out_shape=None):
    """ABF.forward: x -> conv1/BN; fuse with y upsampled to (shape, shape) by two sigmoid
    gates of a 1x1 conv; resize to out_shape if its width differs; conv2/BN."""
    n, _, h, w = x.shape
    x = dense_bn(F.conv2d(x, abf.conv1.weight), abf.bn1)
    if abf.attention is not None:
        y = F.interpolate(y, (shape, shape), mode="nearest")
        z = torch.sigmoid(
            F.conv2d(torch.cat([x, y], dim=1), abf.attention.weight, abf.attention.bias)
        )
        x = x * z[:, 0].view(n, 1, h, w) + y * z[:, 1].view(n, 1, h, w)
    if x.shape[-1] != out_shape:
        x = F.interpolate(x, (out_shape, out_shape), mode="nearest")
    y = dense_bn(F.conv2d(x, abf.conv2.weight, padding=1), abf.bn2)
    return y, x


def dense_hcl(fstudent, fteacher):
    total = 0.0
    for fs, ft in zip(fstudent, fteacher):
        h = fs.shape[2]
        loss = ((fs - ft) ** 2).mean()
        cnt, tot = 1.0, 1.0
        for size in [4, 2, 1]:
            if size >= h:
                continue
            cnt /= 2.0
            ps, pt = (
                F.adaptive_avg_pool2d(fs, (size, size)),
                F.adaptive_avg_pool2d(ft, (size, size)),
            )
            loss = loss + ((ps - pt) ** 2).mean() * cnt
            tot += cnt
        total = total + loss / tot
    return total


def dense_reviewkd(method, student_maps, student_pooled, teacher_maps, teacher_pooled, epoch):
    """forward_train with shapes / out_shapes as mdistiller's config lists them (deepest,
    the pooled feature, first) and its 1-based epoch."""
    abfs = list(method.fusions)[::-1]
    x = (student_maps + [student_pooled[:, :, None, None]])[::-1]
    shapes = [1] + [m.shape[-1] for m in student_maps[::-1]]
    out_shapes = [1] + [m.shape[-1] for m in teacher_maps[::-1]]
    results = []
    out, res = dense_abf(abfs[0], x[0], out_shape=out_shapes[0])
    results.append(out)
    for features, abf, shape, out_shape in zip(x[1:], abfs[1:], shapes[1:], out_shapes[1:]):
        out, res = dense_abf(abf, features, res, shape, out_shape)
        results.insert(0, out)
    targets = teacher_maps + [teacher_pooled[:, :, None, None]]
    return 1.0 * min(epoch / 20, 1.0) * dense_hcl(results, targets)


CASES = {
    # same sizes, other channels (as resnet32x4 -> resnet8x4 in kind)
    "same_sizes": (
        ({"a": (4, 8, 8), "b": (6, 4, 4)}, 7),
        ({"a": (3, 8, 8), "b": (5, 4, 4)}, 6),
    ),
    # the student's maps half the teacher's (as resnet32x4 -> ShuffleNet)
    "smaller_student": (
        ({"a": (4, 8, 8), "b": (6, 4, 4), "c": (6, 2, 2)}, 6),
        ({"a": (3, 4, 4), "b": (5, 2, 2), "c": (7, 1, 1)}, 9),
    ),
}


@pytest.mark.parametrize("epoch", [0, 4, 30])
@pytest.mark.parametrize("case", list(CASES))
def test_loss_and_gradients_equal_the_dense_reference(case, epoch):
    (teacher_shapes, teacher_dim), (student_shapes, student_dim) = CASES[case]
    method = make(teacher_shapes, student_shapes, teacher_dim, student_dim)
    method.set_epoch(epoch)
    teacher = responses(teacher_shapes, teacher_dim, 1)
    student = responses(student_shapes, student_dim, 2, requires_grad=True)
    out = method(teacher, student)
    student_maps = list(student.features.values())
    params = [*student_maps, student.embedding, *method.parameters()]
    grads = torch.autograd.grad(out["loss"], params)
    expected = dense_reviewkd(
        method,
        student_maps,
        student.embedding,
        list(teacher.features.values()),
        teacher.embedding,
        epoch + 1,  # mdistiller counts epochs from 1
    )
    dense_grads = torch.autograd.grad(expected, params)
    torch.testing.assert_close(out["loss"], expected, rtol=1e-12, atol=1e-12)
    levels = sum(out[f"hcl{k}"] for k in range(1, len(teacher_shapes) + 2))
    torch.testing.assert_close(levels * min((epoch + 1) / 20, 1.0), expected)
    for mine, reference in zip(grads, dense_grads):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("height", [8, 5, 4, 2, 1])
def test_hcl_equals_the_reference_per_level(height):
    generator = torch.Generator().manual_seed(height)
    s = torch.randn(3, 2, height, height, generator=generator, dtype=torch.float64)
    t = torch.randn(3, 2, height, height, generator=generator, dtype=torch.float64)
    s.requires_grad_(True)
    value = HierarchicalContextLoss()(s, t)
    expected = dense_hcl([s], [t])
    torch.testing.assert_close(value, expected, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(
        torch.autograd.grad(value, s)[0], torch.autograd.grad(expected, s)[0]
    )


def test_defaults_are_mdistillers():
    shapes = {"a": (4, 8, 8), "b": (8, 4, 4)}
    method = graphkd.create_method(
        "reviewkd", teacher_shapes=shapes, student_shapes=shapes, teacher_dim=8, student_dim=600
    )
    assert isinstance(method, ReviewKDDistiller)
    assert all(term.weight == 1.0 for term in method.terms) and method.ce_weight == 1.0
    assert method.warmup_epochs == 20
    assert [f.conv1.out_channels for f in method.fusions] == [512, 512, 512]  # min(512, 600)
    assert [f.attention is not None for f in method.fusions] == [True, True, False]
    for fusion in method.fusions:  # kaiming_uniform_(a=1): bound sqrt(3 / fan_in)
        for conv in (fusion.conv1, fusion.conv2):
            fan_in = conv.weight[0].numel()
            assert conv.weight.abs().max() <= math.sqrt(3.0 / fan_in)
            assert conv.bias is None


def test_warmup_follows_the_announced_epoch():
    shapes = {"a": (4, 8, 8)}
    method = make(shapes, shapes, 4, 4)
    factors = []
    for epoch in (0, 9, 19, 50):
        method.set_epoch(epoch)
        factors.append(method.warmup_factor())
    assert factors == [1 / 20, 10 / 20, 1.0, 1.0]
    assert make(shapes, shapes, 4, 4, warmup_epochs=0).warmup_factor() == 1.0
    assert make(shapes, shapes, 4, 4, warmup_epochs=1).warmup_factor() == 1.0


ZOO_PAIRS = [
    ("resnet32x4", "resnet8x4", None),
    ("resnet32x4", "ShuffleV1", None),
    ("resnet32x4", "ShuffleV2", None),
    ("wrn_40_2", "ShuffleV1", None),
    ("ResNet50", "MobileNetV2", None),
    ("vgg13", "vgg8", ["relu1", "relu2", "relu3", "relu4"]),
    ("vgg13", "MobileNetV2", ["relu1", "relu2", "relu3", "relu4"]),
]


def probe(arch):
    model = tap(create_model(arch, num_classes=100)).eval()
    with torch.no_grad():
        r = model(torch.zeros(1, 3, 32, 32))
    return {k: tuple(v.shape[1:]) for k, v in r.features.items()}, r.embedding.shape[1]


@pytest.mark.parametrize("teacher, student, vgg_levels", ZOO_PAIRS)
def test_the_recipes_zoo_pairs_build_with_mdistillers_widths(teacher, student, vgg_levels):
    (t_shapes, t_dim), (s_shapes, s_dim) = probe(teacher), probe(student)
    options = {}
    if vgg_levels is not None:
        options["teacher_features"] = vgg_levels
        if student.startswith("vgg"):
            options["student_features"] = vgg_levels
    method = graphkd.create_method(
        "reviewkd",
        teacher_shapes=t_shapes,
        student_shapes=s_shapes,
        teacher_dim=t_dim,
        student_dim=s_dim,
        **options,
    )
    # the original ReviewKD CIFAR-100 build_review_kd lists, shallow to deep
    student_in = {
        "resnet8x4": [64, 128, 256, 256],
        "ShuffleV1": [240, 480, 960, 960],
        "ShuffleV2": [116, 232, 464, 1024],
        "MobileNetV2": [12, 16, 48, 160, 1280],
        "vgg8": [128, 256, 512, 512, 512],
    }[student]
    assert [f.conv1.in_channels for f in method.fusions] == student_in
    assert [f.conv1.out_channels for f in method.fusions] == [min(512, student_in[-1])] * len(
        student_in
    )


def test_every_parameter_gets_a_finite_gradient_and_the_teacher_none():
    (teacher_shapes, teacher_dim), (student_shapes, student_dim) = CASES["smaller_student"]
    method = make(teacher_shapes, student_shapes, teacher_dim, student_dim)
    teacher = responses(teacher_shapes, teacher_dim, 1, requires_grad=True)
    student = responses(student_shapes, student_dim, 2, requires_grad=True)
    method(teacher, student)["loss"].backward()
    assert all(t.grad is None for t in (*teacher.features.values(), teacher.embedding))
    assert all(
        torch.isfinite(s.grad).all() for s in (*student.features.values(), student.embedding)
    )
    for name, parameter in method.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_reset_parameters_redraws_every_fusion():
    shapes = {"a": (4, 8, 8)}
    method = make(shapes, shapes, 4, 4)
    before = [p.clone() for p in method.parameters()]
    method.reset_parameters()
    changed = [not torch.equal(b, p) for b, p in zip(before, method.parameters())]
    assert sum(changed) >= 5  # conv1, conv2, attention weight, and the drawn batch norms
    assert all(torch.equal(bn.weight, torch.ones_like(bn.weight)) for bn in _batch_norms(method))


def _batch_norms(method):
    return [m for m in method.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_bad_inputs_are_rejected_with_the_fix():
    shapes = {"a": (4, 8, 8), "b": (6, 4, 4)}

    def create(**options):
        base = dict(teacher_shapes=shapes, student_shapes=shapes, teacher_dim=6, student_dim=6)
        return graphkd.create_method("reviewkd", **{**base, **options})

    with pytest.raises(ValueError, match="reviewkd needs teacher_shapes"):
        create(teacher_dim=None)
    with pytest.raises(ValueError, match="pairs levels by order"):
        create(student_features=["b"])
    with pytest.raises(ValueError, match=r"student_features names \['x'\]"):
        create(student_features=["a", "x"])
    with pytest.raises(ValueError, match="reviews spatial maps"):
        create(teacher_shapes={"a": (4,), "b": (6, 4, 4)}, teacher_features=["a", "b"])
    with pytest.raises(ValueError, match="warmup_epochs must be >= 0"):
        create(warmup_epochs=-1)

    method = make(shapes, shapes, 6, 6)
    teacher, student = responses(shapes, 6, 1), responses(shapes, 6, 2)
    del student.features["b"]
    with pytest.raises(ValueError, match=r"student's responses carry no feature 'b'"):
        method(teacher, student)
    student = responses({"a": (4, 8, 8), "b": (6, 3, 3)}, 6, 2)
    with pytest.raises(ValueError, match=r"has shape \(4, 6, 3, 3\) but student_shapes"):
        method(teacher, student)
    student = responses(shapes, 5, 2)
    with pytest.raises(ValueError, match="student_dim is 6"):
        method(teacher, student)
    student = responses(shapes, 6, 2)
    student.embedding = None
    with pytest.raises(ValueError, match="carry no pooled embedding"):
        method(teacher, student)
    teacher = responses(shapes, 6, 1)
    teacher.features["a"][0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="teacher feature 'a' contains NaN or Inf"):
        method(teacher, responses(shapes, 6, 2))
    float32 = graphkd.create_method(
        "reviewkd", teacher_shapes=shapes, student_shapes=shapes, teacher_dim=6, student_dim=6
    )
    with pytest.raises(ValueError, match=r"distiller.to\(torch.float64\)"):
        float32(responses(shapes, 6, 1), responses(shapes, 6, 2))
