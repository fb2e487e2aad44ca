"""The destination node's feature, copied onto every edge."""

from __future__ import annotations

from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import Kernel, dgl_kernel
from graphkd.ops.dense_block import block_destination_feature


def _gather_destinations(graph: KnowledgeGraph, feat: Tensor) -> Tensor:
    return feat.index_select(0, graph.dst)


DESTINATION_FEATURE = Kernel(
    "destination_feature", block_destination_feature, dgl_kernel("copy_v"), _gather_destinations
)


def destination_feature(graph: KnowledgeGraph, feat: Tensor) -> Tensor:
    r"""Every edge carries its destination's feature (e.g. a per-node normaliser).

    .. math::
        e_{uv} = x_v

    On a dense block this is a broadcast, whose backward pass is a sum over the source
    axis instead of a scatter.

    Shapes: ``feat`` ``(N, *)`` -> ``(E, *)`` (the conventions of :mod:`graphkd.ops`).

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1, 2]), torch.tensor([1, 1, 0]), num_nodes=3)
    >>> destination_feature(g, torch.tensor([10.0, 20.0, 30.0]))
    tensor([20., 20., 10.])
    """
    return DESTINATION_FEATURE(graph, feat)
