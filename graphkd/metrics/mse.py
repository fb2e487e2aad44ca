"""Squared-error metric."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_choice
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


#: The reductions that divide the summed squared error by a count of the graph's.
PER = {"per_sample": "samples (batch_size)", "per_node": "nodes (num_nodes)"}


@METRICS.register("mse")
class MSE(Metric):
    """Squared error between student and teacher, for node or edge features.

    .. math::

        \\ell = \\operatorname{reduce}\\big((s - t)^2\\big)

    Parameters
    ----------
    reduction : {"mean", "sum", "batchmean", "per_sample", "per_node"}, default "mean"
        Mean over all elements, sum, or sum divided by the number of rows (dim 0), by the
        number of samples of the batched ``graph`` (``graph.batch_size``; KD-SVD's
        normalisation) or by its number of nodes (``graph.num_nodes``; ICKD's, where
        the nodes are the :math:`B C` channels). The last two need the graph.
    check_finite : bool, default True
        Reject NaN/Inf inputs (see :class:`Metric`).

    Shapes: ``student`` and ``teacher`` ``(N, ...)``, equal; ``graph`` is read by the
    ``per_sample`` and ``per_node`` reductions only.

    Example
    -------
    >>> import torch
    >>> metric = MSE()
    >>> float(metric(torch.zeros(2, 2), torch.full((2, 2), 2.0)))
    4.0
    """

    def __init__(self, reduction: str = "mean", check_finite: bool = True) -> None:
        super().__init__(check_finite)
        check_choice("mse", "reduction", reduction, (*functional.ELEMENTWISE_REDUCTIONS, *PER))
        self.reduction = reduction

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        if self.reduction not in PER:
            return functional.mse(student, teacher, reduction=self.reduction)
        if graph is None:
            raise ValueError(
                f"mse with reduction {self.reduction!r} divides by the graph's "
                f"{PER[self.reduction]}: pass the graph (use it in a graph's match term)"
            )
        # d * d, not d.square(): its backward pass keeps two buffers of d's size, not three
        difference = student - teacher
        count = graph.batch_size if self.reduction == "per_sample" else graph.num_nodes
        return (difference * difference).sum() / count
