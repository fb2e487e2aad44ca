"""Pearson-distance metric (the building block of DIST)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_positive
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


@METRICS.register("pearson")
class PearsonDistance(Metric):
    """One minus the Pearson correlation of student and teacher (DIST, Huang et al. 2022).

    .. math::

        \\rho(a, b) = \\frac{\\langle a - \\bar a, b - \\bar b \\rangle}
            {\\max(\\lVert a - \\bar a \\rVert, \\epsilon)\\,
             \\max(\\lVert b - \\bar b \\rVert, \\epsilon)},
        \\qquad \\ell = \\operatorname{mean}\\big(1 - \\rho(s, t)\\big)

    For ``(B, C)`` inputs, ``dim=1`` correlates each row across its ``C`` entries and
    averages over rows (DIST's inter-class relation); ``dim=0`` correlates each column
    across the batch and averages over columns (intra-class relation). DIST applies it to
    ``softmax(z / 4)`` of teacher and student. A constant slice gives correlation 0
    (distance 1) with finite gradients.

    Parameters
    ----------
    dim : int, default 1
        The dim along which each correlation is taken.
    eps : float, default 1e-8
        Lower bound of each centred norm.
    check_finite : bool, default True
        Reject NaN/Inf inputs (see :class:`Metric`).

    Shapes: ``student`` and ``teacher`` equal, with at least ``dim + 1`` dims;
    ``graph`` is not used.

    Example
    -------
    >>> import torch
    >>> s = torch.tensor([[1.0, 2.0, 4.0], [0.0, 1.0, 0.0]])
    >>> bool(PearsonDistance()(s, 3 * s - 1).abs() < 1e-6)
    True
    >>> round(float(PearsonDistance()(s, -s)), 4)
    2.0
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8, check_finite: bool = True) -> None:
        super().__init__(check_finite)
        check_positive("pearson", "eps", eps)
        self.dim = dim
        self.eps = eps

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return functional.pearson_distance(student, teacher, dim=self.dim, eps=self.eps)
