"""Correlation congruence (Peng et al. 2019): RBF correlations on the complete graph."""

from __future__ import annotations

import math
from functools import partial
from typing import Optional

import torch.nn.functional as F

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.inputs import embedding_of
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.methods import METHODS
from graphkd.graphs import complete_graph, edge_features
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses


def correlation_graph(
    responses: Responses,
    like: Optional[KnowledgeGraph] = None,
    gamma: float = 0.4,
    order: int = 2,
    feature: Optional[str] = None,
) -> KnowledgeGraph:
    r"""Complete graph with self-loops; edges hold Taylor-expanded Gaussian-RBF kernels.

    With L2-normalised embeddings :math:`\hat x`,
    :math:`\exp(-\gamma\|\hat x_u - \hat x_v\|^2) = e^{-2\gamma} e^{2\gamma \hat x_u\cdot\hat x_v}`,
    expanded to order :math:`P`:

    .. math::
        k_{uv} = e^{-2\gamma} \sum_{p=0}^{P} \frac{(2\gamma\, \hat x_u \cdot \hat x_v)^p}{p!}

    Returns
    -------
    KnowledgeGraph
        ``B`` nodes, ``B^2`` edges, ``edata["correlation"]`` ``(B^2,)``.
    """
    x = F.normalize(embedding_of(responses, feature), dim=1)
    graph = (
        like.same_topology() if like is not None else complete_graph(x.shape[0], device=x.device)
    )
    scaled = 2.0 * gamma * edge_features.dot(graph, x)
    kernel = sum(scaled.pow(p) / math.factorial(p) for p in range(order + 1))
    graph.edata["correlation"] = math.exp(-2.0 * gamma) * kernel
    return graph


@METHODS.register("cc")
def cc(
    weight: float = 1.0,
    gamma: float = 0.4,
    order: int = 2,
    feature: Optional[str] = None,
    ce_weight: float = 1.0,
) -> GraphMatchingDistiller:
    r"""Correlation congruence KD (Peng et al., ICCV 2019).

    .. math::
        \mathcal{L} = \frac{1}{B^2} \sum_{u, v} (k^s_{uv} - k^t_{uv})^2

    over the correlations of :func:`correlation_graph` (:math:`\gamma = 0.4`, :math:`P = 2`).
    """
    build = partial(correlation_graph, gamma=gamma, order=order, feature=feature)
    term = MatchTerm("cc", "correlation", "edges", "mse", weight)
    return GraphMatchingDistiller(build, terms=[term], ce_weight=ce_weight)
