"""Complete graphs: every node related to every node."""

from __future__ import annotations

import functools
from typing import Optional, Tuple

import torch
from torch import Tensor

from graphkd.graphs.checks import check_relational_batch
from graphkd.knowledge_graph import KnowledgeGraph

CACHED_UP_TO = 1024
"""The edge lists of complete graphs up to this many nodes (at most 16 MiB each) are built
once per size and device and shared, read-only, by every graph of that size."""


def _edges(num_nodes: int, device: Optional[torch.device]) -> Tuple[Tensor, Tensor]:
    nodes = torch.arange(num_nodes, device=device)
    return nodes.repeat_interleave(num_nodes), nodes.repeat(num_nodes)


@functools.lru_cache(maxsize=4)
def _cached_edges(num_nodes: int, device: torch.device) -> Tuple[Tensor, Tensor]:
    return _edges(num_nodes, device)


def complete_graph(
    num_nodes: int, self_loops: bool = True, device: Optional[torch.device] = None
) -> KnowledgeGraph:
    r"""The complete directed graph over ``num_nodes`` nodes.

    Edges are ordered row-major by (source, destination), so an edge field of a graph
    with self-loops reshapes to the dense ``(N, N)`` matrix ``M[u, v]``.

    .. math::
        \mathcal{E} = \{(u, v) : u, v \in [N],\ u \ne v \text{ unless self\_loops}\}

    Parameters
    ----------
    num_nodes : int
        ``N >= 2``.
    self_loops : bool
        Include the ``N`` edges ``(u, u)`` (default ``True``).
    device : torch.device, optional
        Where the edge endpoints live.

    Returns
    -------
    KnowledgeGraph
        ``N`` nodes, ``N^2`` edges (``N(N-1)`` without self-loops).

    Example
    -------
    >>> complete_graph(3).num_edges, complete_graph(3, self_loops=False).num_edges
    (9, 6)
    """
    check_relational_batch(num_nodes)
    if device is not None and num_nodes <= CACHED_UP_TO:
        src, dst = _cached_edges(num_nodes, torch.device(device))
    else:
        src, dst = _edges(num_nodes, device)
    if not self_loops:
        keep = src != dst
        return KnowledgeGraph(src[keep], dst[keep], num_nodes)
    return KnowledgeGraph(src, dst, num_nodes, block=(0, num_nodes, 0, num_nodes))
