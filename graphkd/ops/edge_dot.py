"""Per-edge inner product of endpoint features."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from graphkd._dgl import dgl
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import use_dgl_kernels
from graphkd.ops.dense_block import block_dot, uses_dense_block


def edge_dot(graph: KnowledgeGraph, src_feat: Tensor, dst_feat: Optional[Tensor] = None) -> Tensor:
    r"""Inner product of endpoint features along every edge, over the last dimension.

    .. math::
        e_{uv} = \langle x_u, y_v \rangle

    Parameters
    ----------
    graph : KnowledgeGraph
        ``E`` edges over ``N`` nodes.
    src_feat : Tensor
        ``(N, *, D)`` features read at edge sources (``*`` may hold heads).
    dst_feat : Tensor, optional
        ``(N, *, D)`` features read at edge destinations (default: ``src_feat``).

    Returns
    -------
    Tensor
        ``(E, *)``.

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0]), torch.tensor([1]), num_nodes=2)
    >>> edge_dot(g, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor([11.])
    """
    dst_feat = src_feat if dst_feat is None else dst_feat
    if uses_dense_block(graph):
        return block_dot(graph, src_feat, dst_feat)
    if use_dgl_kernels(src_feat.device):
        return dgl.ops.u_dot_v(graph.topology, src_feat, dst_feat).squeeze(-1)
    return (src_feat.index_select(0, graph.src) * dst_feat.index_select(0, graph.dst)).sum(-1)
