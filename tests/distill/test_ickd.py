"""ICKD against a dense translation of the authors' loss.

Reference: the authors' repository ADLab-AutoDrive/ICKD, ``Cifar100/distiller_zoo/ICKD.py``
(``ICKDLoss.batch_loss``: the student map through ``Embed``, a bias-free 1x1 convolution
to the teacher's channels and a batch norm; per sample the C x C Gram matrix of the
channels, each row L2-normalised; the squared difference summed and divided by C times
the batch), with the settings of ``Cifar100/train_student.py`` and ``Cifar100/README.md``
(the map ``feat[-2]``, the last stage; ``feat_dim`` the teacher's channels;
``-r 1 -a 1 -b 2.5``; KD temperature 4 as RepDistiller's ``DistillKL``).
"""

import math

import pytest
import torch

import graphkd
from graphkd import Responses
from graphkd.distill.presets.ickd import ICKDDistiller, channel_graph

B = 4
T_CHANNELS = {"layer1": 3, "layer2": 6}
S_CHANNELS = {"layer1": 2, "layer2": 5}


def responses(channels, seed, size=3, requires_grad=False, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    features = {
        name: torch.randn(B, c, size, size, generator=generator, dtype=dtype).requires_grad_(
            requires_grad
        )
        for name, c in channels.items()
    }
    logits = torch.randn(B, 7, generator=generator, dtype=dtype).requires_grad_(requires_grad)
    return Responses(logits, features=features)


def make(**options):
    torch.manual_seed(0)
    method = graphkd.create_method(
        "ickd", teacher_channels=T_CHANNELS, student_channels=S_CHANNELS, **options
    ).double()
    with torch.no_grad():  # a batch norm that is not the identity
        method.embed.bn.weight.uniform_(0.5, 1.5)
        method.embed.bn.bias.normal_(0, 0.3)
    return method


# --- the reference, written out densely in float64 ----------------------------------------


def dense_embed(x, weight, gamma, beta):
    """Embed: 1x1 convolution without bias, then batch norm with the batch's biased
    statistics (training mode, eps 1e-5)."""
    y = torch.einsum("oc,bchw->bohw", weight[:, :, 0, 0], x)
    mean = y.mean(dim=(0, 2, 3), keepdim=True)
    var = ((y - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (y - mean) / torch.sqrt(var + 1e-5) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def dense_correlation(f):
    """Per sample: channels x positions, its Gram, each row divided by its L2 norm."""
    rows = f.flatten(2)
    gram = rows @ rows.transpose(1, 2)
    norms = torch.sqrt((gram**2).sum(dim=2, keepdim=True)).clamp_min(1e-12)
    return gram / norms


def dense_ickd(student_map, teacher_map, embed):
    s = dense_embed(student_map, embed.conv.weight, embed.bn.weight, embed.bn.bias)
    diff = dense_correlation(s) - dense_correlation(teacher_map)
    batch, channels = s.shape[0], s.shape[1]
    return (diff * diff).sum() / (channels * batch)


def dense_kd(student_logits, teacher_logits, tau=4.0):
    """RepDistiller's DistillKL: KL(p_t || p_s) summed, over the batch, times tau^2."""
    log_p_s = torch.log_softmax(student_logits / tau, dim=1)
    p_t = torch.softmax(teacher_logits / tau, dim=1)
    return (p_t * (torch.log(p_t) - log_p_s)).sum() / student_logits.shape[0] * tau**2


@pytest.mark.parametrize("kd_weight", [1.0, 0.0])
@pytest.mark.parametrize("student_size", [3, 2])
def test_loss_and_gradients_equal_the_dense_reference(kd_weight, student_size):
    method = make(kd_weight=kd_weight)
    teacher = responses(T_CHANNELS, 1)
    student = responses(S_CHANNELS, 2, size=student_size, requires_grad=True)
    out = method(teacher, student)
    params = [student.features["layer2"], student.logits, *method.parameters()]
    grads = torch.autograd.grad(out["loss"], params, allow_unused=True)
    ickd = dense_ickd(student.features["layer2"], teacher.features["layer2"], method.embed)
    expected = 2.5 * ickd + kd_weight * dense_kd(student.logits, teacher.logits)
    dense_grads = torch.autograd.grad(expected, params, allow_unused=True)
    torch.testing.assert_close(out["loss"], expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out["ickd"], ickd, rtol=1e-12, atol=1e-12)
    assert ("kd" in out) == bool(kd_weight)
    for mine, reference in zip(grads, dense_grads):
        if mine is None or reference is None:  # no KD term: no gradient to the logits
            assert not kd_weight and all(g is None or not g.any() for g in (mine, reference))
        else:
            torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)


def test_channel_graph_is_the_row_normalised_gram_per_sample():
    feature = torch.randn(3, 4, 2, 5, dtype=torch.float64)
    graph = channel_graph(feature)
    assert (graph.num_nodes, graph.num_edges, graph.batch_num_nodes) == (12, 48, [4, 4, 4])
    dense = dense_correlation(feature)
    torch.testing.assert_close(graph.edata["correlation"].view(3, 4, 4), dense)
    # edge (u -> v) of member b carries M_b[u, v]
    b, u, v = 2, 1, 3
    edge = ((graph.src == b * 4 + u) & (graph.dst == b * 4 + v)).nonzero().item()
    torch.testing.assert_close(graph.edata["correlation"][edge], dense[b, u, v])
    assert torch.equal(graph.ndata["channel"], feature.reshape(12, 10))
    other = channel_graph(torch.randn(3, 4, 7, dtype=torch.float64), like=graph)
    assert other.src is graph.src and other.dst is graph.dst


def test_an_all_zero_map_gives_zero_rows_and_finite_gradients():
    feature = torch.zeros(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    graph = channel_graph(feature)
    assert not graph.edata["correlation"].any()
    graph.edata["correlation"].sum().backward()
    assert torch.isfinite(feature.grad).all()


def test_defaults_are_the_authors():
    method = graphkd.create_method("ickd", teacher_channels=T_CHANNELS, student_channels=S_CHANNELS)
    assert isinstance(method, ICKDDistiller)
    assert (method.teacher_feature, method.student_feature) == ("layer2", "layer2")
    assert method.terms[0].weight == 2.5 and method.kd_weight == 1.0 and method.ce_weight == 1.0
    assert method.kd.tau == 4.0
    conv = method.embed.conv
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.bias) == (
        5,
        6,
        (1, 1),
        None,
    )
    assert method.embed.bn.num_features == 6


def test_every_parameter_gets_a_finite_gradient_and_the_teacher_none():
    method = make()
    teacher = responses(T_CHANNELS, 1, requires_grad=True)
    student = responses(S_CHANNELS, 2, requires_grad=True)
    method(teacher, student)["loss"].backward()
    assert teacher.features["layer2"].grad is None and teacher.logits.grad is None
    assert torch.isfinite(student.features["layer2"].grad).all()
    for name, parameter in method.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_reset_parameters_redraws_the_embedding():
    method = make()
    before = method.embed.conv.weight.clone()
    method.reset_parameters()
    assert not torch.equal(before, method.embed.conv.weight)
    assert torch.equal(method.embed.bn.weight, torch.ones(6, dtype=torch.float64))


def test_bad_inputs_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match="ickd needs teacher_channels"):
        graphkd.create_method("ickd", student_channels=S_CHANNELS)
    with pytest.raises(ValueError, match="student_feature 'x' is not among"):
        graphkd.create_method(
            "ickd", teacher_channels=T_CHANNELS, student_channels=S_CHANNELS, student_feature="x"
        )
    with pytest.raises(ValueError, match="taps no features"):
        graphkd.create_method("ickd", teacher_channels={}, student_channels=S_CHANNELS)
    method = make()
    teacher, student = responses(T_CHANNELS, 1), responses(S_CHANNELS, 2)
    del teacher.features["layer2"]
    with pytest.raises(ValueError, match=r"teacher's responses carry no feature 'layer2'"):
        method(teacher, student)
    teacher = responses({"layer1": 3, "layer2": 4}, 1)
    with pytest.raises(ValueError, match=r"expects \(B, 6, H, W\)"):
        method(teacher, student)
    teacher = responses(T_CHANNELS, 1)
    teacher.features["layer2"][1, 0, 0, 0] = math.inf
    with pytest.raises(ValueError, match="teacher feature 'layer2' contains NaN or Inf"):
        method(teacher, student)
    float32 = graphkd.create_method(
        "ickd", teacher_channels=T_CHANNELS, student_channels=S_CHANNELS
    )
    with pytest.raises(ValueError, match=r"distiller.to\(torch.float64\)"):
        float32(responses(T_CHANNELS, 1), responses(S_CHANNELS, 2))
