"""Reductions over the incoming edges of each node: neighbour sums, edge sums and maxima."""

from __future__ import annotations

import torch
from torch import Tensor

from graphkd._dgl import dgl
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import Kernel, dgl_kernel
from graphkd.ops.dense_block import (
    block_incoming_edge_max,
    block_incoming_edge_sum,
    block_neighbour_sum,
)


def _sum_at_destinations(graph: KnowledgeGraph, values: Tensor) -> Tensor:
    """``(N, *)``: the ``(E, *)`` per-edge ``values`` summed at each edge's destination."""
    return values.new_zeros((graph.num_nodes, *values.shape[1:])).index_add(0, graph.dst, values)


def _max_at_destinations(graph: KnowledgeGraph, values: Tensor) -> Tensor:
    """``(N, *)``: the maximum of the ``(E, *)`` per-edge ``values`` at each destination,
    0 at nodes without incoming edges."""
    index = graph.dst.view(-1, *([1] * (values.dim() - 1))).expand_as(values)
    empty = values.new_zeros((graph.num_nodes, *values.shape[1:]))
    return empty.scatter_reduce(0, index, values, reduce="amax", include_self=False)


def _dgl_max_at_destinations(graph: KnowledgeGraph, values: Tensor) -> Tensor:
    """DGL's maximum over incoming edges, set to 0 at nodes without incoming edges (where
    DGL leaves ``-inf``)."""
    peak = dgl.ops.copy_e_max(graph.topology, values)
    received = graph.topology.in_degrees() > 0
    return torch.where(received.view(-1, *([1] * (peak.dim() - 1))), peak, 0.0)


def _sum_of_sources(graph: KnowledgeGraph, feat: Tensor) -> Tensor:
    return _sum_at_destinations(graph, feat.index_select(0, graph.src))


NEIGHBOUR_SUM = Kernel(
    "neighbour_sum", block_neighbour_sum, dgl_kernel("copy_u_sum"), _sum_of_sources
)
INCOMING_EDGE_SUM = Kernel(
    "incoming_edge_sum", block_incoming_edge_sum, dgl_kernel("copy_e_sum"), _sum_at_destinations
)
INCOMING_EDGE_MAX = Kernel(
    "incoming_edge_max", block_incoming_edge_max, _dgl_max_at_destinations, _max_at_destinations
)


def neighbour_sum(graph: KnowledgeGraph, feat: Tensor) -> Tensor:
    r"""Sum of source-node features over the incoming edges of each node.

    .. math::
        h_v = \sum_{u \in \mathcal{N}(v)} x_u

    Shapes: ``feat`` ``(N, *)`` -> ``(N, *)`` (the conventions of :mod:`graphkd.ops`).

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([2, 2]), num_nodes=3)
    >>> neighbour_sum(g, torch.tensor([[1.0], [2.0], [5.0]]))
    tensor([[0.],
            [0.],
            [3.]])
    """
    return NEIGHBOUR_SUM(graph, feat)


def incoming_edge_sum(graph: KnowledgeGraph, efeat: Tensor) -> Tensor:
    r"""Sum of edge features over the incoming edges of each node.

    .. math::
        h_v = \sum_{u \in \mathcal{N}(v)} e_{uv}

    Shapes: ``efeat`` ``(E, *)`` -> ``(N, *)`` (the conventions of :mod:`graphkd.ops`).

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([2, 2]), num_nodes=3)
    >>> incoming_edge_sum(g, torch.tensor([1.0, 2.0]))
    tensor([0., 0., 3.])
    """
    return INCOMING_EDGE_SUM(graph, efeat)


def incoming_edge_max(graph: KnowledgeGraph, efeat: Tensor) -> Tensor:
    r"""Maximum of edge features over the incoming edges of each node.

    .. math::
        h_v = \max_{u \in \mathcal{N}(v)} e_{uv}

    Shapes as :func:`incoming_edge_sum`. A node without incoming edges gets 0, as nodes 0
    and 1 of the example do, where ``dgl.ops.copy_e_max`` leaves ``-inf``.

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([2, 2]), num_nodes=3)
    >>> incoming_edge_max(g, torch.tensor([-1.0, -2.0]))
    tensor([ 0.,  0., -1.])
    """
    return INCOMING_EDGE_MAX(graph, efeat)
