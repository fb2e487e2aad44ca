"""Bipartite graphs between two views: real samples or classes to their virtual twins."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from graphkd.graphs.checks import check_relational_batch
from graphkd.graphs.complete import complete_graph
from graphkd.knowledge_graph import KnowledgeGraph


def bipartite_graph(
    num_src: int, num_dst: int, device: Optional[torch.device] = None
) -> KnowledgeGraph:
    r"""Complete bipartite graph from ``num_src`` source nodes to ``num_dst`` destinations.

    Nodes ``0 .. num_src-1`` are the sources (view 0), the next ``num_dst`` the
    destinations (view 1); ``ndata["view"]`` holds the view of each node. Edges are
    ordered row-major, so an edge field reshapes to the dense ``(num_src, num_dst)``
    matrix.

    .. math::
        \mathcal{E} = \{(i, n_s + j) : i \in [n_s],\ j \in [n_d]\}

    Example
    -------
    >>> g = bipartite_graph(2, 3)
    >>> g.num_nodes, g.num_edges, g.ndata["view"].tolist()
    (5, 6, [0, 0, 1, 1, 1])
    """
    src = torch.arange(num_src, device=device).repeat_interleave(num_dst)
    dst = torch.arange(num_dst, device=device).repeat(num_src) + num_src
    view = torch.cat(
        [
            torch.zeros(num_src, dtype=torch.long, device=device),
            torch.ones(num_dst, dtype=torch.long, device=device),
        ]
    )
    return KnowledgeGraph(
        src, dst, num_src + num_dst, ndata={"view": view}, block=(0, num_src, num_src, num_dst)
    )


def view_graph(real: Tensor, virtual: Tensor) -> KnowledgeGraph:
    r"""Samples of the real view -> samples of the virtual view, features on the nodes.

    ``ndata["h"]`` stacks ``real`` then ``virtual``; every real sample ``i`` sends an
    edge to every virtual sample ``j`` (the inter-sample real-virtual graph of VRM).

    Parameters
    ----------
    real, virtual : Tensor
        ``(B, C)`` responses of the two views.

    Returns
    -------
    KnowledgeGraph
        ``2B`` nodes, ``B^2`` edges; edge ``(i, j)`` is at position ``i B + j``.

    Example
    -------
    >>> import torch
    >>> view_graph(torch.zeros(3, 5), torch.ones(3, 5)).num_edges
    9
    """
    if real.shape != virtual.shape:
        raise ValueError(
            f"the real view has shape {tuple(real.shape)} but the virtual view "
            f"{tuple(virtual.shape)}; both views must come from the same images and network"
        )
    check_relational_batch(real.shape[0])
    graph = bipartite_graph(real.shape[0], virtual.shape[0], device=real.device)
    graph.ndata["h"] = torch.cat([real, virtual])
    return graph


def class_graph(scores: Tensor, virtual_scores: Optional[Tensor] = None) -> KnowledgeGraph:
    r"""A graph whose nodes are classes, each carrying its column of scores over the batch.

    .. math::
        w_c = z_{:, c} \in \mathbb{R}^{B}

    Without ``virtual_scores`` the classes form a complete graph with self-loops; with
    them, real classes send edges to virtual classes (the inter-class graph of VRM).

    Parameters
    ----------
    scores : Tensor
        ``(B, C)`` logits or probabilities of the real view.
    virtual_scores : Tensor, optional
        ``(B, C)`` of the virtual view.

    Returns
    -------
    KnowledgeGraph
        ``C`` (or ``2C``) nodes with ``ndata["h"]`` of shape ``(nodes, B)``.

    Example
    -------
    >>> import torch
    >>> g = class_graph(torch.randn(4, 3))
    >>> g.num_nodes, g.ndata["h"].shape
    (3, torch.Size([3, 4]))
    """
    if virtual_scores is not None:
        return view_graph(scores.t(), virtual_scores.t())
    check_relational_batch(scores.shape[1], what="classes")
    graph = complete_graph(scores.shape[1], self_loops=True, device=scores.device)
    graph.ndata["h"] = scores.t()
    return graph
