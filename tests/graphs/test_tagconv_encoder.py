"""TAGConvEncoder: DGL's TAGConv(k=1) and the PyTorch path against closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F

from graphkd import KnowledgeGraph, ops
from graphkd.graphs import knn_graph
from graphkd.graphs.tagconv_encoder import TAGConvEncoder

BACKENDS = ["dgl", "torch"]


def encoder(in_feats=6, out_feats=5, **options):
    return TAGConvEncoder(in_feats, out_feats, **options).double()


def linear(module, x):
    return x @ module.conv.lin.weight.t() + module.conv.lin.bias


def hkd_graph(batch=12, classes=7, k=4):
    logits = torch.randn(batch, classes, dtype=torch.float64) * 3
    return knn_graph(torch.softmax(logits, dim=1), k, metric="cosine", include_self=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_on_a_knn_prediction_graph_it_is_linear_over_self_and_neighbour_mean(backend):
    k = 4
    graph = hkd_graph(k=k)
    h = torch.randn(graph.num_nodes, 6, dtype=torch.float64)
    module = encoder()
    with ops.use_backend(backend):
        out = module(graph, h)
    # closed form: W [h_i ; (1/k) sum over the k in-neighbours of i] + b, then L2-normalised
    mean = torch.stack([h[graph.src[graph.dst == i]].mean(0) for i in range(graph.num_nodes)])
    expected = F.normalize(linear(module, torch.cat([h, mean], dim=1)), dim=1)
    torch.testing.assert_close(out, expected)
    # the kNN graph's out-degrees differ from node to node; only in-degrees enter
    out_degrees = torch.bincount(graph.src, minlength=graph.num_nodes)
    assert graph.in_degrees().tolist() == [k] * graph.num_nodes
    assert out_degrees.min() != out_degrees.max()


@pytest.mark.parametrize("backend", BACKENDS)
def test_irregular_graph_uses_in_degree_normalisation_on_both_ends(backend):
    src = torch.tensor([0, 1, 2, 2, 3, 0, 4])
    dst = torch.tensor([1, 1, 1, 3, 0, 0, 1])  # node 2 and node 4 receive nothing
    graph = KnowledgeGraph(src, dst, num_nodes=5)
    h = torch.randn(5, 6, dtype=torch.float64)
    module = encoder(normalise=False)
    with ops.use_backend(backend):
        out = module(graph, h)
    degree = [max(1, int((dst == i).sum())) for i in range(5)]
    hop = torch.zeros_like(h)
    for u, v in zip(src.tolist(), dst.tolist()):
        hop[v] += h[u] / math.sqrt(degree[u] * degree[v])
    torch.testing.assert_close(out, linear(module, torch.cat([h, hop], dim=1)))


def test_dgl_and_torch_paths_agree_in_values_and_gradients():
    graph = hkd_graph(batch=16, k=5)
    module = encoder()
    results = []
    for backend in BACKENDS:
        module.zero_grad()
        h = torch.randn(16, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
        h.requires_grad_(True)
        with ops.use_backend(backend):
            out = module(graph, h)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads = [h.grad] + [p.grad.clone() for p in module.parameters()]
        assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
        results.append((out.detach(), grads))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b)


def test_gradient_check():
    graph = hkd_graph(batch=6, k=3)
    module = encoder(in_feats=3, out_feats=2)
    h = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    for backend in BACKENDS:
        with ops.use_backend(backend):
            assert torch.autograd.gradcheck(lambda x: module(graph, x), (h,))


def test_leaves_no_fields_on_the_graph():
    graph = hkd_graph()
    graph.ndata["keep"] = torch.zeros(graph.num_nodes)
    encoder()(graph, torch.randn(graph.num_nodes, 6, dtype=torch.float64))
    assert list(graph.ndata) == ["keep"] and not graph.edata
    assert not graph.topology.ndata and not graph.topology.edata


def test_reset_parameters_redraws_weight_and_bias():
    module = TAGConvEncoder(128, 128)
    before = [p.detach().clone() for p in module.parameters()]
    module.reset_parameters()
    after = list(module.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    assert module.conv.lin.bias.abs().max() <= 1 / math.sqrt(256)
    assert module.conv.lin.weight.shape == (128, 256)


def test_wrong_feature_shape_is_rejected():
    graph = hkd_graph()
    with pytest.raises(ValueError, match=r"shape \(12, 6\).*got \(12, 5\)"):
        encoder()(graph, torch.randn(12, 5, dtype=torch.float64))
