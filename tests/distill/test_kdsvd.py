"""KD-SVD against dense translations of mdistiller's mdistiller/distillers/KDSVD.py (the
"width" layout) and RepDistiller's distiller_zoo/KDSVD.py (the "channels" layout)."""

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill.presets.kdsvd import KDSVDDistiller

B = 3
NAMES = ["layer1", "layer2", "layer3"]
# the "channels" layout needs paired channel counts equal, "width" paired widths equal
SHAPES = [(4, 6, 6), (6, 4, 4), (8, 3, 3)]


def on_names(**options):
    """The KDSVDDistiller pairing the stages NAMES of both networks."""
    return KDSVDDistiller(teacher_features=NAMES, student_features=NAMES, **options)


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


# --- dense reference, in other words -----------------------------------------------------------


def reference_svd(feature, n, layout):
    # mdistiller views (B, C, H, W) as (B, C*H, W); RepDistiller as (B, H*W, C)
    b, c, h, w = feature.shape
    if layout == "width":
        x = feature.reshape(b, c * h, w)
    else:
        x = feature.reshape(b, c, h * w).transpose(1, 2)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    v = vh.transpose(1, 2)[:, :, :n]  # (B, D, n) columns
    s = s[:, :n]
    return s / s.norm(dim=1, keepdim=True), v


def reference_align(student_v, teacher_v):
    # per teacher vector, the student candidate of largest |cosine|, with that cosine's sign
    cosine = student_v.transpose(1, 2) @ teacher_v  # (B, candidates, k)
    top = cosine.abs().max(dim=1, keepdim=True).values
    pick = torch.where(cosine.abs() == top, torch.sign(cosine), torch.zeros_like(cosine))
    return student_v @ pick


def reference_loss(students, teachers, k=1, layout="width", weight=1.0):
    previous = None
    total = 0.0
    for f_s, f_t in zip(students, teachers):
        s_t, v_t = reference_svd(f_t, k, layout)
        # graphkd fixes the teacher's sign (entries summing to >= 0); the reference keeps
        # LAPACK's, so the translation adopts graphkd's convention for the teacher
        v_t = v_t * torch.where(v_t.sum(1, keepdim=True) < 0, -1.0, 1.0)
        _, v_s = reference_svd(f_s, k + 3, layout)
        v_s = reference_align(v_s, v_t)
        v_t = v_t * s_t.unsqueeze(1)
        v_s = v_s * s_t.unsqueeze(1)
        if previous is not None:
            v_sb, v_tb = previous
            s_rbf = torch.exp(-((v_s.unsqueeze(2) - v_sb.unsqueeze(1)) ** 2) / 8)
            t_rbf = torch.exp(-((v_t.unsqueeze(2) - v_tb.unsqueeze(1)) ** 2) / 8)
            squared = (s_rbf - t_rbf.detach()) ** 2
            total = total + squared.sum() / f_s.shape[0]
        previous = (v_s, v_t)
    return weight * total


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("layout", ["channels", "width"])
def test_loss_and_gradients_equal_the_reference(layout, k):
    distiller = graphkd.create_method(
        "kdsvd", teacher_features=NAMES, student_features=NAMES, k=k, layout=layout, svd_eps=0.0
    )
    teacher = responses(SHAPES, 0)
    student = responses(SHAPES, 1, requires_grad=True)
    out = distiller(teacher, student)
    got = torch.autograd.grad(out["loss"], list(student.features.values()))

    maps = [f.detach().clone().requires_grad_(True) for f in student.features.values()]
    expected = reference_loss(maps, list(teacher.features.values()), k=k, layout=layout)
    want = torch.autograd.grad(expected, maps)
    assert out["loss"].dtype == torch.float64
    torch.testing.assert_close(out["loss"], expected, rtol=1e-10, atol=1e-12)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-7, atol=1e-10)
    first = reference_loss(maps[:2], list(teacher.features.values())[:2], k=k, layout=layout)
    torch.testing.assert_close(out["kdsvd_layer1_layer2"], first.detach(), rtol=1e-10, atol=1e-12)


