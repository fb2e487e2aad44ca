"""graphkd.ops: DGL and PyTorch kernels equal dense references, values and gradients."""

import pytest
import torch

from graphkd import KnowledgeGraph, ops

BACKENDS = ["dgl", "torch"]


def random_graph(num_nodes=6, num_edges=15, seed=0):
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (num_edges,), generator=generator)
    dst = torch.randint(0, num_nodes, (num_edges,), generator=generator)
    return KnowledgeGraph(src, dst, num_nodes)


def run_both(fn):
    """fn() under each backend -> list of (outputs, grads)."""
    results = []
    for backend in BACKENDS:
        with ops.use_backend(backend):
            results.append(fn())
    return results


def leaf(*shape):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_edge_difference(backend):
    g = random_graph()
    x, y = leaf(6, 3), leaf(6, 3)
    with ops.use_backend(backend):
        out = ops.edge_difference(g, x, y)
    torch.testing.assert_close(out, x[g.src] - y[g.dst])
    out.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(6, 4), (6, 2, 4)])
def test_edge_dot(backend, shape):
    g = random_graph()
    x, y = leaf(*shape), leaf(*shape)
    with ops.use_backend(backend):
        out = ops.edge_dot(g, x, y)
    torch.testing.assert_close(out, (x[g.src] * y[g.dst]).sum(-1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("heads", [None, 3])
def test_edge_softmax_matches_dense_softmax(backend, heads):
    g = random_graph()
    scores = leaf(g.num_edges) if heads is None else leaf(g.num_edges, heads)
    with ops.use_backend(backend):
        out = ops.edge_softmax(g, scores)
    expected = torch.empty_like(scores)
    for node in range(g.num_nodes):
        incoming = (g.dst == node).nonzero().flatten()
        if len(incoming):
            expected[incoming] = torch.softmax(scores[incoming], dim=0)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("heads", [None, 3])
def test_edge_log_softmax_matches_dense_log_softmax_and_stays_finite(backend, heads):
    g = random_graph()
    scores = leaf(g.num_edges) if heads is None else leaf(g.num_edges, heads)
    far = scores * 1000.0  # exp underflows: the log of edge_softmax would be -inf
    with ops.use_backend(backend):
        out, far_out = ops.edge_log_softmax(g, scores), ops.edge_log_softmax(g, far)
    for given, result in ((scores, out), (far, far_out)):
        expected = torch.empty_like(given)
        for node in range(g.num_nodes):
            incoming = (g.dst == node).nonzero().flatten()
            if len(incoming):
                expected[incoming] = torch.log_softmax(given[incoming], dim=0)
        torch.testing.assert_close(result, expected)
    assert torch.isfinite(far_out).all()
    (grad,) = torch.autograd.grad(far_out.sum(), scores)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("trailing", [(), (2,)])
def test_incoming_edge_max_is_zero_at_nodes_without_incoming_edges(backend, trailing):
    g = KnowledgeGraph(torch.tensor([0, 1, 2, 0]), torch.tensor([1, 1, 3, 3]), num_nodes=5)
    e = leaf(4, *trailing) - 10.0  # negative maxima, unlike the 0 of nodes without edges
    with ops.use_backend(backend):
        out = ops.incoming_edge_max(g, e)
    expected = torch.zeros(5, *trailing, dtype=torch.float64)
    expected[1] = torch.maximum(e[0], e[1])
    expected[3] = torch.maximum(e[2], e[3])
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(6,), (6, 3)])
def test_destination_feature(backend, shape):
    g = random_graph()
    x = leaf(*shape)
    with ops.use_backend(backend):
        out = ops.destination_feature(g, x)
    expected = torch.stack([x[int(v)] for v in g.dst])
    torch.testing.assert_close(out, expected)
    weights = torch.randn(out.shape, dtype=torch.float64)
    (grad,) = torch.autograd.grad((out * weights).sum(), x)
    expected_grad = torch.zeros_like(x)
    for index, v in enumerate(g.dst.tolist()):
        expected_grad[v] += weights[index]
    torch.testing.assert_close(grad, expected_grad)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(), (3,)])
