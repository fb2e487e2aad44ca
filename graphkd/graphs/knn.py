"""k-nearest-neighbour graphs over any tensor, built on its device."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.graphs.checks import check_relational_batch
from graphkd.knowledge_graph import KnowledgeGraph

KNN_METRICS = ("cosine", "euclidean")


def pairwise_distance(x: Tensor, metric: str = "cosine") -> Tensor:
    r"""Dense ``(N, N)`` distances between the rows of ``x``.

    .. math::
        d^{\cos}_{ij} = 1 - \frac{\langle x_i, x_j \rangle}{\|x_i\| \|x_j\|}, \qquad
        d^{\mathrm{euc}}_{ij} = \|x_i - x_j\|_2

    Parameters
    ----------
    x : Tensor
        ``(N, D)``.
    metric : str
        ``"cosine"`` (default) or ``"euclidean"``.
    """
    if metric == "cosine":
        unit = F.normalize(x, dim=1)
        return 1.0 - unit @ unit.t()
    if metric == "euclidean":
        return torch.cdist(x, x)
    raise ValueError(f"unknown kNN metric {metric!r}; choose one of {', '.join(KNN_METRICS)}")


def knn_graph(
    x: Tensor, k: int, metric: str = "cosine", include_self: bool = True
) -> KnowledgeGraph:
    r"""Directed kNN graph: each node receives an edge from each of its ``k`` nearest nodes.

    Edges point neighbour -> node, so every node has in-degree ``k``; the graph is not
    symmetrised. With ``include_self`` the node itself is always one of its ``k``
    neighbours (then ``k - 1`` others). Built with ``torch.topk`` on ``x``'s device,
    without a host round trip; ``x`` is read without gradient. Distances are computed in
    float32, or in float64 for float64 points (neighbours closer than float32 resolves
    keep their float64 order).

    .. math::
        \mathcal{E} = \{(j, i) : j \in \mathrm{kNN}_k(i)\}

    Parameters
    ----------
    x : Tensor
        ``(N, D)`` points.
    k : int
        Neighbours per node, ``1 <= k <= N`` with ``include_self``, ``k <= N - 1`` without.
    metric : str
        ``"cosine"`` (default) or ``"euclidean"``, see :func:`pairwise_distance`.
    include_self : bool
        Count each node among its own neighbours (default ``True``).

    Returns
    -------
    KnowledgeGraph
        ``N`` nodes, ``N k`` edges grouped by destination, nearest first.

    Example
    -------
    >>> import torch
    >>> g = knn_graph(torch.tensor([[0.0], [1.0], [5.0]]), k=2, metric="euclidean")
    >>> g.src.tolist(), g.dst.tolist()
    ([0, 1, 1, 0, 2, 1], [0, 0, 1, 1, 2, 2])
    """
    if x.dim() != 2:
        raise ValueError(f"knn_graph expects (N, D) points, got shape {tuple(x.shape)}")
    num_nodes = x.shape[0]
    check_relational_batch(num_nodes)
    candidates = num_nodes if include_self else num_nodes - 1
    if not 1 <= k <= candidates:
        raise ValueError(
            f"k={k} neighbours need at least {k + (0 if include_self else 1)} samples but the "
            f"batch has {num_nodes}; lower k or raise the batch size"
        )
    with torch.no_grad():
        distance = pairwise_distance(x.to(torch.promote_types(x.dtype, torch.float32)), metric)
        diagonal = torch.arange(num_nodes, device=x.device)
        fill = float("-inf") if include_self else float("inf")
        distance[diagonal, diagonal] = fill
        neighbours = distance.topk(k, dim=1, largest=False).indices
    dst = diagonal.repeat_interleave(k)
    return KnowledgeGraph(neighbours.reshape(-1), dst, num_nodes)
