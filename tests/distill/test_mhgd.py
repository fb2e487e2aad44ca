"""MHGD: both stages against dense references, stage bookkeeping, gradient clipping."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

import graphkd
from graphkd import Responses
from graphkd.distill.base import GradientStep
from graphkd.distill.presets.mhgd import MHGDDistiller, clip_transfer_gradients
from graphkd.distill.stage import Stage

B, H = 6, 2
# layer1: D <= HW (channel Gram); layer2, layer3: D > HW (position Gram)
SHAPES = {"layer1": (8, 4, 4), "layer2": (16, 2, 2), "layer3": (12, 3, 3)}
CHANNELS = {name: shape[0] for name, shape in SHAPES.items()}


def maps(seed, shapes=SHAPES, requires_grad=False, names=None):
    generator = torch.Generator().manual_seed(seed)
    names = names or list(shapes)
    features = {
        name: torch.rand(B, *shape, generator=generator, dtype=torch.float64)
        for name, shape in zip(names, shapes.values())
    }
    for feature in features.values():
        feature.requires_grad_(requires_grad)
    logits = torch.randn(B, 10, generator=generator, dtype=torch.float64)
    return Responses(logits, features=features)


def distiller(stage="transfer", **options):
    options = {"teacher_channels": CHANNELS, "student_channels": CHANNELS, "heads": H, **options}
    torch.manual_seed(0)
    method = graphkd.create_method("mhgd", **options).double()
    with torch.no_grad():  # trained-looking batch norms
        for network in method.attention:
            for bn in (network.theta[1], network.phi[1], network.value[1]):
                bn.running_mean.normal_(0, 0.1)
                bn.running_var.uniform_(0.01, 0.05)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.normal_(0, 0.1)
    method.set_stage(stage)
    return method


# --- dense references, written without graphkd's graphs or SVD ---------------------------


def dense_top(feature, k):
    x = feature.flatten(2).transpose(1, 2)
    vectors = torch.linalg.svd(x, full_matrices=False).Vh[:, :k]
    return vectors * torch.where(vectors.sum(-1, keepdim=True) < 0, -1.0, 1.0)


def dense_align(feature, reference, project=None):
    candidates = dense_top(feature, min(4, feature.shape[1], feature[0, 0].numel()))
    if project is not None:
        candidates = F.normalize(candidates @ project.t(), dim=-1)
    cosine = torch.einsum("bkd,bd->bk", candidates, reference)
    best = cosine.abs().argmax(1)
    rows = torch.arange(feature.shape[0])
    return candidates[rows, best] * torch.sign(cosine[rows, best]).unsqueeze(1)


def dense_bn(layers, x, training):
    y = x @ layers[0].weight.t()
    bn = layers[1]
    mean, var = (
        (y.mean(0), y.var(0, unbiased=False)) if training else (bn.running_mean, bn.running_var)
    )
    return (y - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def dense_scores(network, front, back, training=False):
    d2 = network.hidden_feats
    query = dense_bn(network.theta, back, training).view(B, H, d2)
    key = dense_bn(network.phi, front, training).view(B, H, d2)
    return torch.einsum("ihd,jhd->hij", query, key)


def dense_transfer(method, teacher, student, projections=None):
    projections = projections or {}
    t = [dense_top(f, 1)[:, 0] for f in teacher.features.values()]
    s = [
        dense_align(f, r, projections.get(p))
        for p, (f, r) in enumerate(zip(student.features.values(), t))
    ]
    total = 0.0
    for k, network in enumerate(method.attention):
        log_t = torch.log_softmax(torch.tanh(dense_scores(network, t[k], t[k + 1])), dim=-1)
        log_s = torch.log_softmax(torch.tanh(dense_scores(network, s[k], s[k + 1])), dim=-1)
        total = total + (log_s.exp() * (log_s - log_t)).sum()
    return total


def dense_estimation(method, teacher):
    t = [dense_top(f, 1)[:, 0] for f in teacher.features.values()]
    total = 0.0
    for k, network in enumerate(method.attention):
        attention = torch.softmax(dense_scores(network, t[k], t[k + 1]), dim=-1)
        value = torch.relu(dense_bn(network.value, t[k], False))
        mixed = torch.einsum("hij,jd->ihd", attention, value).reshape(B, -1)
        predicted = F.normalize(mixed @ network.out.weight.t() + network.out.bias, dim=1)
        total = total + (1 - (predicted * t[k + 1]).sum(1)).mean()
    return total


# --- the preset -----------------------------------------------------------------------------


def test_factory_builds_the_two_stage_distiller():
    method = graphkd.create_method("mhgd", teacher_channels=CHANNELS, student_channels=CHANNELS)
    assert isinstance(method, MHGDDistiller) and isinstance(method, graphkd.GraphMatchingDistiller)
    assert method.stages() == [
        Stage("attention", 40, "distiller"),
        Stage("transfer", None, "student"),
    ]
    assert method.stage == "attention" and method.ce_weight == 1.0
    assert method.gradient_clipping and method.stage1_epochs == 40 and method.l2_weight == 5e-4
    assert len(method.attention) == 2 and all(n.num_heads == 8 for n in method.attention)
    assert method.attention[1].hidden_feats == (16 + 12) // 2
    fewer = graphkd.create_method(
        "mhgd", teacher_channels=CHANNELS, student_channels=CHANNELS, heads=2
    )
    assert all(n.num_heads == 2 for n in fewer.attention)


def test_transfer_loss_equals_dense_kl():
    method = distiller(weight=0.7)
    teacher, student = maps(1), maps(2)
    out = method(teacher, student)
    expected = dense_transfer(method, teacher, student)
    torch.testing.assert_close(out["attention"], expected)
    torch.testing.assert_close(out["loss"], 0.7 * expected)
    assert out["attention"] > 0


def test_transfer_gradients_equal_dense_gradients_through_torch_svd():
    method = distiller(svd_eps=0.0)
    teacher = maps(1)
    student = maps(2, requires_grad=True)
    method(teacher, student)["loss"].backward()
    ours = [f.grad for f in student.features.values()]
    student = maps(2, requires_grad=True)
    dense_transfer(method, teacher, student).backward()
    for mine, reference in zip(ours, [f.grad for f in student.features.values()]):
        assert torch.isfinite(mine).all() and mine.abs().sum() > 0
        torch.testing.assert_close(mine, reference, rtol=1e-6, atol=1e-9)


def test_identical_networks_have_zero_transfer_loss():
    method = distiller()
    teacher = maps(1)
    assert method(teacher, teacher)["loss"].abs() < 1e-10


def test_teacher_side_gets_no_gradient():
    method = distiller()
    teacher, student = maps(1, requires_grad=True), maps(2, requires_grad=True)
    method(teacher, student)["loss"].backward()
    assert all(f.grad is None for f in teacher.features.values())


def reference_regulariser(method):
    """The reference's stage-1 penalty: 5e-4 * sum(v^2) over the attention networks' linear
    weights, the estimator's output bias and the batch norms' gamma and beta."""
    tensors = []
    for network in method.attention:
        for linear_bn in (network.theta, network.phi, network.value):
            tensors += [linear_bn[0].weight, linear_bn[1].weight, linear_bn[1].bias]
        tensors += [network.out.weight, network.out.bias]
    return 5e-4 * sum((v * v).sum() for v in tensors), len(tensors)


def test_stage_one_loss_equals_dense_estimation_and_the_reference_regulariser():
    method = distiller(stage="attention").eval()
    teacher = maps(1)
    out = method.stage_loss("attention", teacher)
    estimation = dense_estimation(method, teacher)
    penalty, count = reference_regulariser(method)
    assert count == len(list(method.attention.parameters())) == 11 * 2
    torch.testing.assert_close(out["estimation"], estimation)
    torch.testing.assert_close(5e-4 * out["l2"], penalty)
    torch.testing.assert_close(out["loss"], estimation + penalty)
    parameters = list(method.attention.parameters())
    ours = torch.autograd.grad(out["loss"], parameters)
    reference = torch.autograd.grad(estimation + penalty, parameters)
    for mine, expected in zip(ours, reference):
        torch.testing.assert_close(mine, expected)
    bias = method.attention[0].out.bias
    (penalty_grad,) = torch.autograd.grad(method.stage_loss("attention", teacher)["l2"], bias)
    torch.testing.assert_close(penalty_grad, 2 * bias.detach())  # no 1/2 in the penalty
    custom = distiller(stage="attention", l2_weight=1e-2).eval()
    out = custom.stage_loss("attention", teacher)
    torch.testing.assert_close(out["loss"], out["estimation"] + 1e-2 * out["l2"])


# --- stage bookkeeping ----------------------------------------------------------------------


def grads(module):
    return {name: p.grad for name, p in module.named_parameters()}


def test_stage_attention_trains_only_the_attention_networks():
    method = distiller(
        stage="attention",
        teacher_channels={**CHANNELS, "layer2": 16},
        student_channels={**CHANNELS, "layer2": 10},
        project=True,
    )
    method.train()
    assert all(p.requires_grad for p in method.parameters())
    assert all(m.training for m in method.modules())
    with pytest.raises(ValueError, match="set_stage\\('transfer'\\)"):
        method(maps(1), maps(2))
    teacher = maps(1, requires_grad=True)
    before = [bn.running_mean.clone() for bn in _batch_norms(method)]
    method.stage_loss("attention", teacher)["loss"].backward()
    for name, grad in grads(method).items():
        if name.startswith("attention."):
            assert grad is not None and torch.isfinite(grad).all(), name
        else:
            assert grad is None, name  # the projections
    assert all(f.grad is None for f in teacher.features.values())
    after = [bn.running_mean for bn in _batch_norms(method)]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))  # BN in training mode


def _batch_norms(method):
    return [m for m in method.attention.modules() if isinstance(m, torch.nn.BatchNorm1d)]


def test_stage_transfer_freezes_attention_and_holds_batch_norms_in_eval():
    shapes = {"layer1": (8, 4, 4), "layer2": (10, 2, 2), "layer3": (12, 3, 3)}
    method = distiller(stage="attention", student_channels={**CHANNELS, "layer2": 10}, project=True)
    method.set_stage("transfer")
    method.train()
    assert method.training and not any(m.training for m in method.attention.modules())
    assert all(not p.requires_grad for p in method.attention.parameters())
    assert all(p.requires_grad for p in method.projections.parameters())
    with pytest.raises(ValueError, match="set_stage\\('attention'\\)"):
        method.stage_loss("attention", maps(1))
    before = [bn.running_mean.clone() for bn in _batch_norms(method)]
    student = maps(2, shapes=shapes, requires_grad=True)
    method(maps(1), student)["loss"].backward()
    assert all(torch.equal(a, b.running_mean) for a, b in zip(before, _batch_norms(method)))
    for name, grad in grads(method).items():
        if name.startswith("attention."):
            assert grad is None, name
        else:
            assert grad is not None and torch.isfinite(grad).all(), name
    assert all(torch.isfinite(f.grad).all() for f in student.features.values())
    method.set_stage("attention")
    method.train()
    assert all(m.training for m in method.attention.modules())
    assert all(p.requires_grad for p in method.attention.parameters())


def test_unknown_stages_are_rejected():
    method = distiller()
    with pytest.raises(ValueError, match="stages 'attention' and 'transfer'"):
        method.set_stage("warmup")
    with pytest.raises(ValueError, match="only in stage 'attention'"):
        method.stage_loss("transfer", maps(1))


def test_both_stages_build_the_attention_graphs_and_only_transfer_distils():
    method = distiller(stage="attention").eval()  # inference-mode batch norms, no head drop
    teacher, student = maps(1), maps(2)
    in_attention = method.build_graphs(teacher, student)
    with pytest.raises(ValueError, match=r"call set_stage\('transfer'\) before distilling"):
        method(teacher, student)
    method.set_stage("transfer")
    in_transfer = method.build_graphs(teacher, student)
    for before, after in zip(in_attention, in_transfer):
        assert list(before) == list(after) == ["attention"]
        torch.testing.assert_close(
            before["attention"].edata["attention"], after["attention"].edata["attention"]
        )


def test_projection_equals_dense_reference():
    shapes = {"layer1": (8, 4, 4), "layer2": (10, 2, 2), "layer3": (12, 3, 3)}
    method = distiller(student_channels={**CHANNELS, "layer2": 10}, project=True)
    assert list(method.projections) == ["1"]
    teacher, student = maps(1), maps(2, shapes=shapes)
    weight = method.projections["1"].linear.weight
    assert method.projections["1"].linear.bias is None
    expected = dense_transfer(method, teacher, student, projections={1: weight})
    torch.testing.assert_close(method(teacher, student)["attention"], expected)


def test_student_feature_names_are_paired_by_order():
    names = ["conv1", "block2", "block3"]
    method = distiller(student_channels=dict(zip(names, CHANNELS.values())))
    teacher, student = maps(1), maps(2, names=names)
    expected = dense_transfer(method, teacher, student)
    torch.testing.assert_close(method(teacher, student)["attention"], expected)


def test_reset_parameters_reinitialises_attention_and_projections():
    method = distiller(student_channels={**CHANNELS, "layer2": 10}, project=True)
    before = {k: v.clone() for k, v in method.state_dict().items()}
    method.reset_parameters()
    after = method.state_dict()
    assert not torch.equal(
        before["projections.1.linear.weight"], after["projections.1.linear.weight"]
    )
    assert not torch.equal(
        before["attention.0.theta.0.weight"], after["attention.0.theta.0.weight"]
    )
    assert (after["attention.1.theta.1.running_var"] == 1).all()
    assert (after["attention.1.out.bias"] == 0).all()


def test_deepcopy_keeps_working_on_the_copy():
    method = distiller()
    clone = copy.deepcopy(method)
    assert clone.teacher_builder.__self__ is clone
    teacher, student = maps(1), maps(2)
    torch.testing.assert_close(clone(teacher, student)["loss"], method(teacher, student)["loss"])


def test_zoo_models_feed_it_through_their_default_taps():
    from graphkd.models import create_model, tap

    teacher = tap(create_model("resnet8", num_classes=10, input_size=16)).eval()
    student = tap(create_model("resnet8", num_classes=10, input_size=16))
    channels = {"layer1": 16, "layer2": 32, "layer3": 64}
    assert teacher.features == tuple(channels)
    method = graphkd.create_method("mhgd", teacher_channels=channels, student_channels=channels)
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        t = teacher(images)
    assert torch.isfinite(method.stage_loss("attention", t)["loss"])
    method.set_stage("transfer")
    loss = method(t, student(images))["loss"]
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in student.parameters() if p.grad is not None)


def test_configuration_errors_name_the_fix():
    with pytest.raises(ValueError, match="needs teacher_channels"):
        graphkd.create_method("mhgd")
    with pytest.raises(ValueError, match="needs student_channels"):
        MHGDDistiller(teacher_channels=CHANNELS)
    with pytest.raises(ValueError, match="project=True"):
        graphkd.create_method(
            "mhgd", teacher_channels=CHANNELS, student_channels={**CHANNELS, "layer3": 24}
        )
    with pytest.raises(ValueError, match="paired by order"):
        graphkd.create_method(
            "mhgd", teacher_channels=CHANNELS, student_channels={"layer1": 8, "layer2": 16}
        )
    with pytest.raises(ValueError, match="at least 2"):
        graphkd.create_method("mhgd", teacher_channels={"a": 4}, student_channels={"a": 4})
    with pytest.raises(ValueError, match="does not list"):
        graphkd.create_method(
            "mhgd",
            teacher_channels=CHANNELS,
            student_channels=CHANNELS,
            teacher_features=["layer1", "layer4"],
            student_features=["layer1", "layer2"],
        )
    method = distiller()
    teacher = maps(1)
    with pytest.raises(ValueError, match="no feature 'layer3'"):
        method(teacher, maps(2, shapes={k: SHAPES[k] for k in ("layer1", "layer2")}))
    with pytest.raises(ValueError, match="gives it 8 channels"):
        method(teacher, maps(2, shapes={**SHAPES, "layer1": (9, 4, 4)}))
    with pytest.raises(ValueError, match="batch size"):
        method(teacher, Responses(torch.randn(3, 10), features={}))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_feature_maps_get_a_clear_error(bad):
    method = distiller()
    teacher, student = maps(1), maps(2)
    student.features["layer2"][3, 0, 1, 1] = bad
    with pytest.raises(ValueError, match="student feature 'layer2' contains NaN or Inf values"):
        method(teacher, student)
    teacher.features["layer3"][0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match="teacher feature 'layer3' contains NaN or Inf"):
        method(teacher, maps(2))
    method.set_stage("attention")
    with pytest.raises(ValueError, match="teacher feature 'layer3' .* learning rate"):
        method.stage_loss("attention", teacher)


# --- gradient clipping ----------------------------------------------------------------------


def reference_combined_gradient(g_ce, g_dist, epoch, init_epoch=40):
    """The reference optimiser: g_ce + clip_by_norm(g_dist, ||g_ce|| * sigmoid(epoch - init)),
    clip_by_norm(t, c) = t * c / max(||t||, c)."""
    norm = g_ce.pow(2).sum().sqrt() / (1 + math.exp(-(epoch - init_epoch)))
    return g_ce + g_dist * norm / torch.maximum(g_dist.pow(2).sum().sqrt(), norm)


@pytest.mark.parametrize("epoch", [40, 43])
@pytest.mark.parametrize("clipping", [True, False])
def test_default_weighting_clips_the_transfer_gradient_as_the_reference(clipping, epoch):
    """Default: the reference's clipping; gradient_clipping=False: the plain weighted sum."""
    method = distiller(weight=30.0) if clipping else distiller(gradient_clipping=False)
    assert method.gradient_clipping == clipping
    teacher = maps(1)
    student = maps(2, requires_grad=True)
    params = list(student.features.values())

    def losses():
        ce = sum((f.mean((2, 3)) ** 2).sum() for f in params)
        return ce, method(teacher, student)["loss"]

    ce, transfer = losses()
    g_ce = torch.autograd.grad(ce, params)
    g_tr = torch.autograd.grad(transfer, params)
    method.combine_gradients(GradientStep(params, *losses(), epoch=epoch))
    clipped = 0
    for param, gc, gd in zip(params, g_ce, g_tr):
        if clipping:
            expected = reference_combined_gradient(gc, gd, epoch)
            clipped += int(gd.norm() > gc.norm() / (1 + math.exp(-(epoch - 40))))
        else:
            expected = gc + gd
        torch.testing.assert_close(param.grad, expected)
    if clipping:
        assert clipped > 0  # the clip is active somewhere