def test_divide_by_destination(backend, shape):
    g = random_graph()
    e = leaf(g.num_edges, *shape)
    x = leaf(6, *((1,) if shape else ())).exp()  # broadcast over the edge feature dim
    with ops.use_backend(backend):
        out = ops.divide_by_destination(g, e, x)
    expected = torch.stack([e[i] / x[int(v)] for i, v in enumerate(g.dst)])
    torch.testing.assert_close(out, expected)
    weights = torch.randn(out.shape, dtype=torch.float64)
    grads = torch.autograd.grad((out * weights).sum(), [e, x])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [e, x])
    for mine, reference in zip(grads, expected_grads):
        torch.testing.assert_close(mine, reference)


@pytest.mark.parametrize("backend", BACKENDS)
def test_neighbour_and_edge_sums(backend):
    g = random_graph()
    x, e = leaf(6, 3), leaf(g.num_edges, 2)
    adjacency = torch.zeros(6, 6, dtype=torch.float64)
    adjacency.index_put_(
        (g.dst, g.src), torch.ones(g.num_edges, dtype=torch.float64), accumulate=True
    )
    with ops.use_backend(backend):
        summed = ops.neighbour_sum(g, x)
        edge_summed = ops.incoming_edge_sum(g, e)
    torch.testing.assert_close(summed, adjacency @ x)
    expected = torch.zeros(6, 2, dtype=torch.float64)
    for index in range(g.num_edges):
        expected[g.dst[index]] += e[index]
    torch.testing.assert_close(edge_summed, expected)


def test_backends_agree_on_gradients():
    g = random_graph()
    x = leaf(6, 4)

    def loss():
        x.grad = None
        scores = ops.edge_dot(g, x)
        value = (ops.edge_softmax(g, scores) * ops.edge_difference(g, x).sum(-1)).sum()
        value = (
            value + ops.neighbour_sum(g, x).pow(2).sum() + ops.incoming_edge_sum(g, scores).sum()
        )
        value.backward()
        return value.detach(), x.grad.clone()

    (v_dgl, g_dgl), (v_torch, g_torch) = run_both(loss)
    torch.testing.assert_close(v_dgl, v_torch)
    torch.testing.assert_close(g_dgl, g_torch)


def test_backend_selection_and_errors():
    assert ops.current_backend() == "auto"
    with pytest.raises(ValueError, match="unknown ops backend"):
        ops.set_backend("cuda")
    with ops.use_backend("torch"):
        assert ops.current_backend() == "torch"
    assert ops.current_backend() == "auto"
    assert ops.dgl_supports(torch.device("cpu"))


def test_unsupported_device_uses_torch_kernels(monkeypatch):
    from graphkd import _dgl

    monkeypatch.setitem(_dgl._dgl_devices, "cpu", False)
    g = random_graph()
    x = leaf(6, 3)
    torch.testing.assert_close(ops.edge_difference(g, x), x[g.src] - x[g.dst])
    assert g._topology is None  # no DGL graph was needed
    with ops.use_backend("dgl"), pytest.raises(ValueError, match="cannot hold graphs"):
        ops.edge_difference(g, x)


