"""InfoNCE contrastive metric (as used by HKD, Zhou et al. ICCV 2021)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor

from graphkd.metrics import functional
from graphkd.metrics.metric import Metric, check_finite, check_positive
from graphkd.metrics.registry import METRICS

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph


@METRICS.register("infonce")
class InfoNCE(Metric):
    """InfoNCE: cross-entropy of each anchor's positive against its negatives.

    .. math::

        \\ell = \\frac{1}{B} \\sum_i -\\log
            \\frac{\\exp(\\langle a_i, p_i \\rangle / T)}
            {\\exp(\\langle a_i, p_i \\rangle / T)
             + \\sum_k \\exp(\\langle a_i, n_{ik} \\rangle / T)}

    The student rows are the anchors :math:`a_i`, the teacher rows the positives
    :math:`p_i`. Without ``negatives``, the other teacher rows of the batch serve as the
    negatives (in-batch InfoNCE); with one row and no negatives the loss is 0.

    The inputs are used as given, without normalisation: pass L2-normalised embeddings
    (as HKD does) to compare cosine similarities.

    Parameters
    ----------
    temperature : float, default 0.07
    check_finite : bool, default True
        Reject NaN/Inf inputs, ``negatives`` included (see :class:`Metric`).

    Shapes: ``student`` and ``teacher`` ``(B, D)``; ``negatives`` ``(B, K, D)``;
    ``graph`` is not used.

    Example
    -------
    >>> import torch
    >>> metric = InfoNCE(temperature=1.0)
    >>> a = torch.tensor([[1.0, 0.0]])
    >>> negatives = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])
    >>> round(float(metric(a, a, negatives=negatives)), 4)  # -log(e / (e + 2))
    0.5514
    """

    def __init__(self, temperature: float = 0.07, check_finite: bool = True) -> None:
        super().__init__(check_finite)
        check_positive("infonce", "temperature", temperature)
        self.temperature = temperature

    def forward(
        self,
        student: Tensor,
        teacher: Tensor,
        graph: Optional[KnowledgeGraph] = None,
        negatives: Optional[Tensor] = None,
    ) -> Tensor:
        self.check_inputs(student, teacher)
        if negatives is not None and self.check_finite:
            check_finite("negatives", negatives)
        return functional.info_nce(
            student, teacher, negatives=negatives, temperature=self.temperature
        )
