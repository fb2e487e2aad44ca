"""Per-sample embeddings of feature maps by their top right-singular vectors (MHGD)."""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from graphkd.responses import UPSTREAM_FIX


def _eigh(matrix: Tensor) -> Tuple[Tensor, Tensor]:
    """``torch.linalg.eigh`` of symmetric matrices, retried in float64 if it fails.

    LAPACK can fail to converge on an ill-conditioned float32 matrix; the float64 retry
    returns the result in the input's dtype. A matrix holding NaN or Inf cannot be
    decomposed and raises a ``ValueError`` that says where to look.
    """
    try:
        return _eigh_lapack(matrix)
    except torch.linalg.LinAlgError as error:
        if not bool(torch.isfinite(matrix).all()):
            raise ValueError(
                f"the feature maps' Gram matrices hold NaN or Inf values; {UPSTREAM_FIX}"
            ) from error
        if matrix.dtype == torch.float64:
            raise ValueError(
                f"the eigendecomposition of the feature maps' Gram matrices failed to "
                f"converge even in float64 ({error}); {UPSTREAM_FIX}"
            ) from error
        values, vectors = _eigh(matrix.double())
        return values.to(matrix.dtype), vectors.to(matrix.dtype)


def _eigh_lapack(matrix: Tensor) -> Tuple[Tensor, Tensor]:
    """``torch.linalg.eigh``; on the CPU with one intra-op thread.

    The CPU kernel calls LAPACK once per matrix of the batch. For the small Gram matrices
    here LAPACK's threading costs more than it gains (several times slower on a busy
    two-core machine), so the thread count is lowered for the call and restored after.
    """
    if matrix.device.type != "cpu" or torch.get_num_threads() == 1:
        return torch.linalg.eigh(matrix)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.eigh(matrix)
    finally:
        torch.set_num_threads(threads)


class _ScaledGram(torch.autograd.Function):
    r"""Gram matrix of :math:`Y = X / s`: :math:`Y^\top Y` (``channels=True``) or
    :math:`Y Y^\top`, keeping only :math:`X` (usually saved anyway) for the backward
    pass instead of a copy :math:`Y` the size of the feature map. ``scale`` gets no
    gradient."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, x: Tensor, scale: Tensor, channels: bool
    ) -> Tensor:
        ctx.save_for_backward(x, scale)
        ctx.channels = channels  # type: ignore[attr-defined]
        y = x / scale
        return y.transpose(1, 2) @ y if channels else y @ y.transpose(1, 2)

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, grad: Tensor
    ) -> Tuple[Tensor, None, None]:
        x, scale = ctx.saved_tensors  # type: ignore[attr-defined]
        y = x / scale
        both = grad + grad.transpose(1, 2)
        grad_y = y @ both if ctx.channels else both @ y  # type: ignore[attr-defined]
        return grad_y / scale, None, None


class _TopEigenvectors(torch.autograd.Function):
    """Top-``k`` eigenvectors of symmetric matrices with a backward that stays finite.

    The textbook gradient of an eigenvector, :math:`\\sum_{j \\ne i} v_j v_j^\\top
    \\mathrm{d}A\\, v_i / (\\lambda_i - \\lambda_j)`, divides by eigenvalue gaps and is
    infinite for repeated eigenvalues. Each factor :math:`1/\\delta` is replaced by the
    Lorentzian :math:`\\delta / (\\delta^2 + \\epsilon^2)` with
    :math:`\\epsilon = \\mathrm{eps} \\cdot \\lambda_{\\max}`, and exact ties give 0.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, matrix: Tensor, k: int, eps: float
    ) -> Tuple[Tensor, Tensor]:
        values, vectors = _eigh(matrix)
        ctx.save_for_backward(values, vectors)
        ctx.k, ctx.eps = k, eps  # type: ignore[attr-defined]
        top_values = values[..., -k:].flip(-1)
        ctx.mark_non_differentiable(top_values)
        return vectors[..., -k:].flip(-1), top_values

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, grad_vectors: Tensor, grad_values: Optional[Tensor]
    ) -> Tuple[Tensor, None, None]:
        values, vectors = ctx.saved_tensors  # type: ignore[attr-defined]
        k, eps = ctx.k, ctx.eps  # type: ignore[attr-defined]
        top_values = values[..., -k:].flip(-1)
        top_vectors = vectors[..., -k:].flip(-1)
        # gap[..., j, i] = lambda_i - lambda_j for eigenvalue j and selected vector i.
        gap = top_values.unsqueeze(-2) - values.unsqueeze(-1)
        width = (eps * values[..., -1:].abs()).unsqueeze(-1)
        inverse = torch.where(
            gap == 0, torch.zeros_like(gap), gap / (gap.square() + width.square())
        )
        coefficients = vectors.transpose(-1, -2) @ grad_vectors
        half = vectors @ (inverse * coefficients) @ top_vectors.transpose(-1, -2)
        return (half + half.transpose(-1, -2)) / 2, None, None


