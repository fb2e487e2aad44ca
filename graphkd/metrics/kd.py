"""Vanilla knowledge distillation (Hinton et al. 2015)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_positive
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


@METRICS.register("kd")
class KD(Metric):
    """Vanilla knowledge distillation on logits (Hinton et al. 2015).

    .. math::

        \\ell = \\frac{\\tau^2}{B} \\sum_i \\mathrm{KL}\\big(
            \\operatorname{softmax}(z^t_i / \\tau) \\,\\|\\,
            \\operatorname{softmax}(z^s_i / \\tau)\\big)

    Parameters
    ----------
    tau : float, default 4.0
        Temperature (4 on CIFAR-100).
    check_finite : bool, default True
        Reject NaN/Inf inputs (see :class:`Metric`).

    Shapes: ``student`` and ``teacher`` ``(B, C)`` logits (any leading dims count as
    rows); ``graph`` is not used.

    Example
    -------
    >>> import torch
    >>> metric = KD(tau=1.0)
    >>> s = torch.tensor([[0.0, 0.0]])
    >>> t = torch.tensor([[100.0, 0.0]])
    >>> round(float(metric(s, t)), 4)  # KL(one-hot || uniform) = log 2
    0.6931
    """

    def __init__(self, tau: float = 4.0, check_finite: bool = True) -> None:
        super().__init__(check_finite)
        check_positive("kd", "tau", tau)
        self.tau = tau

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return functional.kd_loss(student, teacher, tau=self.tau)
