"""Jensen-Shannon metric for node distributions and edge (attention) distributions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_choice, check_positive
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


@METRICS.register("js")
class JSDivergence(Metric):
    """Jensen-Shannon divergence between the softmax distributions of student and teacher.

    .. math::

        M = \\tfrac{1}{2}(P^s + P^t), \\qquad
        \\ell = \\frac{c}{n} \\sum_{\\text{distributions}} \\Big(
            \\tfrac{1}{2}\\mathrm{KL}(P^s \\,\\|\\, M)
            + \\tfrac{1}{2}\\mathrm{KL}(P^t \\,\\|\\, M)\\Big)

    Distributions (node mode over the last dim, edge mode over the incoming edges of each
    node and head), :math:`c` and :math:`n` as in :class:`KLDivergence`. JS is symmetric,
    so there is no ``direction`` option; it is bounded by :math:`c \\log 2`.

    Parameters
    ----------
    temperature : float, default 1.0
        Divides the scores before the softmax.
    reduction : {"batchmean", "sum"}, default "batchmean"
        Divide the summed divergence by the number of distributions, or not.
    scale_by_temperature_squared : bool, default False
        Multiply by ``temperature**2``.
    check_finite : bool, default True
        Reject NaN/Inf inputs (see :class:`Metric`).

    Example
    -------
    >>> import torch
    >>> metric = JSDivergence()
    >>> s = torch.tensor([[100.0, 0.0]])
    >>> t = torch.tensor([[0.0, 100.0]])
    >>> round(float(metric(s, t)), 4)  # log 2: the supports barely overlap
    0.6931
    """

    def __init__(
        self,
        temperature: float = 1.0,
        reduction: str = "batchmean",
        scale_by_temperature_squared: bool = False,
        check_finite: bool = True,
    ) -> None:
        super().__init__(check_finite)
        check_positive("js", "temperature", temperature)
        check_choice("js", "reduction", reduction, functional.DISTRIBUTION_REDUCTIONS)
        self.temperature = temperature
        self.reduction = reduction
        self.scale_by_temperature_squared = scale_by_temperature_squared

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return functional.js_divergence(
            student,
            teacher,
            graph,
            temperature=self.temperature,
            reduction=self.reduction,
            scale_by_temperature_squared=self.scale_by_temperature_squared,
        )
