"""Functional forms of the graphkd metrics.

Each function computes one metric from tensors; the :class:`~graphkd.metrics.Metric`
modules are thin wrappers that add input validation (NaN/Inf checks) and hold the
options. The functions check shapes and options but not finiteness, and they never read
values back to the host, so they are safe in a training step.

Half-precision inputs (float16, bfloat16) are computed in float32.

Example
-------
>>> import torch
>>> from graphkd.metrics import functional as M
>>> s = torch.tensor([[1.0, 2.0, 3.0]])
>>> t = torch.tensor([[1.0, 2.0, 5.0]])
>>> round(float(M.mse(s, t)), 4)
1.3333
>>> round(float(M.pearson_distance(s, t)), 4)
0.0392
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.metrics.metric import check_choice, check_positive, check_same_shape
from graphkd.ops import edge_log_softmax

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph

ELEMENTWISE_REDUCTIONS = ("mean", "sum", "batchmean")
DISTRIBUTION_REDUCTIONS = ("batchmean", "sum")
DIRECTIONS = ("teacher||student", "student||teacher")


def _promote(*tensors: Tensor) -> Tuple[Tensor, ...]:
    """Lift half-precision tensors to float32; leave the others alone."""
    return tuple(t.float() if t.dtype in (torch.float16, torch.bfloat16) else t for t in tensors)


def _fused_elementwise(
    caller: str, loss, student: Tensor, teacher: Tensor, reduction: str, **options: float
) -> Tensor:
    """``loss`` (a ``torch.nn.functional`` loss) with its reduction fused into the kernel;
    ``"batchmean"`` is the sum divided by the number of rows."""
    check_choice(caller, "reduction", reduction, ELEMENTWISE_REDUCTIONS)
    student, teacher = _promote(student, teacher)
    if reduction == "batchmean":
        return loss(student, teacher, reduction="sum", **options) / student.shape[0]
    return loss(student, teacher, reduction=reduction, **options)


def mse(student: Tensor, teacher: Tensor, reduction: str = "mean") -> Tensor:
    """Squared error, reduced to a scalar.

    .. math::

        \\ell = \\operatorname{reduce}\\big((s - t)^2\\big)

    Parameters
    ----------
    student, teacher : Tensor
        ``(N, ...)``, equal shapes; dim 0 counts the rows.
    reduction : {"mean", "sum", "batchmean"}, default "mean"
        Mean over all elements, sum, or sum divided by the number of rows ``N``.

    Example
    -------
    >>> import torch
    >>> float(mse(torch.zeros(2, 2), torch.ones(2, 2), reduction="batchmean"))
    2.0
    """
    check_same_shape("mse", student, teacher)
    return _fused_elementwise("mse", F.mse_loss, student, teacher, reduction)


def l1(student: Tensor, teacher: Tensor, reduction: str = "mean") -> Tensor:
    """Absolute error, reduced to a scalar.

    .. math::

        \\ell = \\operatorname{reduce}\\big(|s - t|\\big)

    Parameters
    ----------
    student, teacher : Tensor
        ``(N, ...)``, equal shapes; dim 0 counts the rows.
    reduction : {"mean", "sum", "batchmean"}, default "mean"
        Mean over all elements, sum, or sum divided by the number of rows ``N``.

    Example
    -------
    >>> import torch
    >>> float(l1(torch.zeros(2, 2), torch.full((2, 2), 3.0), reduction="sum"))
    12.0
    """
    check_same_shape("l1", student, teacher)
    return _fused_elementwise("l1", F.l1_loss, student, teacher, reduction)


def smooth_l1(
    student: Tensor, teacher: Tensor, beta: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Smooth L1 (Huber-like) error, reduced to a scalar.

    .. math::

        d = s - t, \\qquad
        \\ell = \\operatorname{reduce}\\begin{cases}
            \\tfrac{1}{2} d^2 / \\beta & |d| < \\beta \\\\
            |d| - \\tfrac{1}{2}\\beta & \\text{otherwise}
        \\end{cases}

    Parameters
    ----------
    student, teacher : Tensor
        ``(N, ...)``, equal shapes; dim 0 counts the rows.
    beta : float, default 1.0
        Where the quadratic part ends; ``beta = 0`` gives the L1 error.
    reduction : {"mean", "sum", "batchmean"}, default "mean"
        Mean over all elements, sum, or sum divided by the number of rows ``N``.

    Example
    -------
    >>> import torch
    >>> float(smooth_l1(torch.zeros(2), torch.tensor([0.5, 3.0])))
    1.3125
    """
    check_same_shape("smooth_l1", student, teacher)
    if beta < 0:
        raise ValueError(f"smooth_l1: beta must be >= 0, got {beta!r}; pass beta >= 0")
    return _fused_elementwise("smooth_l1", F.smooth_l1_loss, student, teacher, reduction, beta=beta)


