"""Edge transforms: keep one direction, drop intra-view edges, prune by mask or score."""

from __future__ import annotations

import torch
from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph


def keep_one_direction(graph: KnowledgeGraph) -> KnowledgeGraph:
    r"""Keep each edge in one direction only: :math:`(u, v)` with :math:`u < v`.

    Self-loops are dropped too. On a complete graph this removes the antisymmetric half.
    """
    return prune_by_mask(graph, graph.src < graph.dst)


def drop_intra_view(graph: KnowledgeGraph, view_field: str = "view") -> KnowledgeGraph:
    r"""Drop edges whose endpoints belong to the same view (``ndata[view_field]``)."""
    view = graph.field(view_field, "nodes")
    return prune_by_mask(graph, view[graph.src] != view[graph.dst])


def prune_by_mask(graph: KnowledgeGraph, keep: Tensor) -> KnowledgeGraph:
    r"""Keep the edges where ``keep`` (``(E,)`` bool) is true; node ids are preserved.

    Raises a ``ValueError`` when no edge survives.
    """
    if keep.numel() > 0 and not bool(keep.any()):
        raise ValueError(
            "pruning removed every edge of the graph; lower the drop fraction or check the "
            "mask (it must be true for the edges to keep)"
        )
    return graph.edge_subgraph(keep)


def percentile_mask(score: Tensor, drop_fraction: float) -> Tensor:
    r"""``(E,)`` bool mask that drops the ``floor(drop_fraction * E)`` highest scores.

    Exactly that many edges are dropped, ties broken by position (the earlier of equal
    scores is dropped first, as a stable descending sort orders them), so the fraction
    holds on every step. The product is rounded to 9 decimals before the floor, so that
    0.29 of 100 edges drops 29 (in floating point ``0.29 * 100`` is 28.999999999999996).
    Built with torch ops on ``score``'s device, in linear time: the threshold is a
    ``kthvalue`` selection, not a sort.

    .. math::
        \mathrm{keep}_e = \mathrm{rank}_{\downarrow}(s_e) \ge \lfloor m E \rfloor

    Example
    -------
    >>> import torch
    >>> percentile_mask(torch.tensor([0.1, 0.9, 0.5, 0.3]), 0.5).tolist()
    [True, False, False, True]
    >>> percentile_mask(torch.tensor([0.5, 0.5, 0.5, 0.1]), 0.5).tolist()  # ties: earlier first
    [False, False, True, True]
    """
    if not 0.0 <= drop_fraction < 1.0:
        raise ValueError(
            f"drop_fraction must lie in [0, 1), got {drop_fraction}; 0 keeps every edge"
        )
    score = score.detach().reshape(-1)
    dropped = int(round(drop_fraction * score.numel(), 9))
    num_keep = max(score.numel() - dropped, min(score.numel(), 1))
    if num_keep == score.numel():
        return torch.ones_like(score, dtype=torch.bool)
    largest_kept = torch.kthvalue(score, num_keep).values
    below = score < largest_kept
    tied = score == largest_kept
    # of the scores equal to the threshold, keep the last ones (by position) that fit
    tied_from_end = tied.flip(0).cumsum(0).flip(0)
    return below | (tied & (tied_from_end <= num_keep - below.sum()))


def prune_by_percentile(
    graph: KnowledgeGraph, score_field: str, drop_fraction: float
) -> KnowledgeGraph:
    r"""Drop the ``drop_fraction`` of edges with the highest ``edata[score_field]``."""
    return prune_by_mask(graph, percentile_mask(graph.field(score_field, "edges"), drop_fraction))
