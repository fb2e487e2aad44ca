"""DIST (Huang et al. 2022): Pearson relations within samples and within classes."""

from __future__ import annotations

from functools import partial

import torch

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS
from graphkd.graphs import check_relational_batch
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses


def prediction_graph(responses: Responses, temperature: float = 4.0) -> KnowledgeGraph:
    r"""Samples as nodes carrying softened predictions :math:`p = \mathrm{softmax}(z/\tau)`.

    DIST relates each node's prediction across classes (rows of ``ndata["p"]``) and each
    class across the batch's nodes (its columns); both are node-level statistics, so the
    graph needs no edges.

    Returns
    -------
    KnowledgeGraph
        ``B`` nodes with ``ndata["p"]`` ``(B, C)``.
    """
    check_relational_batch(responses.batch_size)
    none = torch.empty(0, dtype=torch.long, device=responses.logits.device)
    p = torch.softmax(responses.logits / temperature, dim=1)
    return KnowledgeGraph(none, none, responses.batch_size, ndata={"p": p})


@METHODS.register("dist")
def dist(
    temperature: float = 4.0,
    inter_weight: float = 2.0,
    intra_weight: float = 2.0,
    ce_weight: float = 1.0,
) -> GraphMatchingDistiller:
    r"""DIST (Huang et al., NeurIPS 2022): match Pearson correlations of predictions.

    .. math::
        \mathcal{L} = \tau^2\Big(\beta\,\frac{1}{B}\sum_i \big(1 - \rho(p^s_{i,:}, p^t_{i,:})\big)
                    + \gamma\,\frac{1}{C}\sum_c \big(1 - \rho(p^s_{:,c}, p^t_{:,c})\big)\Big)

    Parameters
    ----------
    temperature : float
        :math:`\tau = 4`.
    inter_weight, intra_weight : float
        :math:`\beta, \gamma`: 2 and 2, the reference CIFAR-100 configuration
        (``kd_loss_weight`` 2 times DIST with :math:`\beta = \gamma = 1`); 1 and 1 drop
        that outer factor.
    ce_weight : float
        Cross-entropy weight (1).
    """
    scale = temperature**2
    terms = [
        MatchTerm("inter", "p", "nodes", "pearson", scale * inter_weight, options={"dim": 1}),
        MatchTerm("intra", "p", "nodes", "pearson", scale * intra_weight, options={"dim": 0}),
    ]
    return GraphMatchingDistiller(
        partial(prediction_graph, temperature=temperature),
        terms=terms,
        ce_weight=ce_weight,
        graph_name="samples",
    )
