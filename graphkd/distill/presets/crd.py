"""CRD (Tian et al., ICLR 2020): contrastive representation distillation with memory banks."""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor

from graphkd.distill.bank_distiller import BankDistiller, kd_terms
from graphkd.distill.embedded_samples import EmbeddedSamples
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric
from graphkd.metrics.metric import check_finite, check_positive

#: The constant the reference adds to the noise term of each denominator.
EPS = 1e-7


class NoiseContrast(Metric):
    r"""CRD's noise-contrastive estimation loss (Tian et al. 2020, Eq. 18 of the paper).

    Each anchor :math:`a_b` has one positive :math:`p_b` and :math:`K` negatives
    :math:`n_{bk}`, scored :math:`s = \langle a, \cdot\rangle`. With the
    unnormalised likelihood :math:`P = \exp(s / T) / Z`, the uniform noise
    :math:`P_n = 1/N` over the :math:`N` training samples and :math:`c = K P_n`:

    .. math::
        \ell = -\frac{1}{B}\sum_b \Big[\log\frac{P_{b0}}{P_{b0} + c + \epsilon}
               + \sum_{k=1}^{K} \log\frac{c}{P_{bk} + c + \epsilon}\Big],
        \qquad \epsilon = 10^{-7}.

    The constant :math:`Z` is estimated once, on the first call, as
    :math:`N` times the mean of :math:`\exp(s / T)` over the whole ``(B, K + 1)``
    score matrix of that batch, without gradient, and kept in the buffer
    ``normaliser`` (saved with the state dict; ``-1`` until then). The logarithms are
    evaluated as ``logaddexp`` of log-likelihoods, so a vanishing :math:`P` gives a
    finite loss and gradient.

    Shapes: ``student`` (anchors) and ``teacher`` (positives) ``(B, D)``, ``negatives``
    ``(B, K, D)``; or, through :meth:`from_scores`, the ``(B, K + 1)`` scores with the
    positive in column 0.

    Parameters
    ----------
    num_samples : int
        :math:`N`, the training-set size (the noise distribution is uniform over it).
    temperature : float
        :math:`T` (default 0.07).
    check_finite : bool
        Reject NaN/Inf inputs (see :class:`~graphkd.metrics.Metric`).

    Example
    -------
    >>> import torch
    >>> import torch.nn.functional as F
    >>> metric = NoiseContrast(num_samples=100)
    >>> a = F.normalize(torch.randn(4, 8), dim=1)
    >>> loss = metric(a, a, negatives=F.normalize(torch.randn(4, 5, 8), dim=2))
    >>> bool(loss > 0), bool(metric.normaliser > 0)
    (True, True)
    """

    normaliser: Tensor

    def __init__(
        self, num_samples: int, temperature: float = 0.07, check_finite: bool = True
    ) -> None:
        super().__init__(check_finite)
        check_positive("noise_contrast", "temperature", temperature)
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(
                f"noise_contrast: num_samples must be a positive int (the training-set size), "
                f"got {num_samples!r}"
            )
        self.num_samples = num_samples
        self.temperature = temperature
        self.register_buffer("normaliser", torch.tensor(-1.0))

    def reset_parameters(self) -> None:
        """Forget :math:`Z`: the next call estimates it again."""
        self.normaliser.fill_(-1.0)

    def forward(
        self,
        student: Tensor,
        teacher: Tensor,
        graph: Optional[KnowledgeGraph] = None,
        negatives: Optional[Tensor] = None,
    ) -> Tensor:
        self.check_inputs(student, teacher)
        if negatives is None or negatives.dim() != 3 or negatives.shape[0] != student.shape[0]:
            shape = None if negatives is None else tuple(negatives.shape)
            raise ValueError(
                f"noise_contrast needs negatives of shape (B, K, D) = ({student.shape[0]}, K, "
                f"{student.shape[-1]}), got {shape}"
            )
        if self.check_finite:
            check_finite("negatives", negatives)
        positive = (student * teacher).sum(1, keepdim=True)
        scores = torch.cat([positive, torch.einsum("bd,bkd->bk", student, negatives)], 1)
        return self.from_scores(scores)

    def from_scores(self, scores: Tensor) -> Tensor:
        """The loss from the ``(B, K + 1)`` scores, positive first (estimates :math:`Z`
        on the first call)."""
        if scores.dim() != 2 or scores.shape[1] < 2:
            raise ValueError(
                f"noise_contrast expects (B, K + 1) scores with K >= 1, got {tuple(scores.shape)}"
            )
        logits = scores.to(torch.promote_types(scores.dtype, torch.float32)) / self.temperature
        with torch.no_grad():
            normaliser = self.normaliser.to(logits.dtype)
            # N * mean(exp(s / T)), in log space; kept once it is set
            estimate = torch.logsumexp(logits.flatten(), 0) - math.log(logits.numel())
            estimate = (estimate + math.log(self.num_samples)).exp()
            normaliser = torch.where(normaliser > 0, normaliser, estimate)
            self.normaliser.copy_(normaliser)
        log_p = logits - normaliser.log()
        count = scores.shape[1] - 1
        noise = count / self.num_samples
        log_noise = torch.full_like(log_p, math.log(noise + EPS))
        log_denominator = torch.logaddexp(log_p, log_noise)
        positive = log_p[:, 0] - log_denominator[:, 0]
        negative = math.log(noise) - log_denominator[:, 1:]
        return -(positive.sum() + negative.sum()) / scores.shape[0]

    def extra_repr(self) -> str:
        return f"num_samples={self.num_samples}, temperature={self.temperature}"


