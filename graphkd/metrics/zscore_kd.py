"""Logit-standardised knowledge distillation (Sun et al., CVPR 2024)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_positive
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


@METRICS.register("zscore_kd")
class ZScoreKD(Metric):
    """Knowledge distillation on z-scored logits (logit standardisation, Sun et al. CVPR 2024).

    .. math::

        Z(z) = \\frac{z - \\operatorname{mean}_c z}{\\operatorname{std}_c z + 10^{-7}},
        \\qquad
        \\ell = \\frac{\\tau^2}{B} \\sum_i \\mathrm{KL}\\big(
            \\operatorname{softmax}(Z(z^t_i) / \\tau) \\,\\|\\,
            \\operatorname{softmax}(Z(z^s_i) / \\tau)\\big)

    with the unbiased standard deviation over classes (see
    :func:`graphkd.metrics.functional.zscore`). The loss is invariant to a per-row shift
    and positive scale of either network's logits.

    Parameters
    ----------
    tau : float, default 2.0
        Base temperature (2 in the paper; 3 for some teacher-student pairs).
    check_finite : bool, default True
        Reject NaN/Inf inputs (see :class:`Metric`).

    Shapes: ``student`` and ``teacher`` ``(B, C)`` logits with ``C >= 2``; ``graph`` is
    not used.

    Example
    -------
    >>> import torch
    >>> metric = ZScoreKD()
    >>> z = torch.tensor([[1.0, 2.0, 4.0]])
    >>> bool(metric(z, 3 * z - 7).abs() < 1e-6)  # invariant to shift and scale
    True
    """

    def __init__(self, tau: float = 2.0, check_finite: bool = True) -> None:
        super().__init__(check_finite)
        check_positive("zscore_kd", "tau", tau)
        self.tau = tau

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return functional.zscore_kd_loss(student, teacher, tau=self.tau)