def test_clip_transfer_gradients_follows_the_reference_rule():
    torch.manual_seed(0)
    w1 = torch.nn.Parameter(torch.randn(3, 4))
    w2 = torch.nn.Parameter(torch.randn(5))
    extra = torch.nn.Parameter(torch.randn(2))
    x = torch.randn(7, 4)

    def losses():
        hidden = x @ w1.t()
        ce = (hidden.sum(1, keepdim=True) * w2).pow(2).mean()
        transfer = 50 * (hidden.tanh().sum() * w2.sum()) + 0.001 * w2.sum() + (extra * 3).sum()
        return ce, transfer

    expected = {}
    for name, param in (("w1", w1), ("w2", w2)):
        ce, transfer = losses()
        (g_ce,) = torch.autograd.grad(ce, param, retain_graph=True)
        (g_tr,) = torch.autograd.grad(transfer, param)
        limit = g_ce.norm() / (1 + math.exp(-(42 - 40)))
        scale = min(1.0, float(limit / g_tr.norm()))
        expected[name] = g_ce + scale * g_tr
    w2.grad = torch.ones(5)  # accumulates like backward()
    ce, transfer = losses()
    clip_transfer_gradients(
        [w1, w2], ce, transfer, epoch=42, stage1_epochs=40, extra_params=[extra]
    )
    torch.testing.assert_close(w1.grad, expected["w1"])
    torch.testing.assert_close(w2.grad, expected["w2"] + 1)
    torch.testing.assert_close(extra.grad, torch.full((2,), 3.0))
    ce, transfer = losses()
    (g_ce,) = torch.autograd.grad(ce, w1, retain_graph=True)
    (g_tr,) = torch.autograd.grad(transfer, w1)
    assert g_tr.norm() > g_ce.norm()  # the clip is active for w1


def test_clip_leaves_small_transfer_gradients_alone_and_ignores_frozen_parameters():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    frozen = torch.zeros(2, requires_grad=False)
    clip_transfer_gradients(
        [w, frozen], (10 * w).sum(), (0.1 * w).sum(), epoch=100, stage1_epochs=40
    )
    torch.testing.assert_close(w.grad, torch.tensor([10.1, 10.1]))
    assert frozen.grad is None
