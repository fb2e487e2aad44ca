"""Softmax of edge scores over the incoming edges of each node."""

from __future__ import annotations

import torch
from torch import Tensor

from graphkd._dgl import dgl
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import use_dgl_kernels
from graphkd.ops.dense_block import block_softmax, uses_dense_block


def edge_softmax(graph: KnowledgeGraph, scores: Tensor) -> Tensor:
    r"""Normalise edge scores into a distribution over each node's incoming edges.

    .. math::
        a_{uv} = \frac{\exp(s_{uv})}{\sum_{w \in \mathcal{N}(v)} \exp(s_{wv})}

    Parameters
    ----------
    graph : KnowledgeGraph
        ``E`` edges over ``N`` nodes.
    scores : Tensor
        ``(E,)`` or ``(E, H)`` (one score per head).

    Returns
    -------
    Tensor
        Same shape as ``scores``; entries on the edges into one node sum to 1.

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([2, 2]), num_nodes=3)
    >>> edge_softmax(g, torch.tensor([0.0, 0.0]))
    tensor([0.5000, 0.5000])
    """
    if uses_dense_block(graph):
        return block_softmax(graph, scores)
    if use_dgl_kernels(scores.device):
        return dgl.ops.edge_softmax(graph.topology, scores)
    trailing = scores.shape[1:]
    index = graph.dst.view(-1, *([1] * len(trailing))).expand_as(scores)
    empty = scores.new_full((graph.num_nodes, *trailing), float("-inf"))
    node_max = empty.scatter_reduce(0, index, scores, reduce="amax", include_self=True)
    exp = torch.exp(scores - node_max.index_select(0, graph.dst).detach())
    total = torch.zeros_like(empty).index_add_(0, graph.dst, exp)
    return exp / total.index_select(0, graph.dst)