#: Gradient rules of the singular vectors: autograd's exact one, or the hand-written one of
#: MHGD's reference implementation (:class:`_ReferenceSVDGradient`).
SVD_GRADIENTS = ("exact", "reference")


def _pairwise_inverse(squares: Tensor) -> Tensor:
    """``K[..., i, j] = 1 / (s_j^2 - s_i^2)`` for ``i != j`` and distinct values, else 0."""
    gap = squares.unsqueeze(-2) - squares.unsqueeze(-1)
    distinct = (gap != 0) & ~torch.eye(squares.shape[-1], dtype=torch.bool, device=gap.device)
    return torch.where(distinct, 1.0 / torch.where(distinct, gap, torch.ones_like(gap)), 0.0)


def _symmetrise(matrix: Tensor) -> Tensor:
    return matrix + matrix.transpose(-1, -2)


class _ReferenceSVDGradient(torch.autograd.Function):
    r"""Top-``k`` right-singular vectors whose backward is the hand-written SVD gradient of
    MHGD's reference implementation (``nets/SVP.py`` of KD_methods_with_TF), not the exact
    one. Values are those of :func:`top_right_singular_vectors`.

    With :math:`X = U S V^\top` the thin SVD of a map (:math:`P` positions, :math:`D`
    channels), :math:`G = \partial L / \partial V` (zero beyond the ``k`` vectors) and
    :math:`K_{ij} = 1 / (s_j^2 - s_i^2)` (0 on the diagonal and for equal values):

    - :math:`2/3 < P/D < 3/2`: zero (the reference decomposes a stop-gradient copy);
    - :math:`P/D \ge 3/2`: :math:`2\, U S\, \mathrm{sym}(K \circ V^\top G)\, V^\top`,
      :math:`\mathrm{sym}(A) = A + A^\top`: twice the exact gradient;
    - :math:`P/D \le 2/3`: with :math:`\bar G = G S^{-1}`,
      :math:`U \big(\bar G - V[\mathrm{Diag}(V^\top \bar G) + 2 S\,
      \mathrm{sym}(K \circ \bar G^\top V S)]\big)^\top`: exact in its part orthogonal
      to the vectors (which span the map's rows), not in its part along them, so no
      factor relates it to the exact gradient.

    (The reference adds ``1e-8`` to :math:`s` in :math:`S^{-1}`; so does this.)
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, x: Tensor, k: int
    ) -> Tensor:
        positions, channels = x.shape[1], x.shape[2]
        scale = x.abs().amax(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
        y = x / scale
        small = min(positions, channels)
        gram = y.transpose(1, 2) @ y if channels <= positions else y @ y.transpose(1, 2)
        values, vectors = _eigh(gram)
        values, vectors = values.flip(-1)[..., :small], vectors.flip(-1)[..., :small]
        rank = values > values[:, :1] * small * torch.finfo(x.dtype).eps
        singular = values.clamp_min(0).sqrt()
        safe = torch.where(rank, singular, torch.ones_like(singular)).unsqueeze(1)
        if channels <= positions:  # V from X^T X, U = X V / s
            right = vectors
            left = torch.where(rank.unsqueeze(1), (y @ right) / safe, 0.0)
        else:  # U from X X^T, V = X^T U / s
            left = vectors
            right = torch.where(rank.unsqueeze(1), (y.transpose(1, 2) @ left) / safe, 0.0)
        top = right[..., :k].transpose(1, 2)
        top = torch.where(rank[:, :k].unsqueeze(-1), top, torch.zeros_like(top))
        sign = torch.where(top.sum(-1, keepdim=True) < 0, -1.0, 1.0).to(x.dtype)
        ctx.save_for_backward(
            left, singular * scale.reshape(-1, 1), right, sign * rank[:, :k, None]
        )
        ctx.k = k  # type: ignore[attr-defined]
        return top * sign

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, grad: Tensor
    ) -> Tuple[Tensor, None]:
        left, singular, right, sign = ctx.saved_tensors  # type: ignore[attr-defined]
        positions, channels = left.shape[1], right.shape[1]
        if 2 / 3 < positions / channels < 3 / 2:
            return torch.zeros(
                grad.shape[0], positions, channels, dtype=grad.dtype, device=grad.device
            ), None
        k = ctx.k  # type: ignore[attr-defined]
        g = torch.zeros_like(right)
        g[..., :k] = (grad * sign).transpose(1, 2)
        inverse = _pairwise_inverse(singular.square())
        s = torch.diag_embed(singular)
        if positions >= channels:
            inner = _symmetrise(inverse * (right.transpose(1, 2) @ g))
            return 2 * left @ s @ inner @ right.transpose(1, 2), None
        scaled = g / (singular + 1e-8).unsqueeze(1)
        diagonal = torch.diag_embed((right * scaled).sum(1))
        inner = _symmetrise(inverse * (scaled.transpose(1, 2) @ right @ s))
        grad_t = scaled - right @ (diagonal + 2 * s @ inner)
        return left @ grad_t.transpose(1, 2), None


def _fix_sign(vectors: Tensor) -> Tensor:
    """Flip each vector (last dim) so that its entries sum to a non-negative value."""
    sign = torch.where(vectors.sum(-1, keepdim=True) < 0, -1.0, 1.0).to(vectors.dtype)
    return vectors * sign


def top_right_singular_vectors(
    features: Tensor, k: int = 1, eps: float = 1e-4, gradient: str = "exact"
) -> Tensor:
    r"""The ``k`` leading right-singular vectors of each sample's feature map.

    Each sample's map ``(D, H, W)`` is read as :math:`X \in \mathbb{R}^{HW \times D}`
    (positions by channels). With :math:`X = U \Sigma V^\top`, the result holds
    :math:`v_1, \dots, v_k \in \mathbb{R}^D`, unit vectors by decreasing singular value.
    They are computed as eigenvectors of the smaller Gram matrix,

    .. math::
        X^\top X\, v_i = \sigma_i^2 v_i \quad (D \le HW), \qquad
        v_i = \frac{X^\top u_i}{\|X^\top u_i\|_2},\ X X^\top u_i = \sigma_i^2 u_i
        \quad (D > HW),

    and their gradients stay finite when singular values repeat: each
    :math:`1/(\sigma_i^2 - \sigma_j^2)` of the eigenvector gradient becomes
    :math:`\delta / (\delta^2 + \epsilon^2)`, :math:`\delta = \sigma_i^2 - \sigma_j^2`,
    :math:`\epsilon = \mathrm{eps}\,\sigma_1^2`, which is exact up to a relative
    :math:`(\epsilon/\delta)^2` for well-separated values and bounded by
    :math:`1/(2\epsilon)` for (nearly) equal ones. Signs are fixed so that each vector's
    entries sum to a non-negative value (the top vector of a ReLU map is then
    entrywise non-negative).

    Parameters
    ----------
    features : Tensor
        ``(B, D, *spatial)`` feature maps, e.g. ``(B, D, H, W)``; ``(B, D)`` counts as
        one position.
    k : int
        How many vectors, at most ``min(HW, D)`` (default 1).
    eps : float
        Relative width of the gradient regularisation (default ``1e-4``; 0 gives the
        exact gradient, infinite at repeated singular values).
    gradient : str
        ``"exact"`` (default): the gradient above. ``"reference"``: the same values with
        the hand-written gradient of MHGD's reference implementation
        (``_ReferenceSVDGradient`` in this module; ``eps`` unused): zero where
        :math:`2/3 < HW/D < 3/2`, twice the exact gradient where :math:`HW/D \ge 3/2`,
        and inexact where :math:`HW/D \le 2/3` (exact in its part orthogonal to the vectors, not
        in its part along them).

    Returns
    -------
    Tensor
        ``(B, k, D)``.

    Example
    -------
    >>> import torch
    >>> maps = torch.randn(2, 8, 4, 4, dtype=torch.float64)
    >>> v = top_right_singular_vectors(maps, k=3)
    >>> reference = torch.linalg.svd(maps.flatten(2).transpose(1, 2)).Vh[:, :3]
    >>> bool(torch.allclose((v * reference).sum(-1).abs(), torch.ones(2, 3, dtype=torch.float64)))
    True
    """
    if features.dim() < 2:
        raise ValueError(
            f"feature maps must have shape (B, D, *spatial), got {tuple(features.shape)}; "
            "pass a batch of maps with the channels in dim 1"
        )
    x = features.reshape(features.shape[0], features.shape[1], -1).transpose(1, 2)
    positions, channels = x.shape[1], x.shape[2]
    if not 1 <= k <= min(positions, channels):
        raise ValueError(
            f"k={k} singular vectors requested, but maps with {positions} positions and "
            f"{channels} channels have at most {min(positions, channels)}; pass "
            f"1 <= k <= {min(positions, channels)}"
        )
    if gradient not in SVD_GRADIENTS:
        raise ValueError(
            f"gradient must be one of {', '.join(map(repr, SVD_GRADIENTS))}, got {gradient!r}"
        )
    if gradient == "reference":
        return _ReferenceSVDGradient.apply(x, k)
    # The vectors do not depend on the scale: dividing each map by its largest entry keeps
    # the Gram matrix from overflowing or underflowing, and the scale's gradient is zero.
    scale = x.detach().abs().amax(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    gram = _ScaledGram.apply(x, scale, channels <= positions)
    vectors, values = _TopEigenvectors.apply(gram, k, eps)
    # eigenvalues at the rounding level of the largest have no direction: zero vectors
    rank = values > values[:, :1] * min(positions, channels) * torch.finfo(x.dtype).eps
    rank = rank.unsqueeze(-1)
    vectors = vectors.transpose(1, 2)
    if channels > positions:  # v_i = X^T u_i / ||X^T u_i||
        vectors = (vectors @ x) / scale
        norms = torch.where(
            rank, vectors.norm(dim=-1, keepdim=True), torch.ones_like(rank, dtype=x.dtype)
        )
        vectors = vectors / norms
    vectors = torch.where(rank, vectors, torch.zeros_like(vectors))
    return _fix_sign(vectors)


def svd_embedding(
    features: Tensor,
    reference: Optional[Tensor] = None,
    candidates: int = 4,
    project: Optional[Callable[[Tensor], Tensor]] = None,
    eps: float = 1e-4,
    gradient: str = "exact",
) -> Tensor:
    r"""Embed each sample's feature map as its top right-singular vector (MHGD, Lee & Song 2019).

    Without ``reference`` (the teacher), the embedding is the leading right-singular
    vector :math:`v_1` of :math:`X \in \mathbb{R}^{HW \times D}` (see
    :func:`top_right_singular_vectors`; no pooling). With ``reference`` :math:`r` (the
    student, :math:`r` the teacher's embedding), the ``candidates`` leading vectors are
    compared with :math:`r` and the best-aligned one is kept, its sign matched:

    .. math::
        i^* = \arg\max_{i \le c} |\langle v_i, r\rangle|, \qquad
        e = \operatorname{sign}\langle v_{i^*}, r\rangle\, v_{i^*}

    Gradients flow through the singular vectors (finite for repeated singular values).

    Parameters
    ----------
    features : Tensor
        ``(B, D, *spatial)`` feature maps.
    reference : Tensor, optional
        ``(B, D')`` unit vectors to align to (``D' = D`` unless ``project`` maps to
        ``D'``), or ``(B, r, D')``: ``r`` per sample, each aligned on its own (KD-SVD's
        several singular vectors; one candidate may serve several).
    candidates : int
        How many leading vectors compete when ``reference`` is given (default 4; fewer
        when the maps have fewer positions or channels).
    project : callable, optional
        Applied to the candidates ``(B, c, D) -> (B, c, D')`` before the comparison, e.g.
        a bias-free :class:`~graphkd.graphs.Projector` when teacher and student widths
        differ; its outputs are L2-normalised.
    eps : float
        Gradient regularisation of :func:`top_right_singular_vectors`.
    gradient : str
        ``"exact"`` (default) or ``"reference"``, MHGD's reference implementation's
        hand-written SVD gradient (see :func:`top_right_singular_vectors`).

    Returns
    -------
    Tensor
        ``(B, D)`` (``(B, D')`` with ``project``), unit rows; ``(B, r, D)`` for an
        ``(B, r, D')`` reference.

    Example
    -------
    >>> import torch
    >>> teacher = svd_embedding(torch.rand(4, 16, 8, 8))
    >>> student = svd_embedding(torch.rand(4, 16, 8, 8), reference=teacher)
    >>> teacher.shape, bool(((student * teacher).sum(1) >= 0).all())
    (torch.Size([4, 16]), True)
    """
    if reference is None:
        return top_right_singular_vectors(features, 1, eps, gradient)[:, 0]
    count = min(candidates, features.shape[1], features[0, 0].numel())
    vectors = top_right_singular_vectors(features, count, eps, gradient)
    if project is not None:
        vectors = F.normalize(project(vectors), dim=-1)
    several = reference.dim() == 3  # (B, r, D'): one choice per reference vector
    references = reference if several else reference.unsqueeze(1)
    if references.dim() != 3 or (references.shape[0], references.shape[2]) != (
        vectors.shape[0],
        vectors.shape[2],
    ):
        raise ValueError(
            f"the reference embeddings have shape {tuple(reference.shape)} but the candidates "
            f"are {vectors.shape[0]} vectors of width {vectors.shape[2]}; give one reference "
            "per sample of the same width, or a projection to that width (project=...)"
        )
    cosine = (vectors.unsqueeze(2) * references.unsqueeze(1)).sum(-1)  # (B, c, r)
    best = cosine.abs().argmax(1, keepdim=True)  # (B, 1, r)
    chosen = vectors.gather(1, best.transpose(1, 2).expand(-1, -1, vectors.shape[2]))
    sign = torch.where(cosine.gather(1, best) < 0, -1.0, 1.0).to(chosen.dtype)
    chosen = chosen * sign.transpose(1, 2)
    return chosen if several else chosen[:, 0]