def _cosine_along(a: Tensor, b: Tensor, dim: int, eps: float) -> Tensor:
    """Cosine similarity along ``dim`` with norms clamped below at ``eps``.

    Zero vectors give a similarity of 0 with finite (zero) gradients: the clamp passes no
    gradient below ``eps`` and the norm's own gradient is 0 at a zero vector.
    """
    dot = (a * b).sum(dim)
    return dot / (clamped_norm(a, dim, eps) * clamped_norm(b, dim, eps))


def clamped_norm(x: Tensor, dim: int, eps: float) -> Tensor:
    """``max(||x||_2, eps)`` along ``dim``, as ``sqrt(max(sum x^2, eps^2))``.

    Equal to ``torch.linalg.vector_norm(x, dim=dim).clamp_min(eps)`` in value and
    gradient (none below ``eps``), and several times faster along a non-last dim on the
    CPU, where the norm kernel reduces a strided axis slowly.

    Example
    -------
    >>> import torch
    >>> clamped_norm(torch.tensor([[3.0, 0.0], [4.0, 0.0]]), dim=0, eps=1e-8)
    tensor([5.0000e+00, 1.0000e-08])
    """
    return (x * x).sum(dim).clamp_min(eps * eps).sqrt()


def cosine_distance(student: Tensor, teacher: Tensor, eps: float = 1e-8) -> Tensor:
    """One minus the cosine similarity along the last dim, mean over rows.

    .. math::

        \\ell = \\frac{1}{N} \\sum_i \\Big(1 - \\frac{\\langle s_i, t_i \\rangle}
            {\\max(\\lVert s_i \\rVert, \\epsilon)\\, \\max(\\lVert t_i \\rVert, \\epsilon)}\\Big)

    Parameters
    ----------
    student, teacher : Tensor
        ``(..., D)``, equal shapes; every position of the leading dims is a row.
    eps : float, default 1e-8
        Lower bound of each norm, so that zero vectors give finite values and gradients.

    Example
    -------
    >>> import torch
    >>> s = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    >>> t = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    >>> round(float(cosine_distance(s, t)), 4)
    0.5
    """
    check_same_shape("cosine", student, teacher)
    student, teacher = _promote(student, teacher)
    return (1.0 - _cosine_along(student, teacher, -1, eps)).mean()


