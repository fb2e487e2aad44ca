"""Topologies: complete, kNN, bipartite views and class graphs against brute force."""

import itertools

import pytest
import torch

from graphkd.graphs import bipartite_graph, class_graph, complete_graph, knn_graph, view_graph


def edge_set(g):
    return set(zip(g.src.tolist(), g.dst.tolist()))


@pytest.mark.parametrize("self_loops", [True, False])
def test_complete_graph(self_loops):
    g = complete_graph(4, self_loops=self_loops)
    expected = {(u, v) for u, v in itertools.product(range(4), repeat=2) if self_loops or u != v}
    assert edge_set(g) == expected and g.num_edges == len(expected)
    if self_loops:  # row-major order: edge (u, v) sits at u * N + v
        assert g.src.tolist()[5] == 1 and g.dst.tolist()[5] == 1


def test_complete_graph_needs_two_nodes():
    with pytest.raises(ValueError, match="at least 2 samples"):
        complete_graph(1)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("include_self", [True, False])
def test_knn_graph_equals_brute_force(metric, include_self):
    x = torch.randn(10, 5)
    k = 4
    g = knn_graph(x, k, metric=metric, include_self=include_self)
    assert g.in_degrees().tolist() == [k] * 10
    for i in range(10):
        distances = []
        for j in range(10):
            if i == j:
                continue
            if metric == "cosine":
                d = 1 - torch.dot(x[i], x[j]) / (x[i].norm() * x[j].norm())
            else:
                d = (x[i] - x[j]).norm()
            distances.append((float(d), j))
        others = [j for _, j in sorted(distances)][: k - 1 if include_self else k]
        expected = set(others) | ({i} if include_self else set())
        assert set(g.src[g.dst == i].tolist()) == expected


def test_knn_graph_errors():
    with pytest.raises(ValueError, match="lower k or raise the batch size"):
        knn_graph(torch.randn(5, 3), k=6)
    with pytest.raises(ValueError, match="lower k"):
        knn_graph(torch.randn(5, 3), k=5, include_self=False)
    with pytest.raises(ValueError, match="unknown kNN metric"):
        knn_graph(torch.randn(5, 3), k=2, metric="manhattan")
    with pytest.raises(ValueError, match="at least 2"):
        knn_graph(torch.randn(1, 3), k=1)


def test_knn_graph_does_not_track_gradients():
    x = torch.randn(6, 3, requires_grad=True)
    g = knn_graph(x, 3)
    assert not g.src.requires_grad


def test_bipartite_and_view_graphs():
    g = bipartite_graph(2, 3)
    assert edge_set(g) == {(i, 2 + j) for i in range(2) for j in range(3)}
    real, virtual = torch.randn(3, 4), torch.randn(3, 4)
    v = view_graph(real, virtual)
    torch.testing.assert_close(v.ndata["h"], torch.cat([real, virtual]))
    assert v.ndata["view"].tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="same images"):
        view_graph(real, torch.randn(3, 5))


def test_class_graphs():
    scores, virtual = torch.randn(5, 3), torch.randn(5, 3)
    g = class_graph(scores)
    torch.testing.assert_close(g.ndata["h"], scores.t())
    assert g.num_edges == 9
    gv = class_graph(scores, virtual)
    torch.testing.assert_close(gv.ndata["h"], torch.cat([scores.t(), virtual.t()]))
    assert gv.num_edges == 9 and gv.num_nodes == 6