def test_the_default_gradient_regularisation_stays_close_to_the_exact_gradient():
    teacher, student = responses(SHAPES, 0), responses(SHAPES, 1, requires_grad=True)
    exact = on_names(svd_eps=0.0)(teacher, student)["loss"]
    smooth = on_names()(teacher, student)["loss"]
    torch.testing.assert_close(smooth, exact)
    g_exact = torch.autograd.grad(exact, list(student.features.values()))
    g_smooth = torch.autograd.grad(smooth, list(student.features.values()))
    for a, b in zip(g_smooth, g_exact):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-6)


def test_graphs_are_bipartite_graphs_of_singular_vector_entries():
    distiller = on_names(k=2)
    teacher_graphs, student_graphs = distiller.build_graphs(
        responses(SHAPES, 0), responses(SHAPES, 1)
    )
    first_t, first_s = teacher_graphs["kdsvd_layer1_layer2"], student_graphs["kdsvd_layer1_layer2"]
    # channels layout: 4 lower entries to 6 upper entries per sample, k = 2 values per edge
    assert first_t.num_nodes == B * (4 + 6) and first_t.num_edges == B * 4 * 6
    assert first_t.edata["rbf"].shape == (B * 4 * 6, 2)
    assert first_s.src is first_t.src
    assert bool((first_t.edata["rbf"] > 0).all() and (first_t.edata["rbf"] <= 1).all())


def test_defaults_are_the_references():
    channels = {"layer1": 64, "layer2": 128, "layer3": 256}
    distiller = graphkd.create_method("kdsvd", teacher_channels=channels, student_channels=channels)
    assert distiller.k == 1 and [t.weight for t in distiller.terms] == [1.0, 1.0]
    assert distiller.ce_weight == 1.0 and distiller.layout == "channels"
    assert distiller.names == ["kdsvd_layer1_layer2", "kdsvd_layer2_layer3"]


def test_identical_maps_give_zero_and_finite_gradients():
    distiller = on_names()
    teacher = responses(SHAPES, 0)
    student = responses(SHAPES, 0, requires_grad=True)
    out = distiller(teacher, student)
    assert float(out["loss"].detach()) == pytest.approx(0.0, abs=1e-20)
    out["loss"].backward()
    assert all(torch.isfinite(f.grad).all() for f in student.features.values())


def test_zero_student_maps_give_finite_gradients():
    student = responses(SHAPES, 1, requires_grad=True)
    with torch.no_grad():
        for f in student.features.values():
            f.zero_()
    on_names()(responses(SHAPES, 0), student)["loss"].backward()
    assert all(torch.isfinite(f.grad).all() for f in student.features.values())


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="needs at least 2"):
        graphkd.create_method("kdsvd", teacher_features=["a"], student_features=["a"])
    with pytest.raises(ValueError, match="layout must be one of"):
        on_names(layout="rows")
    with pytest.raises(ValueError, match="k must be >= 1"):
        on_names(k=0)
    distiller = on_names()
    with pytest.raises(ValueError, match="'layer2' 5"):
        distiller(responses(SHAPES, 0), responses([(4, 6, 6), (5, 4, 4), (8, 3, 3)], 1))
    with pytest.raises(ValueError, match="singular vectors requested"):
        on_names(k=5)(responses(SHAPES, 0), responses(SHAPES, 1))
    bad = responses(SHAPES, 1)
    bad.features["layer2"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="student feature 'layer2' contains NaN"):
        distiller(responses(SHAPES, 0), bad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_maps_are_decomposed_in_float32(dtype):
    teacher, student = responses(SHAPES, 0), responses(SHAPES, 1)
    exact = on_names()(teacher, student)["loss"]

    def cast(r):
        return Responses(
            r.logits.to(dtype), features={k: v.to(dtype) for k, v in r.features.items()}
        )

    half = on_names()(cast(teacher), cast(student))["loss"]
    assert half.dtype == torch.float32
    torch.testing.assert_close(half.double(), exact, rtol=0.1, atol=1e-4)