class CRDDistiller(BankDistiller):
    r"""Contrastive representation distillation (Tian et al., ICLR 2020).

    Each network's pooled features pass through its own linear embedding and L2
    normalisation (:math:`e^s_i`, :math:`e^t_i`, 128 wide, both heads train with the
    student; :class:`~graphkd.distill.embedded_samples.EmbeddedSamples`). Two memory
    banks hold one row per training sample: :math:`M_s` the student's embeddings,
    :math:`M_t` the teacher's. The knowledge graph is bipartite: every sample :math:`i`
    of the batch receives an edge from bank row :math:`i` (its positive) and from :math:`K` bank rows :math:`N_i` of samples of other classes (its
    negatives, drawn without replacement: the reference's ``"exact"`` mode), each edge
    scored by a dot product. With :math:`\ell_Z` the :class:`NoiseContrast` loss:

    .. math::
        \mathcal{L} = w\,\Big[\ell_{Z_s}\big(e^s_i;\ M_t[i],\ M_t[N_i]\big)
                      + \ell_{Z_t}\big(e^t_i;\ M_s[i],\ M_s[N_i]\big)\Big]
                      \;(+\ \alpha\,\mathcal{L}_{kd})

    with its own constant :math:`Z` per direction. After the optimiser step
    :meth:`after_step` pulls the batch's bank rows towards the embeddings,
    :math:`M[i] \leftarrow \mathrm{normalize}(\mu M[i] + (1 - \mu) e_i)`, :math:`\mu = 0.5`.

    Parameters
    ----------
    weight : float
        :math:`w` (0.8).
    temperature : float
        :math:`T` (0.07).
    momentum : float
        Bank momentum :math:`\mu` (0.5).
    kd_weight, kd_temperature : float
        :math:`\alpha` (0: CRD alone) and :math:`\tau` (4) of an optional KD term.
    **options
        The bank methods' keyword-only options
        (:class:`~graphkd.distill.bank_distiller.BankDistiller`): ``teacher_dim``,
        ``student_dim`` and ``labels`` (required), ``num_samples``, ``embed_dim`` (128),
        ``nce_k`` (:math:`K` = 16384 negatives per sample, drawn without replacement),
        ``replacement``, ``bank_dtype`` (float32) and ``check_inputs``.

    Example
    -------
    One term per direction, banks of one row per training sample (a training step:
    :class:`~graphkd.distill.bank_distiller.BankDistiller`):

    >>> import torch
    >>> labels = torch.arange(200) % 10
    >>> distiller = CRDDistiller(teacher_dim=32, student_dim=16, labels=labels, nce_k=64)
    >>> [term.name for term in distiller.terms], tuple(distiller.bank_t.memory.shape)
    (['student_anchor', 'teacher_anchor'], (200, 128))
    """

    graph_name = "samples"

    method_name = "CRD"

    def __init__(
        self,
        weight: float = 0.8,
        temperature: float = 0.07,
        momentum: float = 0.5,
        kd_weight: float = 0.0,
        kd_temperature: float = 4.0,
        **options: Any,
    ) -> None:
        def terms(num_samples: int) -> List[MatchTerm]:
            """One noise-contrastive term per direction, each with its own :math:`Z`."""
            contrast = [
                MatchTerm(
                    name, "embed", "nodes", NoiseContrast(num_samples, temperature, False), weight
                )
                for name in ("student_anchor", "teacher_anchor")
            ]
            return contrast + kd_terms(kd_weight, kd_temperature)

        super().__init__(partial(EmbeddedSamples, normalise=True), terms, momentum, **options)

    def contrast(
        self, teacher: KnowledgeGraph, student: KnowledgeGraph, index: Tensor, negatives: Tensor
    ) -> Dict[str, Tensor]:
        """``{"student_anchor", "teacher_anchor"}``: each network's embeddings against the
        other's bank; the banks receive the embeddings."""
        # the bipartite graph's edges into sample i: bank row i first, then its negatives
        sources = torch.cat([index.unsqueeze(1), negatives.to(index.device)], 1)
        embed_s, embed_t = student.ndata["embed"], teacher.ndata["embed"]
        values = {
            "student_anchor": self.metrics["student_anchor"].from_scores(
                self.bank_t.scores(embed_s, sources)
            ),
            "teacher_anchor": self.metrics["teacher_anchor"].from_scores(
                self.bank_s.scores(embed_t, sources)
            ),
        }
        self.remember(index, embed_t, embed_s)
        return values


