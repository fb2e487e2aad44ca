"""Similarity-preserving KD (Tung & Mori 2019) on the complete graph of samples."""

from __future__ import annotations

from functools import partial
from typing import Optional

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.inputs import embedding_of
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.methods import METHODS
from graphkd.graphs import complete_graph, edge_features
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops import divide_by_destination, incoming_edge_sum
from graphkd.responses import Responses


def similarity_graph(
    responses: Responses, like: Optional[KnowledgeGraph] = None, feature: Optional[str] = None
) -> KnowledgeGraph:
    r"""Complete graph with self-loops; each edge holds a row-normalised Gram entry.

    .. math::
        G = F F^\top, \qquad \tilde G_{vu} = \frac{G_{vu}}{\|G_{v,:}\|_2}

    Edge :math:`(u, v)` holds :math:`\tilde G_{vu}` (each node's incoming edges form
    its row).

    Returns
    -------
    KnowledgeGraph
        ``B`` nodes, ``B^2`` edges, ``edata["similarity"]`` ``(B^2,)``.
    """
    x = embedding_of(responses, feature)
    graph = (
        like.same_topology() if like is not None else complete_graph(x.shape[0], device=x.device)
    )
    gram = edge_features.dot(graph, x)
    row_norm = incoming_edge_sum(graph, gram.pow(2)).sqrt().clamp_min(1e-12)
    graph.edata["similarity"] = divide_by_destination(graph, gram, row_norm)
    return graph


@METHODS.register("sp")
def sp(
    weight: float = 3000.0, feature: Optional[str] = None, ce_weight: float = 1.0
) -> GraphMatchingDistiller:
    r"""Similarity-preserving KD (Tung & Mori, ICCV 2019).

    .. math::
        \mathcal{L} = \frac{1}{B^2}\,\|\tilde G^t - \tilde G^s\|_F^2

    (the MSE over the :math:`B^2` edges of :func:`similarity_graph`).

    Parameters
    ----------
    weight : float
        3000, the standard CIFAR-100 protocol's.
    feature : str, optional
        A tapped feature map (flattened) instead of the pooled embedding; the paper uses
        the last stage's output.
    ce_weight : float
        Cross-entropy weight (1).
    """
    term = MatchTerm("sp", "similarity", "edges", "mse", weight)
    return GraphMatchingDistiller(
        partial(similarity_graph, feature=feature), terms=[term], ce_weight=ce_weight
    )
