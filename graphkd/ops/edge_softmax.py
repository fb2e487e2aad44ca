"""Softmax and log-softmax of edge scores over the incoming edges of each node."""

from __future__ import annotations

from functools import partial
from typing import Tuple

import torch
from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.backend import Kernel, dgl_kernel
from graphkd.ops.dense_block import block_softmax
from graphkd.ops.destination_feature import destination_feature
from graphkd.ops.divide_by_destination import divide_by_destination
from graphkd.ops.neighbour_sum import incoming_edge_max, incoming_edge_sum


def _shifted_scores(graph: KnowledgeGraph, scores: Tensor) -> Tuple[Tensor, Tensor]:
    """``s_uv - max_w s_wv`` (the maximum without gradient) and, per node, the sum of the
    exponentials of its incoming shifted scores (0 at nodes without incoming edges)."""
    shifted = scores - destination_feature(graph, incoming_edge_max(graph, scores.detach()))
    return shifted, incoming_edge_sum(graph, shifted.exp())


def _softmax_by_parts(graph: KnowledgeGraph, scores: Tensor) -> Tensor:
    shifted, total = _shifted_scores(graph, scores)
    return divide_by_destination(graph, shifted.exp(), total)


def _log_softmax_by_parts(graph: KnowledgeGraph, scores: Tensor) -> Tensor:
    shifted, total = _shifted_scores(graph, scores)
    total = torch.where(total > 0, total, torch.ones_like(total))  # nodes without in-edges
    return shifted - destination_feature(graph, total.log())


EDGE_SOFTMAX = Kernel("edge_softmax", block_softmax, dgl_kernel("edge_softmax"), _softmax_by_parts)
#: Composed of other kernels, which dispatch themselves: one function serves DGL and torch.
EDGE_LOG_SOFTMAX = Kernel(
    "edge_log_softmax",
    partial(block_softmax, log=True),
    _log_softmax_by_parts,
    _log_softmax_by_parts,
)


def edge_softmax(graph: KnowledgeGraph, scores: Tensor) -> Tensor:
    r"""Normalise edge scores into a distribution over each node's incoming edges.

    .. math::
        a_{uv} = \frac{\exp(s_{uv})}{\sum_{w \in \mathcal{N}(v)} \exp(s_{wv})}

    Shapes: ``scores`` ``(E,)`` or ``(E, H)`` (one score per head) -> the same; the
    entries on the edges into one node sum to 1 (the conventions of :mod:`graphkd.ops`).

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([2, 2]), num_nodes=3)
    >>> edge_softmax(g, torch.tensor([0.0, 0.0]))
    tensor([0.5000, 0.5000])
    """
    return EDGE_SOFTMAX(graph, scores)


def edge_log_softmax(graph: KnowledgeGraph, scores: Tensor) -> Tensor:
    r"""Log-probabilities of the distribution over each node's incoming edges.

    .. math::
        \log a_{uv} = (s_{uv} - m_v)
            - \log \sum_{w \in \mathcal{N}(v)} \exp(s_{wv} - m_v),
        \qquad m_v = \max_{w \in \mathcal{N}(v)} s_{wv}

    The maximum is subtracted first (without gradient), so the log-probabilities stay
    finite however large the score gaps are, where ``log(edge_softmax(...))`` would give
    ``-inf``. Shapes as :func:`edge_softmax`.

    Example
    -------
    >>> import torch
    >>> g = KnowledgeGraph(torch.tensor([0, 1]), torch.tensor([2, 2]), num_nodes=3)
    >>> edge_log_softmax(g, torch.tensor([0.0, -1000.0]))
    tensor([    0., -1000.])
    """
    return EDGE_LOG_SOFTMAX(graph, scores)
