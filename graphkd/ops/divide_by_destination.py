"""Edge values divided by a feature of their destination node."""

from __future__ import annotations

from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import Kernel, dgl_kernel
from graphkd.ops.dense_block import block_divide_by_destination


def _divide_gathered(graph: KnowledgeGraph, efeat: Tensor, feat: Tensor) -> Tensor:
    return efeat / feat.index_select(0, graph.dst)


DIVIDE_BY_DESTINATION = Kernel(
    "divide_by_destination", block_divide_by_destination, dgl_kernel("e_div_v"), _divide_gathered
)


def divide_by_destination(graph: KnowledgeGraph, efeat: Tensor, feat: Tensor) -> Tensor:
    r"""Divide every edge's value by its destination's feature (e.g. a per-node normaliser).

    .. math::
        e'_{uv} = \frac{e_{uv}}{x_v}

    The same as ``efeat / destination_feature(graph, feat)`` without materialising the
    per-edge copy of ``feat``: on a dense block it is one broadcast division.

    Shapes: ``efeat`` ``(E, *)`` and ``feat`` ``(N, *)``, its trailing dims broadcastable
    against ``efeat``'s, -> ``(E, *)`` (the conventions of :mod:`graphkd.ops`).

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1, 2]), torch.tensor([1, 1, 0]), num_nodes=3)
    >>> divide_by_destination(g, torch.tensor([4.0, 8.0, 9.0]), torch.tensor([3.0, 4.0, 5.0]))
    tensor([1., 2., 3.])
    """
    return DIVIDE_BY_DESTINATION(graph, efeat, feat)
