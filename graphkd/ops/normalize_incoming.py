"""Edge values divided by the L2 norm of their destination's incoming values."""

from __future__ import annotations

from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import Kernel
from graphkd.ops.dense_block import block_normalize_incoming
from graphkd.ops.divide_by_destination import divide_by_destination
from graphkd.ops.neighbour_sum import incoming_edge_sum


def _normalize_by_parts(graph: KnowledgeGraph, efeat: Tensor, eps: float) -> Tensor:
    norm = incoming_edge_sum(graph, efeat.pow(2)).clamp_min(eps**2).sqrt()
    return divide_by_destination(graph, efeat, norm)


#: Composed of other kernels, which dispatch themselves: one function serves DGL and torch.
NORMALIZE_INCOMING = Kernel(
    "normalize_incoming", block_normalize_incoming, _normalize_by_parts, _normalize_by_parts
)


def normalize_incoming(graph: KnowledgeGraph, efeat: Tensor, eps: float = 1e-12) -> Tensor:
    r"""Scale each node's incoming edge values to unit L2 norm (e.g. a row of a Gram matrix).

    .. math::
        e'_{uv} = \frac{e_{uv}}{\max\big(\sqrt{\sum_{w \in \mathcal{N}(v)} e_{wv}^2},
                  \epsilon\big)}

    A node whose incoming values are all zero keeps zeros, and no gradient flows through
    a norm clamped at :math:`\epsilon`. On a dense block this is one column
    normalisation of the ``(sources, destinations)`` grid with a fused backward pass.

    Shapes: ``efeat`` ``(E, *)`` -> ``(E, *)`` (the conventions of :mod:`graphkd.ops`).

    Parameters
    ----------
    eps : float, default 1e-12
        :math:`\epsilon`, the lower bound of each norm.

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1, 2]), torch.tensor([1, 1, 0]), num_nodes=3)
    >>> normalize_incoming(g, torch.tensor([3.0, 4.0, -2.0]))
    tensor([ 0.6000,  0.8000, -1.0000])
    """
    return NORMALIZE_INCOMING(graph, efeat, eps)
