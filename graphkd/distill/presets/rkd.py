"""RKD (Park et al. 2019): distances and angles on the complete graph of embeddings.

Everything the method computes lives here: the graph builder with its two edge fields,
the angle term computed from Gram-matrix entries (without the ``B x B x D`` difference
tensor or stored ``B^3`` angles), the distiller with its two exact computations (the
Gram rewrite :data:`RELATIONS`, chosen by :mod:`graphkd.ops`, and the graph), and the
preset.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.distiller import GraphMatchingDistiller, _validate
from graphkd.distill.inputs import embedding_of
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.graphs import check_relational_batch, complete_graph, edge_features
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops.dense_block import self_gram
from graphkd.ops.gram import (
    GramRewrite,
    check_path,
    coincidence_tolerance,
    inverse_lengths,
    squared_distances,
)
from graphkd.responses import Responses

CHUNK_ENTRIES = 2**18
"""Default size of one chunk of the Gram path's angle block, in angles (1 MiB of float32)."""


def rkd_graph(
    responses: Responses,
    like: Optional[KnowledgeGraph] = None,
    feature: Optional[str] = None,
) -> KnowledgeGraph:
    r"""Complete graph with self-loops over the batch, with RKD's two edge fields.

    .. math::
        \mathrm{distance}_{uv} = \frac{\|x_u - x_v\|}{\mu}, \quad
        \mu = \operatorname{mean}_{u \ne v,\ \|x_u - x_v\| > 0} \|x_u - x_v\|, \qquad
        \mathrm{angle}_{uv}[k] = \langle \hat e_{vu}, \hat e_{vk} \rangle

    Parameters
    ----------
    responses : Responses
        ``embedding`` ``(B, D)`` (or the tapped ``feature``).
    like : KnowledgeGraph, optional
        A graph whose topology to reuse (the teacher's).
    feature : str, optional
        A tapped feature to use instead of the embedding.

    Returns
    -------
    KnowledgeGraph
        ``B`` nodes, ``B^2`` edges; ``edata["distance"]`` ``(B^2,)``,
        ``edata["angle"]`` ``(B^2, B)``.
    """
    x = embedding_of(responses, feature)
    graph = (
        like.same_topology() if like is not None else complete_graph(x.shape[0], device=x.device)
    )
    distance = edge_features.distance(graph, x)
    mean_nonzero = distance.sum() / (distance > 0).sum().clamp_min(1)
    graph.edata["distance"] = distance / mean_nonzero.clamp_min(1e-12)
    graph.edata["angle"] = edge_features.rkd_angle(graph, x)
    return graph


class _Vertices:
    """The angles at the vertices ``j`` of one chunk, from a centred Gram matrix ``G``.

    With ``P_ji = G_ji - G_jj / 2`` and ``r_ji = 1 / ||x_i - x_j||`` (0 where the
    difference counts as zero-length), ``cos[j, i, k] = r_ji r_jk (G_ik - P_ji - P_jk)``.
    """

    def __init__(self, gram: Tensor, rows: slice, tolerance: float) -> None:
        diagonal = gram.diagonal()
        squared, apart = squared_distances(gram[rows], diagonal[rows], diagonal, tolerance)
        self.inverse = inverse_lengths(squared, apart, torch.finfo(gram.dtype).tiny)
        self.shifted = gram[rows] - 0.5 * diagonal[rows, None]
        ones = torch.ones_like(self.shifted)
        left = torch.stack([-self.shifted, -ones], dim=2)
        right = torch.stack([ones, self.shifted], dim=1)
        numerator = torch.baddbmm(gram.expand(len(self.shifted), -1, -1), left, right)
        self.cosines = self.scale_by_inverses(numerator)

    def scale_by_inverses(self, values: Tensor) -> Tensor:
        """``values[j, i, k] * r_ji * r_jk``, in place."""
        return values.mul_(self.inverse.unsqueeze(2)).mul_(self.inverse.unsqueeze(1))


