"""Vanilla KD (Hinton et al. 2015) as a node-level term on a graph of samples."""

from __future__ import annotations

import torch

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses


def sample_nodes(responses: Responses) -> KnowledgeGraph:
    """Samples as isolated nodes with ``ndata["logits"]`` (``(B, C)``); no edges."""
    none = torch.empty(0, dtype=torch.long, device=responses.logits.device)
    return KnowledgeGraph(none, none, responses.batch_size, ndata={"logits": responses.logits})


@METHODS.register("kd")
def kd(
    temperature: float = 4.0, weight: float = 0.9, ce_weight: float = 0.1
) -> GraphMatchingDistiller:
    r"""Vanilla knowledge distillation (Hinton et al. 2015).

    .. math::
        \mathcal{L}_{kd} = \tau^2\,\frac{1}{B}\sum_i
            \mathrm{KL}\big(\mathrm{softmax}(z^t_i/\tau)\,\|\,\mathrm{softmax}(z^s_i/\tau)\big)

    Parameters
    ----------
    temperature : float
        :math:`\tau` (4 on CIFAR-100).
    weight, ce_weight : float
        Weights of the KD term and of the student's cross-entropy (0.9 and 0.1, the
        standard CIFAR-100 protocol's).
    """
    term = MatchTerm(
        "kd", field="logits", on="nodes", metric="kd", weight=weight, options={"tau": temperature}
    )
    return GraphMatchingDistiller(
        sample_nodes, terms=[term], ce_weight=ce_weight, graph_name="samples"
    )
