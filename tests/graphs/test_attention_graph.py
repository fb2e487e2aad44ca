"""Multi-head attention graph: scores, edge softmax and estimator against dense einsums."""

import math

import pytest
import torch
import torch.nn.functional as F

from graphkd.graphs.attention_graph import MultiHeadAttentionGraph
from graphkd.graphs.views import bipartite_graph
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops import edge_softmax, use_backend

B, D_F, D_K, H = 5, 6, 10, 3


def make_network(seed=0):
    torch.manual_seed(seed)
    network = MultiHeadAttentionGraph(D_F, D_K, num_heads=H).double()
    with torch.no_grad():  # non-trivial batch-norm statistics and affine parameters
        for bn in (network.theta[1], network.phi[1], network.value[1]):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_()
        network.out.bias.normal_()
    return network


def inputs():
    return torch.randn(B, D_F, dtype=torch.float64), torch.randn(B, D_K, dtype=torch.float64)


def dense_linear_bn(layers, x, training):
    linear, bn = layers[0], layers[1]
    y = x @ linear.weight.t()
    if training:
        mean, var = y.mean(0), y.var(0, unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    return (y - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def dense_scores(network, front, back, training=False):
    """S[h, i, j] = <theta_h(back_i), phi_h(front_j)>."""
    d2 = network.hidden_feats
    query = dense_linear_bn(network.theta, back, training).view(-1, H, d2)
    key = dense_linear_bn(network.phi, front, training).view(-1, H, d2)
    return torch.einsum("ihd,jhd->hij", query, key)


def dense_estimate(network, front, back, keep=None, training=False):
    attention = torch.softmax(dense_scores(network, front, back, training), dim=-1)
    value = torch.relu(dense_linear_bn(network.value, front, training))
    mixed = torch.einsum("hij,jd->ihd", attention, value)
    if keep is not None:
        mixed = mixed * keep.unsqueeze(-1)
    out = mixed.reshape(mixed.shape[0], -1) @ network.out.weight.t() + network.out.bias
    return F.normalize(out, dim=1)


def on_graph(edge_values):
    """(E, H) values of bipartite_graph(B, B), edge j * B + i -> dense (H, i, j)."""
    return edge_values.view(B, B, -1).permute(2, 1, 0)


def test_default_width_and_shapes():
    network = MultiHeadAttentionGraph(64, 128)
    assert network.hidden_feats == 96 and network.num_heads == 8
    assert network.theta[0].weight.shape == (8 * 96, 128)
    assert network.phi[0].weight.shape == (8 * 96, 64)
    assert network.value[0].weight.shape == (96, 64)
    assert network.out.weight.shape == (128, 8 * 96)
    assert network.theta[0].bias is None and network.phi[0].bias is None
    assert (network.out.bias == 0).all()


@pytest.mark.parametrize("training", [False, True])
def test_scores_equal_dense_einsum(training):
    network = make_network().train(training)
    front, back = inputs()
    scores = network(bipartite_graph(B, B), front, back)
    assert scores.shape == (B * B, H)
    expected = dense_scores(network, front, back, training)
    torch.testing.assert_close(on_graph(scores), expected)
    no_scaling = expected.abs().max() > 1.0  # not divided by sqrt(d)
    assert no_scaling


def test_edge_softmax_is_a_softmax_over_front_samples_per_back_sample():
    network = make_network().eval()
    front, back = inputs()
    graph = bipartite_graph(B, B)
    attention = edge_softmax(graph, network(graph, front, back))
    expected = torch.softmax(dense_scores(network, front, back), dim=-1)
    torch.testing.assert_close(on_graph(attention), expected)


def test_estimate_equals_dense_formula_in_eval_mode():
    network = make_network().eval()
    front, back = inputs()
    out = network.estimate(bipartite_graph(B, B), front, back)
    torch.testing.assert_close(out, dense_estimate(network, front, back))
    torch.testing.assert_close(out.norm(dim=1), torch.ones(B, dtype=torch.float64))


def test_head_drop_keeps_heads_above_the_mean_of_gaussian_noise_without_rescaling():
    network = make_network().train()
    front, back = inputs()
    torch.manual_seed(3)
    out = network.estimate(bipartite_graph(B, B), front, back)
    torch.manual_seed(3)
    noise = torch.randn(B, H)
    keep = (noise - noise.mean(1, keepdim=True) > 0).double()
    expected = dense_estimate(network, front, back, keep=keep, training=True)
    torch.testing.assert_close(out, expected)
    assert (keep.sum(1) >= 1).all() and (keep.sum(1) < H).any()
    network.head_drop = False
    torch.testing.assert_close(
        network.estimate(bipartite_graph(B, B), front, back),
        dense_estimate(network, front, back, training=True),
    )


def test_sparse_kernels_and_pruned_graphs_match_the_dense_block():
    network = make_network().eval()
    front, back = inputs()
    graph = bipartite_graph(B, B)
    block_scores = network(graph, front, back)
    with use_backend("torch"):
        torch.testing.assert_close(network(graph, front, back), block_scores)
        torch.testing.assert_close(
            network.estimate(graph, front, back), dense_estimate(network, front, back)
        )
    keep = torch.rand(B * B) < 0.6
    keep.view(B, B)[0] = True  # every back sample keeps its edge from front sample 0
    pruned = KnowledgeGraph(graph.src[keep], graph.dst[keep], 2 * B)
    scores = network(pruned, front, back)
    dense = dense_scores(network, front, back)
    mask = on_graph(keep.unsqueeze(1).expand(-1, H))
    torch.testing.assert_close(scores, on_graph_inverse(dense)[keep])
    attention = torch.softmax(dense.masked_fill(~mask, -math.inf), dim=-1)
    torch.testing.assert_close(edge_softmax(pruned, scores), on_graph_inverse(attention)[keep])


def on_graph_inverse(dense):
    """Dense (H, i, j) -> (E, H) in bipartite_graph(B, B) edge order."""
    return dense.permute(2, 1, 0).reshape(B * B, -1)


def test_every_parameter_gets_a_finite_gradient():
    network = make_network().train()
    front, back = inputs()
    back.requires_grad_(True)
    loss = (1 - (network.estimate(bipartite_graph(B, B), front, back) * back).sum(1)).mean()
    loss.backward()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert torch.isfinite(back.grad).all()


def test_linear_weights_start_from_tf_variance_scaling_fan_out():
    """TF's variance_scaling_initializer(factor=2, mode=FAN_OUT, uniform=False): a normal
    of scale s = sqrt(1.3 * 2 / fan_out) redrawn outside [-2s, 2s]; fan_out is out_feats."""
    torch.manual_seed(0)
    network = MultiHeadAttentionGraph(48, 80, num_heads=8)
    # truncated standard normal on [-2, 2]: variance 1 - 2 * 2 * pdf(2) / (cdf(2) - cdf(-2))
    pdf2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    unit_std = math.sqrt(1 - 4 * pdf2 / mass)
    inside_one = math.erf(1 / math.sqrt(2)) / mass  # P(|w| < s)
    linears = [network.theta[0], network.phi[0], network.value[0], network.out]
    for linear in linears:
        weight = linear.weight.detach().flatten().double()
        scale = math.sqrt(1.3 * 2.0 / linear.out_features)
        n = weight.numel()
        assert weight.abs().max() <= 2 * scale
        assert weight.abs().max() > 1.9 * scale  # the bounds are reached, not narrower
        assert abs(weight.mean()) < 5 * scale / math.sqrt(n)
        assert weight.std().item() == pytest.approx(scale * unit_std, rel=8 / math.sqrt(n))
        inside = (weight.abs() < scale).double().mean().item()
        assert inside == pytest.approx(inside_one, abs=5 * math.sqrt(0.25 / n))
    assert network.out.weight.std() > 2 * network.theta[0].weight.std()  # fan-out 80 vs 512


def test_reset_parameters_restores_the_initial_state():
    network = make_network()
    network.reset_parameters()
    assert (network.out.bias == 0).all()
    for bn in (network.theta[1], network.phi[1], network.value[1]):
        assert (bn.running_mean == 0).all() and (bn.running_var == 1).all()
        assert (bn.weight == 1).all() and (bn.bias == 0).all()


def test_bad_inputs_are_rejected():
    network = MultiHeadAttentionGraph(D_F, D_K, num_heads=H)
    front, back = torch.randn(B, D_F), torch.randn(B, D_K)
    with pytest.raises(ValueError, match="back embeddings of shape"):
        network(bipartite_graph(B, B), front, torch.randn(B, D_K + 1))
    with pytest.raises(ValueError, match=r"bipartite_graph\(5, 5\)"):
        network(bipartite_graph(B, B + 1), front, back)
    with pytest.raises(ValueError, match="from front to back"):
        reversed_edges = KnowledgeGraph(torch.tensor([B]), torch.tensor([0]), 2 * B)
        network(reversed_edges, front, back)
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttentionGraph(D_F, D_K, num_heads=0)