@pytest.mark.parametrize("make", ["complete", "bipartite"])
def test_dense_block_path_equals_sparse_kernels(make):
    from graphkd.graphs import bipartite_graph, complete_graph

    g = complete_graph(5) if make == "complete" else bipartite_graph(3, 4)
    assert g.block is not None
    n = g.num_nodes
    x, heads = leaf(n, 4), leaf(n, 2, 4)
    e = leaf(g.num_edges, 3)
    results = {}
    for backend in ["auto", "dgl", "torch"]:
        with ops.use_backend(backend):
            scores = ops.edge_dot(g, x)
            values = [
                ops.edge_difference(g, x),
                scores,
                ops.edge_dot(g, heads),
                ops.edge_softmax(g, scores),
                ops.edge_softmax(g, ops.edge_dot(g, heads)),
                ops.neighbour_sum(g, x),
                ops.incoming_edge_sum(g, e),
                ops.destination_feature(g, x),
                ops.divide_by_destination(g, e, x[:, :1].exp()),
                ops.divide_by_destination(g, scores, x[:, 0].exp()),
                ops.edge_log_softmax(g, scores),
                ops.edge_log_softmax(g, ops.edge_dot(g, heads)),
                ops.incoming_edge_max(g, e),
            ]
            total = sum(v.pow(2).sum() for v in values)
            grads = torch.autograd.grad(total, [x, heads, e])
            results[backend] = (values, grads)
    for backend in ["dgl", "torch"]:
        for mine, theirs in zip(
            results["auto"][0] + list(results["auto"][1]),
            results[backend][0] + list(results[backend][1]),
        ):
            torch.testing.assert_close(mine, theirs)


def test_block_must_match_edge_count():
    with pytest.raises(ValueError, match="describes 4 edges"):
        KnowledgeGraph(torch.tensor([0]), torch.tensor([1]), 2, block=(0, 2, 0, 2))


def test_subgraph_and_batch_drop_the_block():
    from graphkd.graphs import complete_graph

    g = complete_graph(3)
    assert g.same_topology().block == g.block
    assert g.edge_subgraph(torch.ones(9, dtype=torch.bool)).block is None
    assert KnowledgeGraph.batch([g, g]).block is None


def test_self_gram_has_exact_gradients_and_works_under_autocast():
    from graphkd.ops.dense_block import self_gram

    x = leaf(7, 3)
    assert torch.autograd.gradcheck(self_gram, (x,))
    weights = torch.randn(7, 7, dtype=torch.float64)
    (grad,) = torch.autograd.grad((self_gram(x) * weights).sum(), x)
    (expected,) = torch.autograd.grad(((x @ x.t()) * weights).sum(), x)
    torch.testing.assert_close(grad, expected)
    y = x.detach().float().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gram = self_gram(y)
    gram.float().sum().backward()
    assert gram.dtype == torch.bfloat16 and y.grad.dtype == torch.float32


def reference_normalize_incoming(g, e, eps):
    """Loop over nodes: each node's incoming values over max(their L2 norm, eps)."""
    out = torch.empty_like(e)
    for node in range(g.num_nodes):
        incoming = (g.dst == node).nonzero().flatten()
        if len(incoming):
            squares = e[incoming].pow(2).sum(0)
            through = squares.detach().sqrt() >= eps  # below eps: the constant eps
            scale = torch.where(through, torch.where(through, squares, 1.0).sqrt(), eps)
            out[incoming] = e[incoming] / scale
    return out


@pytest.mark.parametrize("backend", ["auto", "dgl", "torch"])
@pytest.mark.parametrize("make", ["random", "complete"])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_normalize_incoming_matches_reference(backend, make, shape):
    from graphkd.graphs import complete_graph

    g = random_graph() if make == "random" else complete_graph(5)
    e = torch.randn(g.num_edges, *shape, dtype=torch.float64)
    e[g.dst == 2] = 0.0  # a node whose incoming values are all zero
    e[g.dst == 3] *= 1e-14  # ... and one whose norm is clamped at eps
    e.requires_grad_(True)
    weights = torch.randn(e.shape, dtype=torch.float64)
    with ops.use_backend(backend):
        out = ops.normalize_incoming(g, e, eps=1e-12)
    (grad,) = torch.autograd.grad((out * weights).sum(), e)
    expected = reference_normalize_incoming(g, e, 1e-12)
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), e)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad, expected_grad)
    assert out[g.dst == 2].eq(0).all()


def test_normalize_incoming_dense_block_gradcheck():
    from graphkd.graphs import complete_graph

    g = complete_graph(4)
    e = leaf(g.num_edges, 2)
    assert torch.autograd.gradcheck(lambda v: ops.normalize_incoming(g, v), (e,))
