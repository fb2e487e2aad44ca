"""Squared-error metric."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_choice
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


@METRICS.register("mse")
class MSE(Metric):
    """Squared error between student and teacher, for node or edge features.

    .. math::

        \\ell = \\operatorname{reduce}\\big((s - t)^2\\big)

    Parameters
    ----------
    reduction : {"mean", "sum", "batchmean"}, default "mean"
        Mean over all elements, sum, or sum divided by the number of rows (dim 0).
    check_finite : bool, default True
        Reject NaN/Inf inputs (see :class:`Metric`).

    Shapes: ``student`` and ``teacher`` ``(N, ...)``, equal; ``graph`` is not used.

    Example
    -------
    >>> import torch
    >>> metric = MSE()
    >>> float(metric(torch.zeros(2, 2), torch.full((2, 2), 2.0)))
    4.0
    """

    def __init__(self, reduction: str = "mean", check_finite: bool = True) -> None:
        super().__init__(check_finite)
        check_choice("mse", "reduction", reduction, functional.ELEMENTWISE_REDUCTIONS)
        self.reduction = reduction

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return functional.mse(student, teacher, reduction=self.reduction)
