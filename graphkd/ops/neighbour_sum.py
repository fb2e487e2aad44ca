"""Sums of neighbour features and of incoming edge features at each node."""

from __future__ import annotations

import torch
from torch import Tensor

from graphkd._dgl import dgl
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import use_dgl_kernels
from graphkd.ops.dense_block import (
    block_incoming_edge_sum,
    block_neighbour_sum,
    uses_dense_block,
)


def neighbour_sum(graph: KnowledgeGraph, feat: Tensor) -> Tensor:
    r"""Sum of source-node features over the incoming edges of each node.

    .. math::
        h_v = \sum_{u \in \mathcal{N}(v)} x_u

    Parameters
    ----------
    graph : KnowledgeGraph
        ``E`` edges over ``N`` nodes.
    feat : Tensor
        ``(N, *)`` node features.

    Returns
    -------
    Tensor
        ``(N, *)``; zero at nodes without incoming edges.

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([2, 2]), num_nodes=3)
    >>> neighbour_sum(g, torch.tensor([[1.0], [2.0], [5.0]]))
    tensor([[0.],
            [0.],
            [3.]])
    """
    if uses_dense_block(graph):
        return block_neighbour_sum(graph, feat)
    if use_dgl_kernels(feat.device):
        return dgl.ops.copy_u_sum(graph.topology, feat)
    out = torch.zeros((graph.num_nodes, *feat.shape[1:]), dtype=feat.dtype, device=feat.device)
    return out.index_add(0, graph.dst, feat.index_select(0, graph.src))


def incoming_edge_sum(graph: KnowledgeGraph, efeat: Tensor) -> Tensor:
    r"""Sum of edge features over the incoming edges of each node.

    .. math::
        h_v = \sum_{u \in \mathcal{N}(v)} e_{uv}

    Parameters
    ----------
    graph : KnowledgeGraph
        ``E`` edges over ``N`` nodes.
    efeat : Tensor
        ``(E, *)`` edge features.

    Returns
    -------
    Tensor
        ``(N, *)``; zero at nodes without incoming edges.

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([2, 2]), num_nodes=3)
    >>> incoming_edge_sum(g, torch.tensor([1.0, 2.0]))
    tensor([0., 0., 3.])
    """
    if uses_dense_block(graph):
        return block_incoming_edge_sum(graph, efeat)
    if use_dgl_kernels(efeat.device):
        return dgl.ops.copy_e_sum(graph.topology, efeat)
    out = torch.zeros((graph.num_nodes, *efeat.shape[1:]), dtype=efeat.dtype, device=efeat.device)
    return out.index_add(0, graph.dst, efeat)
