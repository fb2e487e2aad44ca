"""Kullback-Leibler metric for node distributions and edge (attention) distributions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_choice, check_positive
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


@METRICS.register("kl")
class KLDivergence(Metric):
    """KL divergence between the softmax distributions of student and teacher scores.

    .. math::

        P^t = \\operatorname{softmax}(t / T),\\quad P^s = \\operatorname{softmax}(s / T),
        \\qquad \\ell = \\frac{c}{n} \\sum_{\\text{distributions}} \\sum_k P^t_k
            \\big(\\log P^t_k - \\log P^s_k\\big)

    with :math:`c = T^2` when ``scale_by_temperature_squared`` (else 1) and :math:`n` the
    number of distributions for ``"batchmean"`` (1 for ``"sum"``). The inputs are
    unnormalised scores (logits, attention logits).

    *Node mode* (``graph`` is None): each row, i.e. every position of the leading dims,
    is a distribution over the last dim. *Edge mode* (``graph`` given, scores ``(E,)`` or
    ``(E, H)``): the incoming edges of each destination node (``graph.dst``) form one
    distribution per head, as in an edge softmax; :math:`n` is the number of nodes with
    at least one incoming edge times ``H``. This is how MHGD compares attention graphs
    (``direction="student||teacher"``, ``reduction="sum"``).

    Parameters
    ----------
    temperature : float, default 1.0
        Divides the scores before the softmax.
    direction : {"teacher||student", "student||teacher"}, default "teacher||student"
        ``KL(P^t || P^s)`` or ``KL(P^s || P^t)``.
    reduction : {"batchmean", "sum"}, default "batchmean"
        Divide the summed divergence by the number of distributions, or not.
    scale_by_temperature_squared : bool, default False
        Multiply by ``temperature**2`` (Hinton et al. 2015).
    check_finite : bool, default True
        Reject NaN/Inf inputs (see :class:`Metric`).

    Example
    -------
    >>> import math
    >>> import torch
    >>> metric = KLDivergence()
    >>> s = torch.tensor([[0.0, 0.0]])
    >>> t = torch.tensor([[0.0, math.log(3.0)]])
    >>> round(float(metric(s, t)), 4)  # 0.25 log 0.5 + 0.75 log 1.5
    0.1308
    """

    def __init__(
        self,
        temperature: float = 1.0,
        direction: str = "teacher||student",
        reduction: str = "batchmean",
        scale_by_temperature_squared: bool = False,
        check_finite: bool = True,
    ) -> None:
        super().__init__(check_finite)
        check_positive("kl", "temperature", temperature)
        check_choice("kl", "direction", direction, functional.DIRECTIONS)
        check_choice("kl", "reduction", reduction, functional.DISTRIBUTION_REDUCTIONS)
        self.temperature = temperature
        self.direction = direction
        self.reduction = reduction
        self.scale_by_temperature_squared = scale_by_temperature_squared

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        return functional.kl_divergence(
            student,
            teacher,
            graph,
            temperature=self.temperature,
            direction=self.direction,
            reduction=self.reduction,
            scale_by_temperature_squared=self.scale_by_temperature_squared,
        )
