"""AT (Zagoruyko & Komodakis, ICLR 2017): match spatial attention maps of every stage."""

from __future__ import annotations

from typing import Any, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.inputs import pool_to_smaller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.distill.stage_pairs import (
    ChannelPairDistiller,
    StagePairs,
    sample_graphs,
    term_name,
)
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses


def attention_map(features: Tensor, p: float = 2.0) -> Tensor:
    r"""Each sample's spatial attention vector: the channel mean of the maps' ``p``-th
    powers, flattened and L2-normalised.

    .. math::
        q = \frac{\operatorname{vec}\big(\tfrac{1}{C}\sum_c A_c^{\,p}\big)}
                 {\max\big(\|\operatorname{vec}(\tfrac{1}{C}\sum_c A_c^{\,p})\|_2,\ 10^{-12}\big)}

    Parameters
    ----------
    features : Tensor
        ``(B, C, H, W)`` maps (post-ReLU stage outputs, so that non-integer ``p`` is
        defined).
    p : float
        The power (2).

    Returns
    -------
    Tensor
        ``(B, H W)``, unit rows (zero rows stay zero).

    Example
    -------
    >>> q = attention_map(torch.rand(2, 8, 4, 4))
    >>> tuple(q.shape), bool(torch.allclose(q.norm(dim=1), torch.ones(2)))
    ((2, 16), True)
    """
    return F.normalize(features.pow(p).mean(1).flatten(1), dim=1)


class ATDistiller(ChannelPairDistiller):
    r"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017) as node terms.

    The samples of a batch are the nodes of an edgeless graph on each side; stage pair
    :math:`j` (teacher map :math:`A^t_j`, student map :math:`A^s_j`, paired by order)
    gives every node the field ``"at_<name>"``: its spatial attention vector
    :func:`attention_map`, after the larger of the two maps has been average-pooled to
    the smaller's spatial size. The loss sums a mean squared error per pair:

    .. math::
        \mathcal{L} = w \sum_j \frac{1}{B\,H_j W_j} \sum_i
            \big\|q(A^s_{j,i}) - q(A^t_{j,i})\big\|_2^2

    Parameters
    ----------
    p : float
        Power of the attention maps (2).
    weight : float
        :math:`w` (1000).
    **options
        The pairing options and ``ce_weight``, ``check_inputs``: those of
        :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`.

    Example
    -------
    >>> teacher = Responses(torch.randn(4, 10), features={"layer1": torch.rand(4, 16, 8, 8)})
    >>> student = Responses(torch.randn(4, 10), features={"layer1": torch.rand(4, 8, 4, 4)})
    >>> distiller = ATDistiller(teacher_features=["layer1"], student_features=["layer1"])
    >>> sorted(distiller(teacher, student))  # 8 x 8 pooled to 4 x 4
    ['at_layer1', 'loss']
    """

    graph_name = "attention"

    def __init__(self, p: float = 2.0, weight: float = 1000.0, **options: Any) -> None:
        def attention_terms(pairs: StagePairs) -> List[MatchTerm]:
            fields = [term_name("at", name) for name in pairs.teacher]
            return [MatchTerm(field, field, "nodes", "mse", weight) for field in fields]

        super().__init__("at", attention_terms, **options)
        self.fields = [term.name for term in self.terms]
        self.p = p

    def _graph_pair(
        self, teacher: Responses, student: Responses
    ) -> Tuple[KnowledgeGraph, KnowledgeGraph]:
        """Teacher and student sample graphs with one attention field per stage pair
        (the pair's maps are pooled to a common size, so both sides are built here)."""
        s_fields, t_fields = {}, {}
        for field, (s_map, t_map) in zip(self.fields, self.paired_maps(teacher, student)):
            s_map, t_map = pool_to_smaller(s_map, t_map)
            with torch.no_grad():
                t_fields[field] = attention_map(t_map, self.p)
            s_fields[field] = attention_map(s_map, self.p)
        return sample_graphs(t_fields, s_fields)


@METHODS.register("at")
@preset(ATDistiller)
def at() -> ATDistiller:
    r"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017), mdistiller's settings.

    .. math::
        \mathcal{L} = w \sum_j \frac{1}{B\,H_j W_j} \sum_i
            \big\|q(A^s_{j,i}) - q(A^t_{j,i})\big\|_2^2, \qquad
        q(A) = \frac{\operatorname{vec}(\tfrac{1}{C}\sum_c A_c^{\,p})}
                    {\|\operatorname{vec}(\tfrac{1}{C}\sum_c A_c^{\,p})\|_2}

    summed over the paired stage outputs :math:`j` (see :class:`ATDistiller`).

    Parameters
    ----------
    p : float
        2.
    weight : float
        1000.
    teacher_channels, student_channels, teacher_features, student_features, ce_weight, check_inputs
        Those of :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`. The
        reference reads every stage after the stem: for the zoo's ResNets and WRNs that is
        every tapped stage; for VGGs name ``["relu1", "relu2", "relu3", "relu4"]``.

    Example
    -------
    >>> channels = {"layer1": 64, "layer2": 128, "layer3": 256}
    >>> distiller = at(teacher_channels=channels, student_channels=channels)
    >>> distiller.teacher_features, distiller.terms[0].weight
    (['layer1', 'layer2', 'layer3'], 1000.0)
    """
