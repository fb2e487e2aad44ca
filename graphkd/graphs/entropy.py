"""Edge reliability scores from prediction uncertainty: the joint entropy of an edge's ends."""

from __future__ import annotations

import torch
from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph


def prediction_entropy(logits: Tensor) -> Tensor:
    r"""Shannon entropy (nats) of the softmax prediction of each row.

    .. math::
        H(p_u) = -\sum_c p_{uc} \log p_{uc}, \qquad p_u = \mathrm{softmax}(x_u)

    Computed without gradients, in float32 for half-precision input; rows with
    saturated probabilities give finite values (``0 log 0 = 0``).

    Parameters
    ----------
    logits : Tensor
        ``(N, C)`` class scores.

    Returns
    -------
    Tensor
        ``(N,)`` entropies in ``[0, log C]``.

    Example
    -------
    >>> import torch
    >>> prediction_entropy(torch.zeros(1, 4)).allclose(torch.tensor([4.0]).log())
    True
    """
    with torch.no_grad():
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        log_p = torch.log_softmax(logits.detach(), dim=-1)
        return -(log_p.exp() * log_p).sum(-1)


def joint_entropy(graph: KnowledgeGraph, logits: Tensor) -> Tensor:
    r"""Joint entropy of the predictions at the two ends of every edge.

    Treating the two endpoints' predictions as independent outcomes (VRM, Zhang et al.
    2025), the joint entropy is the sum of the marginal entropies; a high value marks an
    edge between two uncertain predictions, an unreliable relation to prune (with
    :func:`~graphkd.graphs.percentile_mask`).

    .. math::
        H(p_u, p_v) = H(p_u) + H(p_v)

    Parameters
    ----------
    graph : KnowledgeGraph
        ``E`` edges over ``N`` nodes.
    logits : Tensor
        ``(N, C)`` class scores of the nodes.

    Returns
    -------
    Tensor
        ``(E,)`` joint entropies, without gradients.

    Example
    -------
    >>> import torch
    >>> from graphkd.graphs import view_graph
    >>> g = view_graph(torch.tensor([[9.0, 0.0], [0.0, 0.0]]), torch.zeros(2, 2))
    >>> joint_entropy(g, g.ndata["h"]).argmax().item()  # uncertain -> uncertain edges
    2
    """
    if logits.dim() != 2 or logits.shape[0] != graph.num_nodes:
        raise ValueError(
            f"logits must have shape ({graph.num_nodes}, C), one row per node, got "
            f"{tuple(logits.shape)}; pass the class scores of the graph's nodes"
        )
    entropy = prediction_entropy(logits)
    return entropy.index_select(0, graph.src) + entropy.index_select(0, graph.dst)
