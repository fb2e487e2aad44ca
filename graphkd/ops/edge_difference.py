"""Per-edge difference of endpoint features."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import Kernel, dgl_kernel
from graphkd.ops.dense_block import block_difference


def _gathered_difference(graph: KnowledgeGraph, src_feat: Tensor, dst_feat: Tensor) -> Tensor:
    return src_feat.index_select(0, graph.src) - dst_feat.index_select(0, graph.dst)


EDGE_DIFFERENCE = Kernel(
    "edge_difference", block_difference, dgl_kernel("u_sub_v"), _gathered_difference
)


def edge_difference(
    graph: KnowledgeGraph, src_feat: Tensor, dst_feat: Optional[Tensor] = None
) -> Tensor:
    r"""Feature difference along every edge, source minus destination.

    .. math::
        e_{uv} = x_u - y_v

    Shapes: ``src_feat`` (read at edge sources) and ``dst_feat`` (at destinations;
    default ``src_feat``) ``(N, *)`` -> ``(E, *)`` (the conventions of :mod:`graphkd.ops`).

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0]), torch.tensor([1]), num_nodes=2)
    >>> edge_difference(g, torch.tensor([[3.0], [1.0]]))
    tensor([[2.]])
    """
    return EDGE_DIFFERENCE(graph, src_feat, src_feat if dst_feat is None else dst_feat)
