"""VRM: graphs vs dense tensors, Gram path vs explicit path, pruning, adaptor, errors."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import graphkd
from graphkd import Responses
from graphkd.distill.presets.vrm import (
    LogitAdaptor,
    RealVirtualGraphs,
    VRMDistiller,
    icv_graph,
    isv_graph,
    normalised_difference_mse,
)

OPTIONS = ("adaptor", "zscore", "virtual", "icv", "prune")
COMBINATIONS = [dict(zip(OPTIONS, values)) for values in itertools.product([True, False], repeat=5)]


# ---------------------------------------------------------------- dense reference


def dense_edges(real, virtual):
    """``(N, M, D)``: (x_i - y_j) / ||x_i - y_j||, 0 where equal."""
    difference = real[:, None, :] - virtual[None, :, :]
    return difference / difference.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def zscore_reference(x):
    return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-7)


def entropy_reference(logits):
    p = torch.softmax(logits, 1)
    return -(p * p.log()).sum(1)


def keep_reference(real, virtual, drop_fraction):
    score = (entropy_reference(real)[:, None] + entropy_reference(virtual)[None, :]).reshape(-1)
    keep = torch.ones_like(score, dtype=torch.bool)
    keep[torch.topk(score, int(drop_fraction * score.numel())).indices] = False
    return keep.reshape(real.shape[0], real.shape[0])


METRIC_REFERENCES = {
    "mse": lambda s, t: ((s - t) ** 2).mean(),
    "l1": lambda s, t: (s - t).abs().mean(),
    "smooth_l1": lambda s, t: F.smooth_l1_loss(s, t),
    "cosine": lambda s, t: (
        1 - (s * t).sum(-1) / (s.norm(dim=-1) * t.norm(dim=-1)).clamp_min(1e-16)
    ).mean(),
}


def dense_vrm(
    teacher,
    student,
    adaptor=None,
    alpha=128.0,
    beta=32.0,
    drop_fraction=0.25,
    metric="mse",
    zscore=True,
    virtual=True,
    icv=True,
    prune=True,
):
    """The whole VRM loss with B x B x C and C x C x B tensors, independent of graphkd."""

    def views(r):
        return (r.logits, r.virtual.logits) if virtual else (r.logits, r.logits)

    def prepare(x, adapt):
        x = adaptor(x) if adapt and adaptor is not None else x
        return zscore_reference(x) if zscore else x

    (tr, tv), (sr, sv) = views(teacher), views(student)
    tr, tv = prepare(tr.detach(), False), prepare(tv.detach(), False)
    raw_sr, raw_sv = sr, sv
    sr, sv = prepare(sr, True), prepare(sv, True)
    phi = METRIC_REFERENCES[metric]
    es, et = dense_edges(sr, sv), dense_edges(tr, tv)
    if prune:
        keep = keep_reference(raw_sr.detach(), raw_sv.detach(), drop_fraction)
        es, et = es[keep], et[keep]
    isv = phi(es, et)
    total = alpha * isv
    out = {"isv": isv}
    if icv:
        out["icv"] = phi(dense_edges(sr.t(), sv.t()), dense_edges(tr.t(), tv.t()))
        total = total + beta * out["icv"]
    out["loss"] = total
    return out


# ---------------------------------------------------------------- fixtures


def responses(batch=6, classes=5, seed=0, dtype=torch.float64, requires_grad=False, scale=3.0):
    generator = torch.Generator().manual_seed(seed)

    def logits():
        x = torch.randn(batch, classes, generator=generator, dtype=dtype) * scale
        return x.requires_grad_(requires_grad)

    return Responses(logits(), virtual=Responses(logits()))


def pair(**kwargs):
    teacher = responses(seed=kwargs.pop("seed", 0), **kwargs)
    student = responses(seed=100, requires_grad=True, **kwargs)
    return teacher, student


def distiller(classes=5, adaptor=True, **options):
    method = graphkd.create_method("vrm", num_classes=classes, adaptor=adaptor, **options).double()
    if adaptor:  # leave the identity start so the adaptor matters
        generator = torch.Generator().manual_seed(3)
        for parameter in method.student_builder.adaptor.out.parameters():
            parameter.data = (
                torch.randn(parameter.shape, generator=generator, dtype=torch.float64) * 0.3
            )
    return method


def gradients(method, teacher, student):
    leaves = [student.logits, student.virtual.logits, *method.parameters()]
    for leaf in leaves:
        leaf.grad = None
    out = method(teacher, student)
    out["loss"].backward()
    return out, [None if leaf.grad is None else leaf.grad.clone() for leaf in leaves]


# ---------------------------------------------------------------- graphs


def test_isv_edges_equal_dense_tensor():
    real, virtual = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    graph = isv_graph(real, virtual)
    assert graph.num_nodes == 12 and graph.num_edges == 36
    torch.testing.assert_close(graph.edata["edge"].reshape(6, 6, 5), dense_edges(real, virtual))


def test_icv_edges_equal_dense_tensor():
    real, virtual = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    graph = icv_graph(real, virtual)
    assert graph.num_nodes == 10 and graph.num_edges == 25
    expected = dense_edges(real.t(), virtual.t())  # (C, C, B)
    torch.testing.assert_close(graph.edata["edge"].reshape(5, 5, 6), expected)


def test_student_graphs_reuse_teacher_topology():
    teacher, student = pair()
    method = distiller()
    teacher_graphs, student_graphs = method.build_graphs(teacher, student)
    for name in ("isv", "icv"):
        assert student_graphs[name].src is teacher_graphs[name].src
    assert "keep" in student_graphs["isv"].edata and "keep" not in teacher_graphs["isv"].edata


# ---------------------------------------------------------------- losses


@pytest.mark.parametrize("metric", ["mse", "smooth_l1", "l1", "cosine"])
def test_explicit_path_equals_dense_reference(metric):
    teacher, student = pair()
    method = distiller(metric=metric, path="explicit")
    out, grads = gradients(method, teacher, student)
    teacher, student = pair()
    expected = dense_vrm(teacher, student, method.student_builder.adaptor, metric=metric)
    expected["loss"].backward()
    for key in ("loss", "isv", "icv"):
        torch.testing.assert_close(out[key], expected[key], rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(grads[0], student.logits.grad, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(grads[1], student.virtual.logits.grad, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "options", COMBINATIONS, ids=lambda o: "-".join(k for k, v in o.items() if v) or "none"
)
def test_gram_path_equals_explicit_path(options):
    teacher, student = pair()
    method = distiller(**options)
    assert method.path == "gram"
    gram, gram_grads = gradients(method, teacher, student)
    method.path = "explicit"
    explicit, explicit_grads = gradients(method, teacher, student)
    assert set(gram) == set(explicit) == {"loss", "isv"} | ({"icv"} if options["icv"] else set())
    for key in gram:
        torch.testing.assert_close(gram[key], explicit[key], rtol=1e-5, atol=1e-10)
    for mine, reference in zip(gram_grads, explicit_grads):
        if reference is None:
            assert mine is None or not mine.any()
            continue
        assert torch.isfinite(mine).all()
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-9)
    expected = dense_vrm(
        teacher,
        student,
        method.student_builder.adaptor,
        **{k: v for k, v in options.items() if k != "adaptor"},
    )
    torch.testing.assert_close(gram["loss"], expected["loss"], rtol=1e-5, atol=1e-10)


def test_gram_path_float32_agrees_with_explicit_path():
    teacher, student = pair(batch=32, classes=100, dtype=torch.float32)
    for virtual in (True, False):
        method = graphkd.create_method("vrm", num_classes=100, virtual=virtual)
        gram = method(teacher, student)
        method.path = "explicit"
        explicit = method(teacher, student)
        for key in ("isv", "icv"):
            torch.testing.assert_close(gram[key], explicit[key], rtol=1e-4, atol=1e-6)


def test_gram_loss_passes_gradcheck():
    generator = torch.Generator().manual_seed(5)

    def tensor(*shape, grad=False):
        return torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_(grad)

    xs, xd = tensor(4, 3, grad=True), tensor(5, 3, grad=True)
    ys, yd = tensor(4, 3), tensor(5, 3)
    keep = torch.rand(4, 5, generator=generator) > 0.3
    assert torch.autograd.gradcheck(
        lambda a, b: normalised_difference_mse(a, b, ys, yd, keep), (xs, xd)
    )


def test_gram_path_never_saves_edge_tensors():
    batch, classes = 16, 12
    teacher, student = pair(batch=batch, classes=classes)
    method = distiller(classes=classes)
    largest = []

    def pack(tensor):
        largest.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        method(teacher, student)["loss"].backward()
    # B x B and C x C Gram blocks, and both views' logits together (2B x C)
    assert max(largest) <= max(batch * batch, classes * classes, 2 * batch * classes)
    method.path = "explicit"
    largest.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        method(teacher, student)["loss"].backward()
    assert max(largest) >= batch * batch * classes  # the reference does materialise them


def test_path_choice():
    assert graphkd.create_method("vrm", adaptor=False).path == "gram"
    assert graphkd.create_method("vrm", adaptor=False, metric="l1").path == "explicit"
    assert graphkd.create_method("vrm", adaptor=False, path="explicit").path == "explicit"
    with pytest.raises(ValueError, match="Gram path computes the MSE metric only"):
        graphkd.create_method("vrm", adaptor=False, metric="cosine", path="gram")
    method = graphkd.create_method("vrm", adaptor=False, metric="cosine")
    method.path = "gram"
    with pytest.raises(ValueError, match="path='explicit'"):
        method(*pair())


# ---------------------------------------------------------------- pruning


@pytest.mark.parametrize("batch,fraction", [(2, 0.25), (6, 0.25), (7, 0.5), (10, 0.1), (5, 0.0)])
def test_pruning_removes_exactly_the_requested_fraction(batch, fraction):
    teacher, student = pair(batch=batch)
    builder = RealVirtualGraphs(drop_fraction=fraction)
    keep = builder.keep(student)
    assert int((~keep).sum()) == math.floor(fraction * batch * batch)
    expected = keep_reference(student.logits.detach(), student.virtual.logits.detach(), fraction)
    assert torch.equal(keep, expected)
    graphs = builder(student)
    assert torch.equal(graphs["isv"].edata["keep"], keep.reshape(-1))


def test_pruning_follows_the_student_not_the_teacher():
    teacher, student = pair()
    method = distiller()
    _, graphs = method.build_graphs(teacher, student)
    expected = keep_reference(student.logits.detach(), student.virtual.logits.detach(), 0.25)
    assert torch.equal(graphs["isv"].edata["keep"], expected.reshape(-1))


def test_pruning_is_recomputed_every_step():
    method = distiller()
    _, first = method.build_graphs(*pair(seed=0))
    teacher, student = pair(seed=0)
    student = Responses(student.logits.flip(0), virtual=student.virtual)
    _, second = method.build_graphs(teacher, student)
    assert not torch.equal(first["isv"].edata["keep"], second["isv"].edata["keep"])


# ---------------------------------------------------------------- adaptor and flags


def test_adaptor_is_identity_at_start_and_residual_mlp():
    adaptor = LogitAdaptor(5).double()
    z = torch.randn(4, 5, dtype=torch.float64)
    assert torch.equal(adaptor(z), z)
    torch.nn.init.normal_(adaptor.out.weight)
    expected = (
        z + torch.relu(z @ adaptor.hidden.weight.t() + adaptor.hidden.bias) @ adaptor.out.weight.t()
    )
    torch.testing.assert_close(adaptor(z), expected)
    adaptor.reset_parameters()
    assert not adaptor.out.weight.any() and not adaptor.out.bias.any()


def test_adaptor_trains_with_the_distiller():
    method = distiller()
    names = [name for name, _ in method.named_parameters()]
    assert names and all(name.startswith("student_builder.adaptor.") for name in names)
    assert any(name.startswith("student_builder.adaptor.") for name in method.state_dict())
    _, grads = gradients(method, *pair())
    assert all(g is not None and torch.isfinite(g).all() for g in grads[2:])
    assert grads[2].abs().sum() > 0


def test_trainer_flags():
    method = graphkd.create_method("vrm", num_classes=5)
    assert isinstance(method, VRMDistiller) and isinstance(method, graphkd.GraphMatchingDistiller)
    assert method.needs_virtual_view and method.ce_on_virtual_view and method.ce_weight == 1.0
    assert [t.weight for t in method.terms] == [128.0, 32.0]
    ablation = graphkd.create_method("vrm", num_classes=5, virtual=False)
    assert not ablation.needs_virtual_view and not ablation.ce_on_virtual_view
    teacher = Responses(torch.randn(6, 5))
    student = Responses(torch.randn(6, 5, requires_grad=True))
    assert torch.isfinite(ablation(teacher, student)["loss"])


def test_teacher_gets_no_gradient():
    teacher, student = pair()
    teacher.logits.requires_grad_(True)
    teacher.virtual.logits.requires_grad_(True)
    for path in ("gram", "explicit"):
        method = distiller(path=path)
        method(teacher, student)["loss"].backward()
        assert teacher.logits.grad is None and teacher.virtual.logits.grad is None


# ---------------------------------------------------------------- degenerate and bad input


@pytest.mark.parametrize("path", ["gram", "explicit"])
@pytest.mark.parametrize("case", ["views", "all", "constant"])
def test_identical_logits_stay_finite(path, case):
    base = torch.randn(6, 5)
    if case == "all":
        base = base[:1].expand(6, 5)
    if case == "constant":
        base = torch.ones(6, 5)
    real = base.clone().requires_grad_(True)
    virtual = base.clone().requires_grad_(True)
    student = Responses(real, virtual=Responses(virtual))
    teacher = Responses(base.clone(), virtual=Responses(base.clone()))
    method = graphkd.create_method("vrm", num_classes=5, path=path)
    out = method(teacher, student)
    out["loss"].backward()
    assert all(torch.isfinite(value) for value in out.values())
    for grad in (real.grad, virtual.grad, *[p.grad for p in method.parameters()]):
        assert grad is not None and torch.isfinite(grad).all()


def test_gram_path_zero_differences_match_explicit_features():
    x = torch.randn(4, 3, dtype=torch.float64)
    y = torch.randn(4, 3, dtype=torch.float64)
    # student real == virtual (every diagonal difference zero), teacher generic
    expected = ((dense_edges(x, x) - dense_edges(x, y)) ** 2).mean()
    torch.testing.assert_close(normalised_difference_mse(x, x, x, y), expected)


def test_class_count_mismatch_is_rejected():
    teacher, _ = pair(classes=5)
    _, student = pair(classes=4)
    with pytest.raises(ValueError, match="VRM relates logits.*same number of classes"):
        graphkd.create_method("vrm", adaptor=False)(teacher, student)


@pytest.mark.parametrize("who", ["teacher", "student"])
def test_missing_virtual_view_says_how_to_enable_it(who):
    teacher, student = pair()
    if who == "teacher":
        teacher = Responses(teacher.logits)
    else:
        student = Responses(student.logits)
    for path in ("gram", "explicit"):
        with pytest.raises(ValueError, match="no virtual view.*TwoViews"):
            graphkd.create_method("vrm", adaptor=False, path=path)(teacher, student)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_drop_fraction_outside_unit_interval_is_rejected(fraction):
    with pytest.raises(ValueError, match=r"drop_fraction must lie in \[0, 1\)"):
        graphkd.create_method("vrm", adaptor=False, drop_fraction=fraction)


def test_other_bad_options_and_inputs():
    with pytest.raises(ValueError, match="num_classes=C"):
        graphkd.create_method("vrm")
    with pytest.raises(ValueError, match="unknown metric 'kl'"):
        graphkd.create_method("vrm", adaptor=False, metric="kl")
    with pytest.raises(ValueError, match="unknown path"):
        graphkd.create_method("vrm", adaptor=False, path="sparse")
    teacher, student = pair()
    with pytest.raises(ValueError, match="built for 7 classes"):
        graphkd.create_method("vrm", num_classes=7).double()(teacher, student)
    teacher8, _ = pair(batch=8)
    with pytest.raises(ValueError, match="batch size 8 but the student's 6"):
        graphkd.create_method("vrm", adaptor=False)(teacher8, student)
    odd = Responses(student.logits, virtual=Responses(student.logits[:4]))
    with pytest.raises(ValueError, match="virtual view's"):
        graphkd.create_method("vrm", adaptor=False)(teacher, odd)
    with torch.no_grad():
        student.virtual.logits[0, 0] = float("nan")
    with pytest.raises(ValueError, match="student virtual-view logits contains NaN"):
        graphkd.create_method("vrm", adaptor=False)(teacher, student)
    one = Responses(torch.randn(1, 5), virtual=Responses(torch.randn(1, 5)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        graphkd.create_method("vrm", adaptor=False)(one, one)


@pytest.mark.parametrize("batch, classes", [(24, 7), (6, 30)])
def test_fused_gram_path_equals_explicit_path_with_tied_pruning_scores(batch, classes):
    teacher, student = pair(batch=batch, classes=classes)
    with torch.no_grad():  # repeated rows: many equal joint entropies at the pruning threshold
        student.logits[batch // 2 :] = student.logits[: batch - batch // 2]
        student.virtual.logits[1::2] = student.virtual.logits[0:-1:2][: batch // 2]
    method = graphkd.create_method("vrm", adaptor=False)
    gram, gram_grads = gradients(method, teacher, student)
    method.path = "explicit"
    explicit, explicit_grads = gradients(method, teacher, student)
    for key in ("loss", "isv", "icv"):
        torch.testing.assert_close(gram[key], explicit[key], rtol=1e-9, atol=1e-12)
    for mine, reference in zip(gram_grads, explicit_grads):
        torch.testing.assert_close(mine, reference, rtol=1e-8, atol=1e-11)
