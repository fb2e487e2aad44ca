"""RKD (Park et al. 2019): distances and angles on the complete graph of embeddings."""

from __future__ import annotations

from functools import partial
from typing import Optional

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.inputs import embedding_of
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.methods import METHODS
from graphkd.graphs import complete_graph, edge_features
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses


def rkd_graph(
    responses: Responses, like: Optional[KnowledgeGraph] = None, feature: Optional[str] = None
) -> KnowledgeGraph:
    r"""Complete graph with self-loops over the batch, with RKD's two edge fields.

    .. math::
        \mathrm{distance}_{uv} = \frac{\|x_u - x_v\|}{\mu}, \quad
        \mu = \operatorname{mean}_{u \ne v,\ \|x_u - x_v\| > 0} \|x_u - x_v\|, \qquad
        \mathrm{angle}_{uv}[k] = \langle \hat e_{vu}, \hat e_{vk} \rangle

    Parameters
    ----------
    responses : Responses
        ``embedding`` ``(B, D)`` (or the tapped ``feature``).
    like : KnowledgeGraph, optional
        A graph whose topology to reuse (the teacher's).
    feature : str, optional
        A tapped feature to use instead of the embedding.

    Returns
    -------
    KnowledgeGraph
        ``B`` nodes, ``B^2`` edges; ``edata["distance"]`` ``(B^2,)``,
        ``edata["angle"]`` ``(B^2, B)``.
    """
    x = embedding_of(responses, feature)
    graph = (
        like.same_topology() if like is not None else complete_graph(x.shape[0], device=x.device)
    )
    distance = edge_features.distance(graph, x)
    mean_nonzero = distance.sum() / (distance > 0).sum().clamp_min(1)
    graph.edata["distance"] = distance / mean_nonzero.clamp_min(1e-12)
    graph.edata["angle"] = edge_features.rkd_angle(graph, x)
    return graph


@METHODS.register("rkd")
def rkd(
    distance_weight: float = 25.0,
    angle_weight: float = 50.0,
    feature: Optional[str] = None,
    ce_weight: float = 1.0,
) -> GraphMatchingDistiller:
    r"""Relational KD (Park et al., CVPR 2019): match distances and triplet angles.

    .. math::
        \mathcal{L} = 25\,\ell_{\mathrm{smoothL1}}(d^s, d^t)
                    + 50\,\ell_{\mathrm{smoothL1}}(a^s, a^t)

    Smooth L1 means over all :math:`B^2` distances and :math:`B^3` angles (degenerate
    ones are 0), as the reference computes them. See :func:`rkd_graph`.

    Parameters
    ----------
    distance_weight, angle_weight : float
        25 and 50.
    feature : str, optional
        A tapped feature instead of the pooled embedding.
    ce_weight : float
        Cross-entropy weight (1).
    """
    build = partial(rkd_graph, feature=feature)
    terms = [
        MatchTerm("distance", "distance", "edges", "smooth_l1", distance_weight),
        MatchTerm("angle", "angle", "edges", "smooth_l1", angle_weight),
    ]
    return GraphMatchingDistiller(build, terms=terms, ce_weight=ce_weight)
