"""Normalized KD (Yang et al., ICCV 2023): a target node term and a cross-entropy over the
normalised non-target class nodes."""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.class_split import check_pair_labels, split_classes
from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics.metric import Metric, check_non_negative, check_positive
from graphkd.responses import Responses


def normalised_split(responses: Responses) -> KnowledgeGraph:
    r"""Samples as nodes with their target class apart from the non-target classes.

    * ``ndata["target"]`` ``(B, 1)``: :math:`\log p_y` with :math:`p = \mathrm{softmax}(z)`
      (temperature 1);
    * ``ndata["non_target"]`` ``(B, C - 1)``: the non-target logits in class order (the
      target's column removed), whose softmax is the normalised non-target distribution.
    """
    logits = responses.logits
    rows = logits.shape[0]
    target, _ = split_classes(F.log_softmax(logits, dim=1), responses)
    _, non_target = split_classes(logits, responses)
    none = torch.empty(0, dtype=torch.long, device=logits.device)
    return KnowledgeGraph(none, none, rows, ndata={"target": target, "non_target": non_target})


class TargetLikelihood(Metric):
    r"""The student's target log-probability weighted by the teacher's target probability.

    .. math::
        \ell = -\frac{1}{B}\sum_i p^t_{i,y_i}\,\log p^s_{i,y_i}

    Shapes: ``student`` and ``teacher`` ``(B, 1)`` target log-probabilities (the teacher's
    is only exponentiated; it gets no gradient through this term).
    """

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return -(teacher.detach().exp() * student).mean()


class SoftCrossEntropy(Metric):
    r"""Cross-entropy of the student's softened distribution under the teacher's.

    .. math::
        \ell = -\frac{\tau^2}{B}\sum_i \sum_k \mathrm{softmax}(t_i/\tau)_k\,
            \log \mathrm{softmax}(s_i/\tau)_k

    Shapes: ``student`` and ``teacher`` ``(B, K)`` scores. It differs from the KL
    divergence by the teacher's entropy, which carries no gradient to the student.
    """

    def __init__(self, temperature: float = 1.0, check_finite: bool = True) -> None:
        super().__init__(check_finite)
        check_positive("soft cross-entropy", "temperature", temperature)
        self.temperature = temperature

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        tau = self.temperature
        log_s = F.log_softmax(student / tau, dim=-1)
        p_t = F.softmax(teacher / tau, dim=-1)
        rows = student.numel() // student.shape[-1]
        return -(p_t * log_s).sum() * (tau**2 / rows)


class NKDDistiller(GraphMatchingDistiller):
    """Normalized KD on the target node and the normalised non-target nodes; see
    :func:`nkd`."""

    graph_name = "samples"

    def __init__(
        self, temperature: float = 1.0, gamma: float = 1.5, ce_weight: float = 1.0
    ) -> None:
        check_positive("nkd", "temperature", temperature)
        check_non_negative("nkd", "gamma", gamma)
        terms = [
            MatchTerm("target", "target", "nodes", TargetLikelihood(check_finite=False)),
            MatchTerm(
                "non_target",
                "non_target",
                "nodes",
                SoftCrossEntropy(temperature, check_finite=False),
                weight=gamma,
            ),
        ]
        super().__init__(normalised_split, terms=terms, ce_weight=ce_weight)
        self.temperature, self.gamma = temperature, gamma

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        if self.check_inputs:
            check_pair_labels(teacher, student)
        return super().forward(teacher, student)


@METHODS.register("nkd")
@preset(NKDDistiller)
def nkd() -> NKDDistiller:
    r"""Normalized knowledge distillation (Yang et al., ICCV 2023).

    With :math:`p = \mathrm{softmax}(z)` and :math:`\hat p =
    \mathrm{softmax}(z_{\setminus y}/\tau)`, the distribution over the :math:`C - 1`
    non-target classes alone (normalised to sum to 1),

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_i p^t_{i,y_i}\log p^s_{i,y_i}
            \;-\; \gamma\,\frac{\tau^2}{B}\sum_i\sum_{k \ne y_i}
            \hat p^t_{i,k}\log \hat p^s_{i,k}

    beside the student's cross-entropy (weight 1). The target term is at temperature 1
    whatever :math:`\tau`.

    Shapes: ``(B, C)`` logits, ``(B,)`` integer labels (``Responses.labels``), ``C >= 2``.

    Parameters
    ----------
    temperature : float
        :math:`\tau` of the non-target term (1, the reference's default and ImageNet
        setting; its CIFAR-100 config uses 3).
    gamma : float
        :math:`\gamma`, weight of the non-target term (1.5; 3.5 in its CIFAR-100 config).
    ce_weight : float
        Weight of the student's cross-entropy (1).

    Example
    -------
    Three labelled samples; the loss is the target term plus :math:`\gamma` times the
    non-target term:

    >>> import torch
    >>> from graphkd import Responses
    >>> labels = torch.tensor([0, 2, 1])
    >>> t = Responses(torch.randn(3, 4), labels=labels)
    >>> s = Responses(torch.randn(3, 4), labels=labels)
    >>> out = nkd()(t, s)
    >>> sorted(out), bool(torch.isclose(out["loss"], out["target"] + 1.5 * out["non_target"]))
    (['loss', 'non_target', 'target'], True)
    """
