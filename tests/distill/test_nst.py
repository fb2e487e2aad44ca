"""NST against a dense translation of mdistiller's mdistiller/distillers/NST.py."""

import pytest
import torch

import graphkd
from graphkd import Responses, ops
from graphkd.distill.presets.nst import MMD, NSTDistiller, graph_mmd

B = 4
NAMES = ["layer1", "layer2", "layer3"]


def on_names(**options):
    """The NSTDistiller pairing the stages NAMES of both networks."""
    return NSTDistiller(teacher_features=NAMES, student_features=NAMES, **options)


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


# --- dense reference: mdistiller mdistiller/distillers/NST.py, in other words ------------------


def reference_stage(student, teacher):
    hs, ht = student.shape[2], teacher.shape[2]
    if hs > ht:
        student = torch.nn.functional.adaptive_avg_pool2d(student, (ht, ht))
    if hs < ht:
        teacher = torch.nn.functional.adaptive_avg_pool2d(teacher, (hs, hs))

    def unit_rows(x):
        x = x.reshape(x.shape[0], x.shape[1], -1)
        return x / torch.sqrt((x * x).sum(2, keepdim=True)).clamp_min(1e-12)

    s, t = unit_rows(student), unit_rows(teacher)

    def kernel_mean(a, b):
        # entry [n, i, j] = (a_n,j . b_n,i)^2, one entry per channel pair of a sample
        dots = torch.einsum("njp,nip->nij", a, b)
        return (dots**2).mean()

    return kernel_mean(t, t).detach() + kernel_mean(s, s) - 2 * kernel_mean(s, t)


def reference_loss(students, teachers, weight=50.0):
    return weight * sum(reference_stage(s, t) for s, t in zip(students, teachers))


SAME = [(4, 8, 8), (6, 4, 4), (8, 2, 2)]
CASES = {
    "same sizes": (SAME, SAME),
    "other channels": ([(3, 8, 8), (5, 4, 4), (9, 2, 2)], SAME),
    "student larger": ([(4, 16, 16), (6, 8, 8), (8, 2, 2)], SAME),
    "student smaller": ([(5, 4, 4), (6, 2, 2), (8, 1, 1)], SAME),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loss_and_gradients_equal_the_reference(case):
    student_shapes, teacher_shapes = CASES[case]
    distiller = graphkd.create_method("nst", teacher_features=NAMES, student_features=NAMES)
    teacher = responses(teacher_shapes, 0)
    student = responses(student_shapes, 1, requires_grad=True)
    out = distiller(teacher, student)
    got = torch.autograd.grad(out["loss"], list(student.features.values()))

    maps = [f.detach().clone().requires_grad_(True) for f in student.features.values()]
    expected = reference_loss(maps, list(teacher.features.values()))
    want = torch.autograd.grad(expected, maps)
    assert out["loss"].dtype == torch.float64
    torch.testing.assert_close(out["loss"], expected, rtol=1e-12, atol=1e-14)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-14)
    for name, s, t in zip(NAMES, maps, teacher.features.values()):
        torch.testing.assert_close(out[f"nst_{name}"], reference_stage(s.detach(), t))


@pytest.mark.parametrize("case", ["same sizes", "other channels"])
def test_dense_forward_equals_the_explicit_kernel_graphs(case):
    student_shapes, teacher_shapes = CASES[case]
    distiller = on_names()
    teacher = responses(teacher_shapes, 0)
    student = responses(student_shapes, 1, requires_grad=True)
    out = distiller(teacher, student)
    teacher_graphs, student_graphs = distiller.build_graphs(teacher, student)
    from_graphs = sum(graph_mmd(teacher_graphs[k], student_graphs[k]) for k in distiller.names)
    torch.testing.assert_close(out["loss"], 50.0 * from_graphs, rtol=1e-12, atol=1e-14)
    got = torch.autograd.grad(out["loss"], list(student.features.values()))
    want = torch.autograd.grad(50.0 * from_graphs, list(student.features.values()))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-14)
    # topology: per sample C_t^2 teacher edges; C_s^2 student edges plus C_s C_t across
    (c_s, *_), (c_t, *_) = student_shapes[0], teacher_shapes[0]
    first_t, first_s = teacher_graphs["nst_layer1"], student_graphs["nst_layer1"]
    assert first_t.num_nodes == B * c_t and first_t.num_edges == B * c_t**2
    assert first_s.num_nodes == B * (c_s + c_t)
    assert int(first_s.edata["cross"].sum()) == B * c_s * c_t
    assert first_s.num_edges == B * (c_s**2 + c_s * c_t)


