"""Per-edge inner product of endpoint features."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from graphkd._dgl import dgl
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import Kernel
from graphkd.ops.dense_block import block_dot


def _dgl_dot(graph: KnowledgeGraph, src_feat: Tensor, dst_feat: Tensor) -> Tensor:
    """DGL's ``u_dot_v`` without its trailing singleton dim."""
    return dgl.ops.u_dot_v(graph.topology, src_feat, dst_feat).squeeze(-1)


def _gathered_dot(graph: KnowledgeGraph, src_feat: Tensor, dst_feat: Tensor) -> Tensor:
    return (src_feat.index_select(0, graph.src) * dst_feat.index_select(0, graph.dst)).sum(-1)


EDGE_DOT = Kernel("edge_dot", block_dot, _dgl_dot, _gathered_dot)


def edge_dot(graph: KnowledgeGraph, src_feat: Tensor, dst_feat: Optional[Tensor] = None) -> Tensor:
    r"""Inner product of endpoint features along every edge, over the last dimension.

    .. math::
        e_{uv} = \langle x_u, y_v \rangle

    Shapes: ``src_feat`` (read at edge sources) and ``dst_feat`` (at destinations;
    default ``src_feat``) ``(N, *, D)`` -> ``(E, *)``, the last dim ``D`` summed over
    (the conventions of :mod:`graphkd.ops`).

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0]), torch.tensor([1]), num_nodes=2)
    >>> edge_dot(g, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor([11.])
    """
    return EDGE_DOT(graph, src_feat, src_feat if dst_feat is None else dst_feat)