def pearson_distance(student: Tensor, teacher: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """One minus the Pearson correlation along ``dim``, mean over the rest (DIST, Huang et al. 2022).

    .. math::

        \\rho(a, b) = \\frac{\\langle a - \\bar a, b - \\bar b \\rangle}
            {\\max(\\lVert a - \\bar a \\rVert, \\epsilon)\\,
             \\max(\\lVert b - \\bar b \\rVert, \\epsilon)},
        \\qquad \\ell = \\operatorname{mean}\\big(1 - \\rho(s, t)\\big)

    For ``(B, C)`` inputs, ``dim=1`` correlates each row across its ``C`` entries (DIST's
    inter-class relation) and averages over the ``B`` rows; ``dim=0`` correlates each
    column across the batch (intra-class relation) and averages over the ``C`` columns.
    A constant slice has zero spread and gives correlation 0 (distance 1) with finite
    gradients.

    Parameters
    ----------
    student, teacher : Tensor
        Equal shapes with at least ``dim + 1`` dimensions.
    dim : int, default 1
        The dim along which each correlation is taken.
    eps : float, default 1e-8
        Lower bound of each centred norm.

    Example
    -------
    >>> import torch
    >>> s = torch.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    >>> bool(pearson_distance(s, 2 * s + 1).abs() < 1e-6)
    True
    >>> round(float(pearson_distance(s, s.flip(0), dim=0)), 4)
    2.0
    """
    check_same_shape("pearson", student, teacher)
    if not -student.dim() <= dim < student.dim():
        raise ValueError(
            f"pearson: dim={dim} is out of range for inputs of shape "
            f"{tuple(student.shape)}; pass a dim in [{-student.dim()}, {student.dim() - 1}]"
        )
    student, teacher = _promote(student, teacher)
    a = student - student.mean(dim, keepdim=True)
    b = teacher - teacher.mean(dim, keepdim=True)
    return (1.0 - _cosine_along(a, b, dim, eps)).mean()


def _check_edge_scores(caller: str, scores: Tensor, graph: KnowledgeGraph) -> None:
    if scores.dim() not in (1, 2):
        raise ValueError(
            f"{caller}: edge scores must have shape (E,) or (E, H), got "
            f"{tuple(scores.shape)}; reduce extra feature dims to one score per edge and head"
        )
    num_edges = graph.dst.numel()
    if scores.shape[0] != num_edges:
        raise ValueError(
            f"{caller}: got {scores.shape[0]} edge scores for a graph with {num_edges} edges; "
            "pass one score per edge, in the graph's edge order"
        )
    if graph.dst.device != scores.device:
        raise ValueError(
            f"{caller}: graph is on {graph.dst.device} but the scores are on "
            f"{scores.device}; move the graph with the scores to one device"
        )


def _log_distributions(
    caller: str,
    student: Tensor,
    teacher: Tensor,
    graph: Optional[KnowledgeGraph],
    temperature: float,
) -> Tuple[Tensor, Tensor, Union[int, Tensor]]:
    """Student and teacher log-probabilities and the number of distributions."""
    check_same_shape(caller, student, teacher)
    check_positive(caller, "temperature", temperature)
    student, teacher = _promote(student, teacher)
    if graph is None:
        if student.dim() == 0 or student.shape[-1] == 0:
            raise ValueError(
                f"{caller}: scores of shape {tuple(student.shape)} hold no distribution; "
                "pass (..., C) scores with C >= 1, the softmax runs over the last dim"
            )
        count = student.numel() // student.shape[-1]
        return (
            F.log_softmax(student / temperature, dim=-1),
            F.log_softmax(teacher / temperature, dim=-1),
            count,
        )
    _check_edge_scores(caller, student, graph)
    heads = 1 if student.dim() == 1 else student.shape[1]
    in_degree = torch.bincount(graph.dst, minlength=graph.num_nodes)
    count = (in_degree > 0).sum() * heads
    return (
        edge_log_softmax(graph, student / temperature),
        edge_log_softmax(graph, teacher / temperature),
        count,
    )


def _reduce_distributions(
    total: Tensor,
    count: Union[int, Tensor],
    reduction: str,
    temperature: float,
    scale_by_temperature_squared: bool,
) -> Tensor:
    if reduction == "batchmean":
        total = total / count
    if scale_by_temperature_squared:
        total = total * temperature**2
    return total


def _kl_sum(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``sum p (log p - log q)`` over every entry (one fused kernel forward and backward)."""
    return F.kl_div(log_q, log_p, reduction="sum", log_target=True)


def kl_divergence(
    student: Tensor,
    teacher: Tensor,
    graph: Optional[KnowledgeGraph] = None,
    temperature: float = 1.0,
    direction: str = "teacher||student",
    reduction: str = "batchmean",
    scale_by_temperature_squared: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence between softmax distributions of unnormalised scores.

    .. math::

        P^t = \\operatorname{softmax}(t / T),\\quad P^s = \\operatorname{softmax}(s / T),
        \\qquad \\mathrm{KL}(P^t \\,\\|\\, P^s) = \\sum_k P^t_k
            \\big(\\log P^t_k - \\log P^s_k\\big)

    Node mode (``graph is None``): each row (every position of the leading dims) is a
    distribution, the softmax runs over the last dim. Edge mode: the scores of the
    incoming edges of each destination node (``graph.dst``) form one distribution per
    head. The sum of the per-distribution divergences is divided by the number of
    distributions (``"batchmean"``: rows in node mode; nodes with at least one incoming
    edge times heads in edge mode) or returned as is (``"sum"``).

    Parameters
    ----------
    student, teacher : Tensor
        Node mode: ``(..., C)``. Edge mode: ``(E,)`` or ``(E, H)``. Equal shapes.
    graph : KnowledgeGraph, optional
        The graph whose edges carry the scores; switches on edge mode.
    temperature : float, default 1.0
        Divides the scores before the softmax.
    direction : {"teacher||student", "student||teacher"}, default "teacher||student"
        Which distribution comes first in the divergence.
    reduction : {"batchmean", "sum"}, default "batchmean"
    scale_by_temperature_squared : bool, default False
        Multiply the result by ``temperature**2`` (Hinton et al. 2015).

    Example
    -------
    >>> import math
    >>> import torch
    >>> s = torch.tensor([[0.0, 0.0]])
    >>> t = torch.tensor([[0.0, math.log(3.0)]])
    >>> round(float(kl_divergence(s, t)), 4)  # 0.25 log 0.5 + 0.75 log 1.5
    0.1308
    """
    check_choice("kl", "direction", direction, DIRECTIONS)
    check_choice("kl", "reduction", reduction, DISTRIBUTION_REDUCTIONS)
    log_s, log_t, count = _log_distributions("kl", student, teacher, graph, temperature)
    if direction == "teacher||student":
        total = _kl_sum(log_t, log_s)
    else:
        total = _kl_sum(log_s, log_t)
    return _reduce_distributions(total, count, reduction, temperature, scale_by_temperature_squared)


def js_divergence(
    student: Tensor,
    teacher: Tensor,
    graph: Optional[KnowledgeGraph] = None,
    temperature: float = 1.0,
    reduction: str = "batchmean",
    scale_by_temperature_squared: bool = False,
) -> Tensor:
    """Jensen-Shannon divergence between softmax distributions of unnormalised scores.

    .. math::

        M = \\tfrac{1}{2}(P^s + P^t), \\qquad
        \\mathrm{JS} = \\tfrac{1}{2}\\mathrm{KL}(P^s \\,\\|\\, M)
            + \\tfrac{1}{2}\\mathrm{KL}(P^t \\,\\|\\, M)

    Distributions, modes and reductions as in :func:`kl_divergence`; JS is symmetric, so
    there is no direction. :math:`\\log M` is formed with ``logaddexp`` and stays finite.

    Parameters
    ----------
    student, teacher : Tensor
        Node mode: ``(..., C)``. Edge mode: ``(E,)`` or ``(E, H)``. Equal shapes.
    graph : KnowledgeGraph, optional
        The graph whose edges carry the scores; switches on edge mode.
    temperature : float, default 1.0
        Divides the scores before the softmax.
    reduction : {"batchmean", "sum"}, default "batchmean"
    scale_by_temperature_squared : bool, default False
        Multiply the result by ``temperature**2``.

    Example
    -------
    >>> import torch
    >>> s = torch.tensor([[100.0, 0.0]])
    >>> t = torch.tensor([[0.0, 100.0]])
    >>> round(float(js_divergence(s, t)), 4)  # log 2 for disjoint supports
    0.6931
    """
    check_choice("js", "reduction", reduction, DISTRIBUTION_REDUCTIONS)
    log_s, log_t, count = _log_distributions("js", student, teacher, graph, temperature)
    log_m = torch.logaddexp(log_s, log_t) - math.log(2.0)
    total = 0.5 * (_kl_sum(log_s, log_m) + _kl_sum(log_t, log_m))
    return _reduce_distributions(total, count, reduction, temperature, scale_by_temperature_squared)


def kd_loss(student: Tensor, teacher: Tensor, tau: float = 4.0) -> Tensor:
    """Vanilla knowledge distillation (Hinton et al. 2015).

    .. math::

        \\ell = \\frac{\\tau^2}{B} \\sum_i \\mathrm{KL}\\big(
            \\operatorname{softmax}(z^t_i / \\tau) \\,\\|\\,
            \\operatorname{softmax}(z^s_i / \\tau)\\big)

    Parameters
    ----------
    student, teacher : Tensor
        ``(B, C)`` logits (any leading dims: every position is a row).
    tau : float, default 4.0
        Temperature.

    Example
    -------
    >>> import torch
    >>> z = torch.tensor([[1.0, 2.0, 3.0]])
    >>> float(kd_loss(z, z))
    0.0
    """
    log_s, log_t, rows = _log_distributions("kd", student, teacher, None, tau)
    return _kl_sum(log_t, log_s) * (tau**2 / rows)


def zscore(logits: Tensor, eps: float = 1e-7) -> Tensor:
    """Standardise logits per row (logit-standardised KD, Sun et al. CVPR 2024).

    .. math::

        Z(z) = \\frac{z - \\operatorname{mean}_c z}{\\operatorname{std}_c z + \\epsilon}

    with the unbiased standard deviation over the last dim. The variance is clamped
    below at the dtype's smallest normal number before the square root, so that constant
    rows map to 0 with finite gradients.

    Parameters
    ----------
    logits : Tensor
        ``(..., C)`` with ``C >= 2``.
    eps : float, default 1e-7
        Added to the standard deviation.

    Example
    -------
    >>> import torch
    >>> zscore(torch.tensor([[1.0, 2.0, 3.0]])).round(decimals=4)
    tensor([[-1.,  0.,  1.]])
    """
    if logits.dim() == 0 or logits.shape[-1] < 2:
        raise ValueError(
            f"zscore: logits of shape {tuple(logits.shape)} need at least 2 entries in "
            "the last dim for the unbiased standard deviation; pass (B, C) logits with C >= 2"
        )
    (logits,) = _promote(logits)
    centred = logits - logits.mean(-1, keepdim=True)
    variance = centred.square().sum(-1, keepdim=True) / (logits.shape[-1] - 1)
    std = variance.clamp_min(torch.finfo(variance.dtype).tiny).sqrt()
    return centred / (std + eps)


def zscore_kd_loss(student: Tensor, teacher: Tensor, tau: float = 2.0) -> Tensor:
    """Logit-standardised KD (Sun et al., CVPR 2024): :func:`kd_loss` on z-scored logits.

    .. math::

        \\ell = \\frac{\\tau^2}{B} \\sum_i \\mathrm{KL}\\big(
            \\operatorname{softmax}(Z(z^t_i) / \\tau) \\,\\|\\,
            \\operatorname{softmax}(Z(z^s_i) / \\tau)\\big)

    Parameters
    ----------
    student, teacher : Tensor
        ``(B, C)`` logits, ``C >= 2``.
    tau : float, default 2.0
        Base temperature.

    Example
    -------
    >>> import torch
    >>> z = torch.tensor([[1.0, 2.0, 3.0]])
    >>> bool(zscore_kd_loss(z, 10 * z + 5).abs() < 1e-6)  # invariant to shift and scale
    True
    """
    check_same_shape("zscore_kd", student, teacher)
    return kd_loss(zscore(student), zscore(teacher), tau=tau)


def info_nce(
    anchors: Tensor,
    positives: Tensor,
    negatives: Optional[Tensor] = None,
    temperature: float = 0.07,
) -> Tensor:
    """InfoNCE contrastive loss with the positive at index 0 (as in HKD, Zhou et al. 2021).

    .. math::

        \\ell = \\frac{1}{B} \\sum_i -\\log
            \\frac{\\exp(\\langle a_i, p_i \\rangle / T)}
            {\\exp(\\langle a_i, p_i \\rangle / T) + \\sum_k \\exp(\\langle a_i, n_{ik} \\rangle / T)}

    The inputs are used as given: normalise them first (``F.normalize``) for cosine
    similarities. Without ``negatives`` the other rows of ``positives`` serve as the
    negatives of each anchor (in-batch InfoNCE); with a single row and no negatives the
    loss is 0.

    Parameters
    ----------
    anchors : Tensor
        ``(B, D)``.
    positives : Tensor
        ``(B, D)``; row ``i`` is the positive of anchor ``i``.
    negatives : Tensor, optional
        ``(B, K, D)``; the ``K`` negatives of each anchor.
    temperature : float, default 0.07

    Example
    -------
    >>> import torch
    >>> a = torch.eye(2)
    >>> round(float(info_nce(a, a, temperature=1.0)), 4)  # -log(e / (e + 1))
    0.3133
    """
    check_same_shape("infonce", anchors, positives)
    check_positive("infonce", "temperature", temperature)
    if anchors.dim() != 2:
        raise ValueError(
            f"infonce: anchors and positives must have shape (B, D), got "
            f"{tuple(anchors.shape)}; flatten the features per sample first"
        )
    if negatives is None:
        (anchors, positives) = _promote(anchors, positives)
        logits = anchors @ positives.t() / temperature
        target = torch.arange(anchors.shape[0], device=anchors.device)
        return F.cross_entropy(logits, target)
    if negatives.dim() != 3 or (negatives.shape[0], negatives.shape[2]) != tuple(anchors.shape):
        raise ValueError(
            f"infonce: negatives must have shape (B, K, D) = ({anchors.shape[0]}, K, "
            f"{anchors.shape[1]}) to match the anchors, got {tuple(negatives.shape)}; "
            "stack K negatives per anchor along dim 1"
        )
    anchors, positives, negatives = _promote(anchors, positives, negatives)
    positive = (anchors * positives).sum(-1)
    negative = torch.einsum("bd,bkd->bk", anchors, negatives)
    return info_nce_from_scores(positive, negative, temperature)


def info_nce_from_scores(positive: Tensor, negatives: Tensor, temperature: float = 0.07) -> Tensor:
    """InfoNCE from similarity scores already computed, the positive at index 0.

    .. math::

        \\ell = \\frac{1}{B} \\sum_i -\\log
            \\frac{\\exp(q_i / T)}{\\exp(q_i / T) + \\sum_k \\exp(r_{ik} / T)}

    :func:`info_nce` with ``negatives`` is this with the scores
    :math:`q_i = \\langle a_i, p_i \\rangle` and :math:`r_{ik} = \\langle a_i, n_{ik}
    \\rangle`; a memory bank that scores its rows against the anchors itself (HKD's) calls
    it without gathering the ``(B, K, D)`` negatives. The scores are used in their dtype.

    Parameters
    ----------
    positive : Tensor
        ``(B,)`` scores :math:`q_i` of each anchor with its positive.
    negatives : Tensor
        ``(B, K)`` scores :math:`r_{ik}` of each anchor with its ``K`` negatives.
    temperature : float, default 0.07

    Example
    -------
    >>> import torch
    >>> round(float(info_nce_from_scores(torch.ones(1), torch.zeros(1, 1), 1.0)), 4)
    0.3133
    """
    check_positive("infonce", "temperature", temperature)
    if positive.dim() != 1 or negatives.dim() != 2 or negatives.shape[0] != positive.shape[0]:
        raise ValueError(
            f"infonce: scores must have shapes (B,) and (B, K), got {tuple(positive.shape)} "
            f"and {tuple(negatives.shape)}"
        )
    logits = torch.cat([positive.unsqueeze(1), negatives], dim=1) / temperature
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)
