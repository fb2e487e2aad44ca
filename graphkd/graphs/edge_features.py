"""Edge featurisers: the relation between the two endpoints of every edge.

Each function takes a graph and ``(N, D)`` node features and returns one value or vector
per edge; all are safe at zero-length differences (identical samples): values and
gradients stay finite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops import edge_difference, edge_dot

EPS = 1e-12


def difference(graph: KnowledgeGraph, feat: Tensor) -> Tensor:
    r"""Source minus destination, :math:`e_{uv} = x_u - x_v`. Returns ``(E, D)``."""
    return edge_difference(graph, feat)


def normalised_difference(graph: KnowledgeGraph, feat: Tensor, eps: float = EPS) -> Tensor:
    r"""Unit-length difference (zero where the endpoints coincide).

    .. math::
        e_{uv} = \frac{x_u - x_v}{\max(\|x_u - x_v\|_2, \epsilon)}

    Returns ``(E, D)``.
    """
    return F.normalize(edge_difference(graph, feat), dim=-1, eps=eps)


def distance(graph: KnowledgeGraph, feat: Tensor, eps: float = EPS) -> Tensor:
    r"""Euclidean distance, exactly 0 (with zero gradient) where the endpoints coincide.

    .. math::
        e_{uv} = \|x_u - x_v\|_2

    Returns ``(E,)``.
    """
    squared = edge_difference(graph, feat).pow(2).sum(-1)
    return torch.where(squared > eps, squared.clamp_min(eps).sqrt(), torch.zeros_like(squared))


def dot(graph: KnowledgeGraph, feat: Tensor) -> Tensor:
    r"""Inner product, :math:`e_{uv} = \langle x_u, x_v \rangle`. Returns ``(E,)``."""
    return edge_dot(graph, feat)


def cosine(graph: KnowledgeGraph, feat: Tensor, eps: float = EPS) -> Tensor:
    r"""Cosine similarity (0 at zero vectors).

    .. math::
        e_{uv} = \frac{\langle x_u, x_v \rangle}{\max(\|x_u\|, \epsilon)\max(\|x_v\|, \epsilon)}

    Returns ``(E,)``.
    """
    unit = F.normalize(feat, dim=-1, eps=eps)
    return edge_dot(graph, unit)


def rkd_angle(graph: KnowledgeGraph, feat: Tensor, eps: float = EPS) -> Tensor:
    r"""RKD angle (Park et al. 2019): cosines of the angles at each edge's destination.

    For edge :math:`(u, v)` the feature is the vector over all nodes :math:`k` of

    .. math::
        e_{uv}[k] = \left\langle \frac{x_u - x_v}{\|x_u - x_v\|},
                    \frac{x_k - x_v}{\|x_k - x_v\|} \right\rangle

    (0 where a difference has zero length). On the complete graph with self-loops these
    are all :math:`N^3` triplet angles of RKD. Needs a single (unbatched) graph.

    Parameters
    ----------
    graph : KnowledgeGraph
        One graph over ``N`` nodes.
    feat : Tensor
        ``(N, D)``.

    Returns
    -------
    Tensor
        ``(E, N)``.
    """
    if graph.batch_size != 1:
        raise ValueError(
            f"rkd_angle needs one graph, got a batch of {graph.batch_size}; compute it per "
            "member graph before batching"
        )
    offsets = F.normalize(feat.unsqueeze(0) - feat.unsqueeze(1), dim=-1, eps=eps)
    angles = torch.bmm(offsets, offsets.transpose(1, 2))
    return angles[graph.dst, graph.src]