class _AngleSmoothL1(torch.autograd.Function):
    """Mean smooth L1 (beta 1) between the ``B^3`` RKD angles of two centred Gram matrices.

    Chunked over the angle's vertex ``j``; the backward pass recomputes each chunk, so
    only the two ``B x B`` Gram matrices are kept between forward and backward. The
    gradient uses that every angle block is symmetric in ``(i, k)``.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, student: Tensor, teacher: Tensor, chunk: int, tolerances: Tuple[float, float]
    ) -> Tensor:
        ctx.save_for_backward(student, teacher)
        ctx.chunk, ctx.tolerances = chunk, tolerances
        total = student.new_zeros(())
        for _, s, t in _chunks(student, teacher, chunk, tolerances):
            total += F.smooth_l1_loss(s.cosines, t.cosines, reduction="sum")
        return total / student.shape[0] ** 3

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:  # type: ignore[override]
        student, teacher = ctx.saved_tensors
        grad_gram = torch.zeros_like(student)
        grad_diagonal = student.new_zeros(student.shape[0])
        for rows, s, t in _chunks(student, teacher, ctx.chunk, ctx.tolerances):
            slope = torch.sub(s.cosines, t.cosines, out=t.cosines).clamp_(-1.0, 1.0)  # dL/dcos
            radial = 2.0 * s.cosines.mul_(slope).sum(2)  # r_ji dL/dr_ji
            by_squared = -0.5 * s.inverse.square() * radial  # dL/d||x_i - x_j||^2
            by_numerator = s.scale_by_inverses(slope)  # dL/d(G_ik - P_ji - P_jk)
            by_row = by_numerator.sum(2)
            grad_gram += by_numerator.sum(0)
            grad_gram[rows] -= 2.0 * (by_row + by_squared)
            grad_diagonal[rows] += by_row.sum(1) + by_squared.sum(1)
            grad_diagonal += by_squared.sum(0)
        grad_gram.diagonal().add_(grad_diagonal)
        return grad_gram * (grad / student.shape[0] ** 3), None, None, None


def _chunks(student: Tensor, teacher: Tensor, chunk: int, tolerances: Tuple[float, float]):
    for start in range(0, student.shape[0], chunk):
        rows = slice(start, min(start + chunk, student.shape[0]))
        yield (
            rows,
            _Vertices(student, rows, tolerances[0]),
            _Vertices(teacher, rows, tolerances[1]),
        )


def _centred_gram(x: Tensor) -> Tuple[Tensor, float]:
    """``X_c X_c^T`` of the centred rows (exactly symmetric) and the coincidence tolerance."""
    centred = x - x.mean(0, keepdim=True)
    gram = self_gram(centred)
    return 0.5 * (gram + gram.t()), coincidence_tolerance(x.shape[1], x.dtype)


def gram_distances(gram: Tensor, tolerance: float) -> Tensor:
    r"""``(B, B)`` distances from a Gram matrix, divided by their mean over nonzero ones.

    .. math::
        d_{ij} = \sqrt{G_{ii} + G_{jj} - 2 G_{ij}}

    exactly 0, with zero gradient, where the squared length is at most
    ``tolerance (G_ii + G_jj)`` (the diagonal and coincident samples; the coincidence
    rule of :mod:`graphkd.ops.gram`).
    """
    diagonal = gram.diagonal()
    squared, apart = squared_distances(gram, diagonal, diagonal, tolerance)
    distance = torch.where(apart, squared.clamp_min(torch.finfo(gram.dtype).tiny).sqrt(), 0.0)
    mean_nonzero = distance.sum() / apart.sum().clamp_min(1)
    return distance / mean_nonzero.clamp_min(1e-12)


def angle_smooth_l1(student: Tensor, teacher: Tensor, chunk: Optional[int] = None) -> Tensor:
    r"""RKD's angle term from Gram-matrix entries, without ``B x B x D`` or stored ``B^3`` tensors.

    With centred embeddings and :math:`G = X X^\top`, every triplet angle is

    .. math::
        \cos\angle_{ijk}
          = \frac{\langle x_i - x_j, x_k - x_j\rangle}{\|x_i - x_j\|\,\|x_k - x_j\|}
          = \frac{G_{ik} - G_{ij} - G_{jk} + G_{jj}}
                 {\sqrt{G_{ii} + G_{jj} - 2G_{ij}}\,\sqrt{G_{kk} + G_{jj} - 2G_{jk}}}

    (0 where a difference has zero length), and the term is
    :math:`\frac{1}{B^3}\sum_{ijk} \ell_{\mathrm{smoothL1}}(\cos^s_{ijk} - \cos^t_{ijk})`,
    equal in value and gradient to the smooth L1 between the ``angle`` fields of
    :func:`rkd_graph`. Time :math:`O(B^2 D + B^3)`; memory :math:`O(B^2 + cB^2)` for a
    chunk of :math:`c` vertices :math:`j`, recomputed in the backward pass. Differences
    that the coincidence rule of :mod:`graphkd.ops.gram` counts as zero (expanded squared
    length below ``16 sqrt(D) eps_dtype (||x_i||^2 + ||x_j||^2)``) have zero length and
    gradient, as the explicit features of exactly coincident samples do.

    Parameters
    ----------
    student : Tensor
        ``(B, D_s)`` embeddings (gradients flow to them).
    teacher : Tensor
        ``(B, D_t)`` embeddings (read without gradient).
    chunk : int, optional
        Vertices per chunk (default: about :data:`CHUNK_ENTRIES` angles per chunk).

    Returns
    -------
    Tensor
        Scalar.

    Example
    -------
    >>> import torch
    >>> x = torch.randn(6, 4, dtype=torch.float64)
    >>> float(angle_smooth_l1(x, 3.0 * x + 1.0)) < 1e-12  # angles ignore scale and shift
    True
    """
    with torch.autocast(student.device.type, enabled=False):
        (student_gram, student_tolerance), (teacher_gram, teacher_tolerance) = _grams(
            student, teacher
        )
        return _angle_term(
            student_gram, teacher_gram, (student_tolerance, teacher_tolerance), chunk
        )


def _grams(student: Tensor, teacher: Tensor) -> Tuple[Tuple[Tensor, float], Tuple[Tensor, float]]:
    """The centred Gram matrices (in float32 or wider) and tolerances; the teacher's without
    gradient."""
    if student.dim() != 2 or teacher.dim() != 2 or student.shape[0] != teacher.shape[0]:
        raise ValueError(
            f"RKD needs (B, D) student and teacher embeddings with equal B, got "
            f"{tuple(student.shape)} and {tuple(teacher.shape)}"
        )
    student, teacher = (
        t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
        for t in (student, teacher.detach())
    )
    return _centred_gram(student), _centred_gram(teacher)


def _angle_term(
    student: Tensor, teacher: Tensor, tolerances: Tuple[float, float], chunk: Optional[int]
) -> Tensor:
    batch = student.shape[0]
    if chunk is None:
        chunk = max(1, CHUNK_ENTRIES // (batch * batch))
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of vertices, got {chunk}")
    return _AngleSmoothL1.apply(student, teacher, chunk, tolerances)


class RKDDistiller(GraphMatchingDistiller):
    r"""Relational KD's distiller: distances and angles of the complete graph of samples.

    Two exact computations of the same loss, the Gram rewrite :data:`RELATIONS`
    (:class:`~graphkd.ops.gram.GramRewrite`):

    * the graph: :func:`rkd_graph` with both edge fields (the angle field is ``B^2 x B``,
      built from a ``B x B x D`` difference tensor), compared by the match terms;
    * the rewrite (:meth:`gram_forward`, :meth:`gram_losses`): distances by :func:`gram_distances` and the
      angle term by :func:`angle_smooth_l1`, from the ``B x B`` Gram matrices of the
      centred embeddings; nothing of size ``B^2 D`` or a stored ``B^3`` tensor.

    With ``path="gram"`` (the default, ``"auto"``) the dispatcher of :mod:`graphkd.ops`
    runs the rewrite under the ``"auto"`` backend and the graph under ``"dgl"`` or
    ``"torch"``; ``path="explicit"`` always runs the graph.

    Parameters
    ----------
    distance_weight, angle_weight : float
        25 and 50.
    feature : str, optional
        A tapped feature instead of the pooled embedding.
    path : str
        ``"auto"`` (same as ``"gram"``), ``"gram"`` or ``"explicit"``; the attribute
        ``path`` holds the resolved choice and may be changed later.
    chunk : int, optional
        Vertices per chunk of the Gram path (see :func:`angle_smooth_l1`).
    ce_weight : float
        Cross-entropy weight (1).
    check_inputs : bool
        Reject NaN/Inf inputs (one host sync per step).

    Returns (forward)
    -----------------
    dict
        ``{"loss": total, "distance": ..., "angle": ...}``.
    """

    graph_name = "samples"

    def __init__(
        self,
        distance_weight: float = 25.0,
        angle_weight: float = 50.0,
        feature: Optional[str] = None,
        path: str = "auto",
        chunk: Optional[int] = None,
        ce_weight: float = 1.0,
        check_inputs: bool = True,
    ) -> None:
        check_path("rkd", path)
        terms = [
            MatchTerm("distance", "distance", "edges", "smooth_l1", distance_weight),
            MatchTerm("angle", "angle", "edges", "smooth_l1", angle_weight),
        ]
        super().__init__(
            partial(rkd_graph, feature=feature),
            terms=terms,
            ce_weight=ce_weight,
            check_inputs=check_inputs,
        )
        self.feature = feature
        self.chunk = chunk
        self.path = "explicit" if path == "explicit" else "gram"

    def gram_losses(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """The unweighted terms by the Gram path, ``{"distance": ..., "angle": ...}``."""
        if self.check_inputs:
            _validate(teacher, student)
        x_student = embedding_of(student, self.feature)
        x_teacher = embedding_of(teacher, self.feature)
        check_relational_batch(x_student.shape[0])
        with torch.autocast(x_student.device.type, enabled=False):
            (s_gram, s_tolerance), (t_gram, t_tolerance) = _grams(x_student, x_teacher)
            distance = self.metrics["distance"](
                gram_distances(s_gram, s_tolerance).reshape(-1),
                gram_distances(t_gram, t_tolerance).reshape(-1),
            )
            angle = _angle_term(s_gram, t_gram, (s_tolerance, t_tolerance), self.chunk)
        return {"distance": distance, "angle": angle}

    def gram_forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """``{"loss": total, "distance": ..., "angle": ...}`` by the Gram rewrite."""
        values = self.gram_losses(teacher, student)
        total = sum(term.weight * values[term.name] for term in self.terms)
        return {"loss": total, **values}

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        return RELATIONS(self.path, student.logits.device, self, teacher, student)


#: RKD's Gram rewrite: :meth:`RKDDistiller.gram_forward` for the graphs' match terms
#: (:meth:`GraphMatchingDistiller.forward <graphkd.GraphMatchingDistiller.forward>`).
RELATIONS = GramRewrite("rkd", RKDDistiller.gram_forward, GraphMatchingDistiller.forward)


@METHODS.register("rkd")
@preset(RKDDistiller)
def rkd() -> RKDDistiller:
    r"""Relational KD (Park et al., CVPR 2019): match distances and triplet angles.

    .. math::
        \mathcal{L} = 25\,\ell_{\mathrm{smoothL1}}(d^s, d^t)
                    + 50\,\ell_{\mathrm{smoothL1}}(a^s, a^t)

    Smooth L1 means over all :math:`B^2` distances and :math:`B^3` angles (degenerate
    ones are 0), as the reference computes them. See :func:`rkd_graph` and
    :class:`RKDDistiller` (the angles come from Gram-matrix entries by default).

    Parameters
    ----------
    distance_weight, angle_weight, feature, path, chunk, ce_weight, check_inputs
        As for :class:`RKDDistiller` (``path="explicit"`` materialises the angle edge
        fields).
    """
