"""Cosine-distance metric."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_positive
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


@METRICS.register("cosine")
class CosineDistance(Metric):
    """One minus the cosine similarity of student and teacher rows, mean over rows.

    .. math::

        \\ell = \\frac{1}{N} \\sum_i \\Big(1 - \\frac{\\langle s_i, t_i \\rangle}
            {\\max(\\lVert s_i \\rVert, \\epsilon)\\, \\max(\\lVert t_i \\rVert, \\epsilon)}\\Big)

    Parameters
    ----------
    eps : float, default 1e-8
        Lower bound of each norm: zero vectors give similarity 0 with finite gradients.
    check_finite : bool, default True
        Reject NaN/Inf inputs (see :class:`Metric`).

    Shapes: ``student`` and ``teacher`` ``(..., D)``, equal; the similarity is taken
    along the last dim and every position of the leading dims is a row (nodes, or edges
    for edge features). ``graph`` is not used.

    Example
    -------
    >>> import torch
    >>> metric = CosineDistance()
    >>> s = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    >>> t = torch.tensor([[-1.0, 0.0], [3.0, 3.0]])
    >>> round(float(metric(s, t)), 4)  # (2 + 0) / 2
    1.0
    """

    def __init__(self, eps: float = 1e-8, check_finite: bool = True) -> None:
        super().__init__(check_finite)
        check_positive("cosine", "eps", eps)
        self.eps = eps

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return functional.cosine_distance(student, teacher, eps=self.eps)
