"""Similarity-preserving KD (Tung & Mori 2019) on the complete graph of samples."""

from __future__ import annotations

from functools import partial
from typing import Optional

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.inputs import LAST_STAGE, embedding_of
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS
from graphkd.graphs import complete_graph, edge_features
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops import normalize_incoming
from graphkd.responses import Responses


def similarity_graph(
    responses: Responses,
    like: Optional[KnowledgeGraph] = None,
    feature: Optional[str] = LAST_STAGE,
) -> KnowledgeGraph:
    r"""Complete graph with self-loops; each edge holds a row-normalised Gram entry.

    .. math::
        G = F F^\top, \qquad \tilde G_{vu} = \frac{G_{vu}}{\max(\|G_{v,:}\|_2, 10^{-12})}

    Edge :math:`(u, v)` holds :math:`\tilde G_{vu}` (each node's incoming edges form
    its row). :math:`F` is ``(B, D)``: the last tapped feature map flattened (default),
    the pooled embedding (``feature=None``) or a named tapped feature (see
    :func:`~graphkd.distill.inputs.embedding_of`). A zero row of :math:`G` (an all-zero
    sample) stays zero with zero gradient, as ``torch.nn.functional.normalize`` gives.

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
    graph.edata["similarity"] = normalize_incoming(graph, gram, eps=1e-12)
    return graph


@METHODS.register("sp")
def sp(
    weight: float = 3000.0, feature: Optional[str] = LAST_STAGE, ce_weight: float = 1.0
) -> GraphMatchingDistiller:
    r"""Similarity-preserving KD (Tung & Mori, ICCV 2019).

    .. math::
        \mathcal{L} = \frac{1}{B^2}\,\|\tilde G^t - \tilde G^s\|_F^2

    (the MSE over the :math:`B^2` edges of :func:`similarity_graph`).

    Parameters
    ----------
    weight : float
        3000, the standard CIFAR-100 protocol's (tuned for the last stage's feature map).
    feature : str, optional
        ``"last_stage"`` (default): the last tapped feature map ``(B, C, H, W)``
        flattened, the last stage's output after its activation for the zoo models'
        default taps, as the reference implementations read it; ``None``: the pooled
        embedding ``(B, D)``; any other string: the tapped feature of that name.
    ce_weight : float
        Cross-entropy weight (1).
    """
    term = MatchTerm("sp", "similarity", "edges", "mse", weight)
    return GraphMatchingDistiller(
        partial(similarity_graph, feature=feature),
        terms=[term],
        ce_weight=ce_weight,
        graph_name="samples",
    )