@METHODS.register("crd")
@preset(CRDDistiller)
def crd() -> CRDDistiller:
    r"""Contrastive representation distillation (Tian et al., ICLR 2020).

    .. math::
        \mathcal{L} = \mathcal{L}_{ce} + 0.8\,\big(\ell_{Z_s}(e^s; M_t) + \ell_{Z_t}(e^t; M_s)\big)

    See :class:`CRDDistiller` and :class:`NoiseContrast`.

    Parameters
    ----------
    teacher_dim, student_dim, num_samples, labels
        Passed by the trainer (see :func:`~graphkd.distill.bank_distiller.required_inputs`).
    weight : float
        0.8, the reference's CRD weight (``-b 0.8``; CE weight 1, KD 0).
    embed_dim, nce_k, temperature, momentum
        128, 16384, 0.07 and 0.5, the reference's ``feat_dim``, ``nce_k``, ``nce_t``
        and ``nce_m``.
    kd_weight, kd_temperature : float
        An added KD term (0 and 4; the reference's "CRD+KD" row uses 1).
    replacement, bank_dtype
        As for :class:`CRDDistiller` (``False``, as the reference, and ``"float32"``).

    Example
    -------
    >>> import torch
    >>> import graphkd
    >>> method = graphkd.create_method(
    ...     "crd", teacher_dim=32, student_dim=16, labels=torch.arange(100) % 10, nce_k=32
    ... )
    >>> method.needs_index, method.ce_weight
    (True, 1.0)
    """


__all__: List[str] = ["CRDDistiller", "NoiseContrast", "crd"]
