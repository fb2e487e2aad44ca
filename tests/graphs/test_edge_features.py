"""Edge featurisers against dense formulas; finite at identical samples."""

import pytest
import torch
import torch.nn.functional as F

from graphkd.graphs import complete_graph, edge_features


def dense(fn_of_pair, x):
    n = x.shape[0]
    return torch.stack([fn_of_pair(x[u], x[v]) for u in range(n) for v in range(n)])


@pytest.fixture
def x():
    return torch.randn(5, 4, dtype=torch.float64, requires_grad=True)


def test_difference_distance_dot_cosine(x):
    g = complete_graph(5)
    torch.testing.assert_close(edge_features.difference(g, x), dense(lambda a, b: a - b, x))
    torch.testing.assert_close(edge_features.distance(g, x), dense(lambda a, b: (a - b).norm(), x))
    torch.testing.assert_close(edge_features.dot(g, x), dense(torch.dot, x))
    torch.testing.assert_close(
        edge_features.cosine(g, x), dense(lambda a, b: torch.dot(a, b) / (a.norm() * b.norm()), x)
    )


def test_normalised_difference(x):
    g = complete_graph(5, self_loops=False)
    expected = torch.stack([(x[u] - x[v]) / (x[u] - x[v]).norm() for u, v in zip(g.src, g.dst)])
    torch.testing.assert_close(edge_features.normalised_difference(g, x), expected)


def test_rkd_angle_equals_triplet_cosines(x):
    g = complete_graph(5)
    angles = edge_features.rkd_angle(g, x)
    for e, (u, v) in enumerate(zip(g.src.tolist(), g.dst.tolist())):
        for k in range(5):
            a, b = x[u] - x[v], x[k] - x[v]
            expected = (
                0.0 if a.norm() == 0 or b.norm() == 0 else torch.dot(a, b) / (a.norm() * b.norm())
            )
            torch.testing.assert_close(angles[e, k], torch.as_tensor(expected, dtype=torch.float64))


def test_identical_samples_stay_finite():
    x = torch.ones(4, 3, requires_grad=True)
    g = complete_graph(4)
    total = sum(
        f(g, x).sum()
        for f in (
            edge_features.distance,
            edge_features.normalised_difference,
            edge_features.cosine,
            edge_features.rkd_angle,
        )
    )
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(x.grad).all()


def test_rkd_angle_needs_one_graph(x):
    from graphkd import KnowledgeGraph

    batched = KnowledgeGraph.batch([complete_graph(5), complete_graph(5)])
    with pytest.raises(ValueError, match="one graph"):
        edge_features.rkd_angle(batched, torch.cat([x, x]))
    assert F.normalize(torch.zeros(1, 2)).abs().sum() == 0