def recorded_choices(monkeypatch):
    """Records ``(computation, implementation)`` of NST's rewrite and the edge dot kernel."""
    calls = []
    for computation in (MMD, ops.KERNELS["edge_dot"]):
        for choice, function in computation.implementations.items():

            def recorded(*args, name=computation.name, choice=choice, function=function):
                calls.append((name, choice))
                return function(*args)

            monkeypatch.setitem(computation.implementations, choice, recorded)
    return calls


def loss_and_gradients(distiller, teacher_shapes, student_shapes):
    teacher = responses(teacher_shapes, 0)
    student = responses(student_shapes, 1, requires_grad=True)
    out = distiller(teacher, student)
    return out, torch.autograd.grad(out["loss"], list(student.features.values()))


@pytest.mark.parametrize("case", list(CASES))
def test_the_explicit_graphs_through_dgl_equal_the_gram_rewrite(case, monkeypatch):
    student_shapes, teacher_shapes = CASES[case]
    calls = recorded_choices(monkeypatch)
    rewritten, rewritten_grads = loss_and_gradients(on_names(), teacher_shapes, student_shapes)
    assert calls == [("nst", "gram")]
    calls.clear()
    with ops.use_backend("dgl"):
        explicit, explicit_grads = loss_and_gradients(on_names(), teacher_shapes, student_shapes)
    assert calls[0] == ("nst", "explicit")
    assert set(calls[1:]) == {("edge_dot", "dgl")} and len(calls) == 1 + 2 * len(NAMES)
    assert explicit.keys() == rewritten.keys()
    for key in rewritten:
        torch.testing.assert_close(explicit[key], rewritten[key], rtol=1e-12, atol=1e-14)
    for g, w in zip(explicit_grads, rewritten_grads):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-14)
    calls.clear()
    path_explicit, _ = loss_and_gradients(on_names(path="explicit"), teacher_shapes, student_shapes)
    assert calls[0] == ("nst", "explicit") and ("nst", "gram") not in calls
    torch.testing.assert_close(path_explicit["loss"], rewritten["loss"], rtol=1e-12, atol=1e-14)


def test_defaults_are_the_references():
    distiller = graphkd.create_method("nst", teacher_channels={"a": 1}, student_channels={"b": 1})
    assert distiller.weight == 50.0 and distiller.ce_weight == 1.0
    assert distiller.teacher_features == ["a"] and distiller.student_features == ["b"]


def test_identical_maps_give_zero_and_the_teacher_no_gradient():
    distiller = on_names()
    teacher = responses(SAME, 0, requires_grad=True)
    out = distiller(teacher, teacher)
    torch.testing.assert_close(out["loss"].detach(), torch.tensor(0.0, dtype=torch.float64))
    out["loss"].backward()
    # the student side is at the minimum: its gradient vanishes up to rounding
    for f in teacher.features.values():
        torch.testing.assert_close(f.grad, torch.zeros_like(f), rtol=0, atol=1e-12)


def test_gradient_is_finite_for_zero_student_maps():
    student = responses(SAME, 1, requires_grad=True)
    with torch.no_grad():
        for f in student.features.values():
            f.zero_()
    on_names()(responses(SAME, 0), student)["loss"].backward()
    assert all(torch.isfinite(f.grad).all() for f in student.features.values())


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="student_features=\\[...\\]"):
        graphkd.create_method("nst", teacher_features=["a"])
    with pytest.raises(ValueError, match="pairs the stage outputs by order"):
        graphkd.create_method("nst", teacher_features=["a", "b"], student_features=["a"])
    distiller = on_names()
    with pytest.raises(ValueError, match="carry no feature 'layer3'"):
        distiller(responses(SAME, 0), responses(SAME[:2], 1, names=NAMES[:2]))
    bad = responses(SAME, 1)
    bad.features["layer1"][1, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="student feature 'layer1' contains NaN or Inf"):
        distiller(responses(SAME, 0), bad)
