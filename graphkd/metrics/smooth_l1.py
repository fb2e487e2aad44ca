"""Smooth L1 metric."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_choice
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


@METRICS.register("smooth_l1")
class SmoothL1(Metric):
    """Smooth L1 error between student and teacher (as in RKD's distance and angle terms).

    .. math::

        d = s - t, \\qquad
        \\ell = \\operatorname{reduce}\\begin{cases}
            \\tfrac{1}{2} d^2 / \\beta & |d| < \\beta \\\\
            |d| - \\tfrac{1}{2}\\beta & \\text{otherwise}
        \\end{cases}

    Parameters
    ----------
    beta : float, default 1.0
        Where the quadratic part ends; ``beta = 0`` gives the L1 error.
    reduction : {"mean", "sum", "batchmean"}, default "mean"
        Mean over all elements, sum, or sum divided by the number of rows (dim 0).
    check_finite : bool, default True
        Reject NaN/Inf inputs (see :class:`Metric`).

    Shapes: ``student`` and ``teacher`` ``(N, ...)``, equal; ``graph`` is not used.

    Example
    -------
    >>> import torch
    >>> metric = SmoothL1()
    >>> float(metric(torch.zeros(2), torch.tensor([0.5, 3.0])))  # (0.125 + 2.5) / 2
    1.3125
    """

    def __init__(
        self, beta: float = 1.0, reduction: str = "mean", check_finite: bool = True
    ) -> None:
        super().__init__(check_finite)
        if beta < 0:
            raise ValueError(f"smooth_l1: beta must be >= 0, got {beta!r}; pass beta >= 0")
        check_choice("smooth_l1", "reduction", reduction, functional.ELEMENTWISE_REDUCTIONS)
        self.beta = beta
        self.reduction = reduction

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return functional.smooth_l1(student, teacher, beta=self.beta, reduction=self.reduction)
