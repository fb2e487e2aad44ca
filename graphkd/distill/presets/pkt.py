"""PKT (Passalis & Tefas 2018): probability distributions over each sample's neighbours."""

from __future__ import annotations

from functools import partial
from typing import Optional

import torch
from torch import Tensor

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.inputs import embedding_of
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS
from graphkd.graphs import complete_graph
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric
from graphkd.ops import divide_by_destination, edge_dot, incoming_edge_sum
from graphkd.responses import Responses

EPS = 1e-7


def affinity_graph(
    responses: Responses, like: Optional[KnowledgeGraph] = None, feature: Optional[str] = None
) -> KnowledgeGraph:
    r"""Complete graph with self-loops; each node's incoming edges hold a distribution.

    .. math::
        c_{uv} = \frac{1}{2}\left(1 + \frac{x_u \cdot x_v}{(\|x_u\| + \epsilon)(\|x_v\| + \epsilon)}\right),
        \qquad p_{uv} = \frac{c_{uv}}{\sum_w c_{wv}}

    with :math:`\epsilon = 10^{-7}`.

    Returns
    -------
    KnowledgeGraph
        ``B`` nodes, ``B^2`` edges, ``edata["affinity"]`` ``(B^2,)``.
    """
    x = embedding_of(responses, feature)
    unit = x / (x.norm(dim=1, keepdim=True) + EPS)
    graph = (
        like.same_topology() if like is not None else complete_graph(x.shape[0], device=x.device)
    )
    # 2 c = 1 + cos: the halving cancels in the normalisation and is exact in binary
    # floating point, so p is computed from 2 c bit for bit (one B^2 pass fewer)
    doubled = edge_dot(graph, unit) + 1.0
    row_sum = incoming_edge_sum(graph, doubled)
    graph.edata["affinity"] = divide_by_destination(graph, doubled, row_sum)
    return graph


class ProbabilityKL(Metric):
    r"""PKT's divergence between given probabilities, averaged over all entries.

    .. math::
        \ell = \frac{1}{E} \sum_e p^t_e \log\frac{p^t_e + \epsilon}{p^s_e + \epsilon}

    Shapes: ``student`` and ``teacher`` ``(E,)`` probabilities, equal.
    """

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return torch.mean(teacher * torch.log((teacher + EPS) / (student + EPS)))


@METHODS.register("pkt")
def pkt(
    weight: float = 30000.0, feature: Optional[str] = None, ce_weight: float = 1.0
) -> GraphMatchingDistiller:
    r"""Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018).

    .. math::
        \mathcal{L} = \frac{1}{B^2}\sum_{u, v} p^t_{uv}
                      \log\frac{p^t_{uv} + \epsilon}{p^s_{uv} + \epsilon}

    over the distributions of :func:`affinity_graph`: KL(teacher || student).

    Parameters
    ----------
    weight : float
        30000, the standard CIFAR-100 protocol's.
    feature : str, optional
        A tapped feature instead of the pooled embedding.
    ce_weight : float
        Cross-entropy weight (1).
    """
    # the distiller rejects NaN/Inf responses once per step; the metric need not check again
    term = MatchTerm("pkt", "affinity", "edges", ProbabilityKL(check_finite=False), weight)
    return GraphMatchingDistiller(
        partial(affinity_graph, feature=feature),
        terms=[term],
        ce_weight=ce_weight,
        graph_name="samples",
    )
