"""Transforms: direction, views, pruning by mask and by percentile; networkx export."""

import pytest
import torch

from graphkd.graphs import (
    complete_graph,
    drop_intra_view,
    keep_one_direction,
    percentile_mask,
    prune_by_mask,
    prune_by_percentile,
    to_networkx,
)


def test_keep_one_direction_and_drop_intra_view_leave_real_to_virtual():
    g = complete_graph(4)
    g.ndata["view"] = torch.tensor([0, 0, 1, 1])
    result = drop_intra_view(keep_one_direction(g))
    assert set(zip(result.src.tolist(), result.dst.tolist())) == {(0, 2), (0, 3), (1, 2), (1, 3)}


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.9])
def test_percentile_mask_drops_exact_fraction_of_highest(fraction):
    score = torch.randn(40)
    keep = percentile_mask(score, fraction)
    num_drop = int(fraction * 40)
    assert int((~keep).sum()) == num_drop
    if num_drop:
        assert score[~keep].min() >= score[keep].max()


def test_percentile_mask_rejects_bad_fraction():
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            percentile_mask(torch.randn(4), bad)


def test_prune_by_percentile_and_mask():
    g = complete_graph(3)
    g.edata["score"] = torch.arange(9.0)
    pruned = prune_by_percentile(g, "score", 1 / 3)
    assert pruned.num_edges == 6 and pruned.edata["score"].max() == 5
    with pytest.raises(ValueError, match="removed every edge"):
        prune_by_mask(g, torch.zeros(9, dtype=torch.bool))


def test_to_networkx_carries_fields():
    g = complete_graph(3, self_loops=False)
    g.ndata["h"] = torch.arange(6.0).view(3, 2)
    g.edata["w"] = torch.arange(6.0)
    nxg = to_networkx(g, node_fields=["h"], edge_fields=["w"])
    assert nxg.number_of_nodes() == 3 and nxg.number_of_edges() == 6
    assert nxg.nodes[1]["h"] == [2.0, 3.0]
    assert nxg.edges[int(g.src[4]), int(g.dst[4])]["w"] == 4.0


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("levels", [3, 1000])
def test_percentile_mask_equals_a_stable_descending_sort_with_ties(fraction, levels):
    score = torch.randint(0, levels, (257,)).float()  # few levels: many ties
    order = torch.sort(score, descending=True, stable=True).indices
    expected = torch.ones(257, dtype=torch.bool)
    expected[order[: int(fraction * 257)]] = False
    assert torch.equal(percentile_mask(score, fraction), expected)
