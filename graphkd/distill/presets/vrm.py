"""VRM (Zhang, Xie, Cai, Ma 2025): matching sparse, pruned real-virtual relation graphs of logits.

Everything the method computes lives here: the two graphs (inter-sample and inter-class,
real view -> virtual view), the unreliable-edge pruning, the logit adaptor, the
distiller with its explicit-edge path and its memory-light Gram rewrite
(:data:`RELATIONS`, chosen by :mod:`graphkd.ops`), and the preset.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, cast

import torch
from torch import Tensor, nn

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.graphs import (
    check_relational_batch,
    edge_features,
    joint_entropy,
    percentile_mask,
    prediction_entropy,
    view_graph,
)
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics.functional import zscore as standardise
from graphkd.ops.gram import (
    GramRewrite,
    check_path,
    coincidence_tolerance,
    inverse_lengths,
    squared_distances,
)
from graphkd.responses import Responses, check_finite

VRM_METRICS = ("mse", "smooth_l1", "l1", "cosine")

Graphs = Dict[str, KnowledgeGraph]


class LogitAdaptor(nn.Module):
    r"""VRM's MLP logit adaptor: a residual two-layer perceptron on the student's logits.

    .. math::
        A(z) = z + W_2\,\mathrm{ReLU}(W_1 z + b_1) + b_2,
        \qquad W_1 \in \mathbb{R}^{H \times C},\ W_2 \in \mathbb{R}^{C \times H}

    The paper asks for "an MLP logit adaptor" on the student without giving its shape.
    graphkd uses one hidden layer of width :math:`H = C` and a residual connection with
    the output layer initialised to zero, so the adaptor starts as the identity: the
    relations are first matched on the student's own logits and the adaptor learns only
    the correction that relaxes the match. The student's cross-entropy never sees the
    adaptor's output.

    Parameters
    ----------
    num_classes : int
        ``C``, the width of the logits.
    hidden : int, optional
        ``H`` (default ``C``).

    Example
    -------
    >>> import torch
    >>> adaptor = LogitAdaptor(10)
    >>> z = torch.randn(4, 10)
    >>> torch.equal(adaptor(z), z)  # the identity until it trains
    True
    """

    def __init__(self, num_classes: int, hidden: Optional[int] = None) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        width = num_classes if hidden is None else hidden
        self.hidden = nn.Linear(num_classes, width)
        self.out = nn.Linear(width, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Hidden layer as :class:`torch.nn.Linear` initialises it; output layer zero."""
        self.hidden.reset_parameters()
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, logits: Tensor) -> Tensor:
        """``(B, C) -> (B, C)``."""
        if logits.shape[-1] != self.num_classes:
            raise ValueError(
                f"the logit adaptor was built for {self.num_classes} classes but the logits "
                f"have {logits.shape[-1]}; create the method with num_classes={logits.shape[-1]}"
            )
        return logits + self.out(torch.relu(self.hidden(logits)))


def isv_graph(
    real: Tensor, virtual: Tensor, like: Optional[KnowledgeGraph] = None
) -> KnowledgeGraph:
    r"""VRM's inter-sample graph: every real sample -> every virtual sample.

    .. math::
        e_{ij} = \frac{z_i - \tilde z_j}{\|z_i - \tilde z_j\|_2} \in \mathbb{R}^{C},
        \qquad i, j \in [B]

    (0 where :math:`z_i = \tilde z_j`). Intra-view edges and the virtual -> real half
    are left out as redundant.

    Parameters
    ----------
    real, virtual : Tensor
        ``(B, C)`` logits of the real and the virtual view.
    like : KnowledgeGraph, optional
        A graph whose topology to reuse (the teacher's).

    Returns
    -------
    KnowledgeGraph
        ``2B`` nodes (``ndata["h"]``, real then virtual), ``B^2`` edges with
        ``edata["edge"]`` ``(B^2, C)``; edge ``(i, j)`` at position ``i B + j``.

    Example
    -------
    >>> import torch
    >>> isv_graph(torch.randn(4, 10), torch.randn(4, 10)).edata["edge"].shape
    torch.Size([16, 10])
    """
    if like is None:
        graph = view_graph(real, virtual)
    else:
        graph = like.same_topology()
        graph.ndata["h"] = torch.cat([real, virtual])
    graph.edata["edge"] = edge_features.normalised_difference(graph, graph.ndata["h"])
    return graph


def icv_graph(
    real: Tensor, virtual: Tensor, like: Optional[KnowledgeGraph] = None
) -> KnowledgeGraph:
    r"""VRM's inter-class graph: every real class -> every virtual class.

    A class is the vector of its scores over the batch, :math:`w_c = z_{:,c}`: the graph
    is :func:`isv_graph` of the transposed logits (the nodes of
    :func:`~graphkd.graphs.class_graph`).

    .. math::
        e_{ab} = \frac{w_a - \tilde w_b}{\|w_a - \tilde w_b\|_2} \in \mathbb{R}^{B},
        \qquad a, b \in [C]

    Parameters
    ----------
    real, virtual, like
        As for :func:`isv_graph`.

    Returns
    -------
    KnowledgeGraph
        ``2C`` nodes, ``C^2`` edges with ``edata["edge"]`` ``(C^2, B)``; edge ``(a, b)`` at
        position ``a C + b``.

    Example
    -------
    >>> import torch
    >>> icv_graph(torch.randn(4, 10), torch.randn(4, 10)).edata["edge"].shape
    torch.Size([100, 4])
    """
    return isv_graph(real.t(), virtual.t(), like)


class RealVirtualGraphs(nn.Module):
    r"""Builds one network's VRM graphs: the ISV graph and, optionally, the ICV graph.

    The logits of both views pass through the (student's) logit adaptor and z-score
    standardisation, :math:`Z(z) = (z - \bar z) / (\sigma(z) + 10^{-7})`, before the
    graphs are built. With pruning, the ISV graph carries ``edata["keep"]``: false for
    the ``drop_fraction`` of edges of highest joint entropy of this network's own
    predictions (softmax of the raw logits, before adaptor and z-score)

    .. math::
        H(p_i, \tilde p_j) = H(p_i) + H(\tilde p_j),

    recomputed on every call with torch ops.

    Parameters
    ----------
    adaptor : nn.Module, optional
        Applied to the logits of both views first (the student's :class:`LogitAdaptor`).
    zscore : bool
        Standardise the logits (default ``True``).
    virtual : bool
        Relate the real view with the virtual view (default). When ``False`` the
        "virtual" view is the real view itself and no virtual responses are needed.
    icv : bool
        Also build the inter-class graph (default ``True``).
    drop_fraction : float, optional
        Prune this fraction of ISV edges (``None``: no pruning, no ``keep`` field).

    Returns (forward)
    -----------------
    dict
        ``{"isv": KnowledgeGraph, "icv": KnowledgeGraph}`` (``"icv"`` only when built).

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> r = Responses(torch.randn(4, 10), virtual=Responses(torch.randn(4, 10)))
    >>> graphs = RealVirtualGraphs(drop_fraction=0.25)(r)
    >>> int(graphs["isv"].edata["keep"].sum()), graphs["icv"].num_edges
    (12, 100)
    """

    def __init__(
        self,
        adaptor: Optional[nn.Module] = None,
        zscore: bool = True,
        virtual: bool = True,
        icv: bool = True,
        drop_fraction: Optional[float] = None,
    ) -> None:
        super().__init__()
        if drop_fraction is not None:
            _check_drop_fraction(drop_fraction)
        self.adaptor = adaptor
        self.zscore = zscore
        self.virtual = virtual
        self.icv = icv
        self.drop_fraction = drop_fraction

    def reset_parameters(self) -> None:
        """Re-initialise the adaptor, if any."""
        if self.adaptor is not None:
            self.adaptor.reset_parameters()  # type: ignore[operator]

    def views(self, responses: Responses) -> Tuple[Tensor, Tensor]:
        """The raw ``(B, C)`` logits of the real and the virtual view."""
        real = responses.logits
        if not self.virtual:
            return real, real
        virtual = responses.require_virtual().logits
        if virtual.shape != real.shape:
            raise ValueError(
                f"the real view's logits have shape {tuple(real.shape)} but the virtual "
                f"view's {tuple(virtual.shape)}; pass both views of the same images through "
                "the same network"
            )
        return real, virtual

    def logits(self, responses: Responses) -> Tuple[Tensor, Tensor]:
        """The ``(B, C)`` logits of both views after the adaptor and z-scoring."""
        real, virtual = self.views(responses)
        if virtual is real:
            prepared = self._prepare(real)
            return prepared, prepared
        both = self._prepare(torch.cat([real, virtual]))  # one pass over both views
        return both[: real.shape[0]], both[real.shape[0] :]

    def keep(self, responses: Responses) -> Optional[Tensor]:
        """``(B, B)`` bool: the ISV edges pruning keeps (``None`` without pruning)."""
        if self.drop_fraction is None:
            return None
        real, virtual = self.views(responses)
        entropy = prediction_entropy(torch.cat([real, virtual]))
        batch = real.shape[0]
        score = entropy[:batch, None] + entropy[None, batch:]
        return percentile_mask(score.reshape(-1), self.drop_fraction).reshape(batch, batch)

    def forward(self, responses: Responses, like: Optional[Graphs] = None) -> Graphs:
        real, virtual = self.logits(responses)
        graphs = {"isv": isv_graph(real, virtual, None if like is None else like["isv"])}
        if self.drop_fraction is not None:
            isv = graphs["isv"]
            score = joint_entropy(isv, torch.cat(self.views(responses)))
            isv.edata["keep"] = percentile_mask(score, self.drop_fraction)
        if self.icv:
            graphs["icv"] = icv_graph(real, virtual, None if like is None else like["icv"])
        return graphs

    def _prepare(self, logits: Tensor) -> Tensor:
        if self.adaptor is not None:
            logits = self.adaptor(logits)
        if self.zscore:
            return standardise(logits)
        return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def _inverse_lengths(
    cross: Tensor, src_sq: Tensor, dst_sq: Tensor, src: Tensor, dst: Tensor, eps: float
) -> Tuple[Tensor, Tensor]:
    """``(N, M)`` inverse lengths of ``x_i - y_j`` (0 where the difference counts as zero)
    and the float mask of the non-zero ones, from ``cross = X Y^T``."""
    tolerance = coincidence_tolerance(src.shape[1], src.dtype)
    squared, apart = squared_distances(cross, src_sq, dst_sq, tolerance)
    return inverse_lengths(squared, apart, eps * eps), apart.to(src.dtype)


def normalised_difference_mse(
    student_src: Tensor,
    student_dst: Tensor,
    teacher_src: Tensor,
    teacher_dst: Tensor,
    keep: Optional[Tensor] = None,
    eps: float = edge_features.EPS,
) -> Tensor:
    r"""MSE between normalised-difference edge features of two complete bipartite graphs,
    from Gram matrices: ``O(NM)`` memory instead of ``O(NMD)``.

    With :math:`d_{ij} = x_i - \tilde x_j`, :math:`u_{ij} = d_{ij} / \max(\|d_{ij}\|, \epsilon)`
    (student :math:`x`, teacher :math:`y`, edge features :math:`u^s, u^t`) and the kept
    edges :math:`K`, the value equals the explicit edge computation

    .. math::
        \ell = \frac{1}{|K| D} \sum_{(i,j) \in K} \|u^s_{ij} - u^t_{ij}\|^2
             = \frac{1}{|K| D} \sum_{(i,j) \in K}
               \Big(\|u^s_{ij}\|^2 + \|u^t_{ij}\|^2 - 2\,\frac{\langle d^s_{ij}, d^t_{ij}\rangle}
               {\max(\|d^s_{ij}\|, \epsilon)\max(\|d^t_{ij}\|, \epsilon)}\Big)

    where every quantity is an entry of an ``(N, M)`` matrix built from Gram matrices:

    .. math::
        \|d^s_{ij}\|^2 &= \|x_i\|^2 + \|\tilde x_j\|^2 - 2\,(X \tilde X^\top)_{ij} \\
        \langle d^s_{ij}, d^t_{ij}\rangle &= \langle x_i, y_i\rangle
            + \langle \tilde x_j, \tilde y_j\rangle - (X \tilde Y^\top)_{ij}
            - (Y \tilde X^\top)_{ij}

    and :math:`\|u_{ij}\|^2 = \|d_{ij}\|^2 / \max(\|d_{ij}\|, \epsilon)^2`: 1 for every
    difference that does not count as zero (all of them are far longer than
    :math:`\epsilon`), 0 for coincident endpoints, where :math:`\|a - b\|^2 = 2 - 2\,a
    \cdot b` would not hold. One matrix product per Gram block, fused with the additions
    around it (``addmm``), and masks applied by multiplication. A difference that the
    coincidence rule of :mod:`graphkd.ops.gram` counts as zero (expanded squared length
    below ``16 sqrt(D) eps_dtype (||x_i||^2 + ||x~_j||^2)``) has zero length and gradient,
    as the explicit features of exactly coincident endpoints do.

    Parameters
    ----------
    student_src, student_dst : Tensor
        ``(N, D)`` and ``(M, D)``: the student's source and destination node features.
    teacher_src, teacher_dst : Tensor
        The teacher's, same shapes (no gradient is taken through them).
    keep : Tensor, optional
        ``(N, M)`` bool: the edges compared (default: all).
    eps : float
        :math:`\epsilon` of the normalisation (as in
        :func:`graphkd.graphs.edge_features.normalised_difference`).

    Returns
    -------
    Tensor
        Scalar, the mean over kept edges and feature entries.

    Example
    -------
    >>> import torch
    >>> x, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    >>> abs(float(normalised_difference_mse(x, y, x, y))) < 1e-12
    True
    """
    if student_src.shape != teacher_src.shape or student_dst.shape != teacher_dst.shape:
        raise ValueError(
            f"student features {tuple(student_src.shape)} -> {tuple(student_dst.shape)} and "
            f"teacher features {tuple(teacher_src.shape)} -> {tuple(teacher_dst.shape)} must "
            "have equal shapes"
        )
    with torch.autocast(student_src.device.type, enabled=False):
        teacher_src, teacher_dst = teacher_src.detach(), teacher_dst.detach()
        s_src_sq, s_dst_sq = student_src.square().sum(1), student_dst.square().sum(1)
        t_src_sq, t_dst_sq = teacher_src.square().sum(1), teacher_dst.square().sum(1)
        s_inverse, s_apart = _inverse_lengths(
            student_src @ student_dst.t(), s_src_sq, s_dst_sq, student_src, student_dst, eps
        )
        t_inverse, t_apart = _inverse_lengths(
            teacher_src @ teacher_dst.t(), t_src_sq, t_dst_sq, teacher_src, teacher_dst, eps
        )
        # <d^s_ij, d^t_ij> = <x_i, y_i> + <x~_j, y~_j> - (X Y~^T)_ij - (Y X~^T)_ij
        dots = (student_src * teacher_src).sum(1)[:, None] + (student_dst * teacher_dst).sum(1)
        dots = torch.addmm(dots, student_src, teacher_dst.t(), alpha=-1.0)
        dots = torch.addmm(dots, teacher_src, student_dst.t(), alpha=-1.0)
        # ||u^s||^2 + ||u^t||^2 - 2 cos; the inverse lengths are 0 at coincident endpoints.
        # The exact value is >= 0; the clamp removes rounding below zero where u_s ~ u_t.
        per_edge = torch.addcmul(s_apart + t_apart, dots, s_inverse * t_inverse, value=-2.0)
        per_edge = per_edge.clamp_min(0.0)
        width = student_src.shape[1]
        if keep is None:
            return per_edge.sum() / (per_edge.numel() * width)
        kept = keep.to(per_edge.dtype)
        return (per_edge * kept).sum() / (kept.sum() * width)


def _check_drop_fraction(drop_fraction: float) -> None:
    if not 0.0 <= drop_fraction < 1.0:
        raise ValueError(
            f"drop_fraction must lie in [0, 1), got {drop_fraction}; it is the fraction of "
            "inter-sample edges pruning removes (0 keeps every edge; prune=False turns "
            "pruning off)"
        )


def _check_choice(option: str, value: str, choices: Tuple[str, ...]) -> None:
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"vrm: unknown {option} {value!r}; use one of {valid}")


class VRMDistiller(GraphMatchingDistiller):
    r"""Virtual relation matching (Zhang, Xie, Cai, Ma 2025): the distiller.

    Teacher and student each build the real -> virtual inter-sample (ISV) graph and,
    optionally, the inter-class (ICV) graph of their z-scored logits
    (:class:`RealVirtualGraphs`; the student's logits pass through its
    :class:`LogitAdaptor` first); the student graphs reuse the teacher's topology and
    the student's pruning mask selects the ISV edges compared:

    .. math::
        \mathcal{L} = \alpha\,\phi\big(E^s_{ISV}[K], E^t_{ISV}[K]\big)
                    + \beta\,\phi\big(E^s_{ICV}, E^t_{ICV}\big)

    Two exact computations of the same loss, the Gram rewrite :data:`RELATIONS`
    (:class:`~graphkd.ops.gram.GramRewrite`):

    * the graphs (:meth:`graph_losses`): the edge features are materialised
      (``B^2 x C`` and ``C^2 x B``) and compared by the match terms with any metric;
    * the rewrite (:meth:`gram_losses`, MSE only): :func:`normalised_difference_mse`
      from ``B x B`` and ``C x C`` Gram matrices, never materialising the edge features.

    With ``path="gram"`` the dispatcher of :mod:`graphkd.ops` runs the rewrite under the
    ``"auto"`` backend and the graphs under ``"dgl"`` or ``"torch"``;
    ``path="explicit"`` always runs the graphs.

    The trainer reads ``needs_virtual_view`` and ``ce_on_virtual_view`` (both equal to
    ``virtual``): each image also passes through the virtual-view transform, and the
    student's cross-entropy (weight ``ce_weight``) is applied to both views.

    Parameters
    ----------
    alpha, beta : float
        Weights of the ISV and ICV terms (128 and 32).
    drop_fraction : float
        Fraction of ISV edges pruning removes, in ``[0, 1)`` (0.25).
    metric : str
        Edge metric :math:`\phi`: ``"mse"`` (default), ``"smooth_l1"``, ``"l1"`` or
        ``"cosine"``; element means over the compared edges.
    adaptor : bool
        Pass the student's logits through a :class:`LogitAdaptor` (``True``; it needs
        ``num_classes``).
    zscore : bool
        Standardise the logits before building the graphs (``True``).
    virtual : bool
        Relate the real with the virtual view (``True``); ``False`` relates the real
        view with itself.
    icv : bool
        Include the inter-class term (``True``).
    prune : bool
        Prune unreliable ISV edges (``True``).
    path : str
        ``"auto"`` (Gram path for MSE, explicit otherwise), ``"gram"`` or
        ``"explicit"``. The attribute ``path`` holds the resolved choice and may be
        changed later.
    num_classes : int, optional
        :math:`C`, the adaptor's width (the trainer passes it).
    ce_weight : float
        Weight of the student's cross-entropy on each view (1).
    check_inputs : bool
        Reject NaN/Inf inputs (one host sync per step).

    Returns (forward)
    -----------------
    dict
        ``{"loss": total, "isv": L_ISV, "icv": L_ICV}`` (``"icv"`` when enabled).

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> def responses():
    ...     return Responses(torch.randn(8, 10), virtual=Responses(torch.randn(8, 10)))
    >>> distiller = VRMDistiller(num_classes=10)
    >>> sorted(distiller(responses(), responses())), distiller.path
    (['icv', 'isv', 'loss'], 'gram')
    """

    def __init__(
        self,
        alpha: float = 128.0,
        beta: float = 32.0,
        drop_fraction: float = 0.25,
        metric: str = "mse",
        adaptor: bool = True,
        zscore: bool = True,
        virtual: bool = True,
        icv: bool = True,
        prune: bool = True,
        path: str = "auto",
        num_classes: Optional[int] = None,
        ce_weight: float = 1.0,
        check_inputs: bool = True,
    ) -> None:
        _check_choice("metric", metric, VRM_METRICS)
        check_path("vrm", path)
        _check_drop_fraction(drop_fraction)
        if path == "gram" and metric != "mse":
            raise ValueError(
                f"vrm: the Gram path computes the MSE metric only, got metric={metric!r}; "
                "use path='explicit' (or 'auto') for other metrics"
            )
        module: Optional[nn.Module] = None
        if adaptor:
            if num_classes is None:
                raise ValueError(
                    "vrm's logit adaptor needs the number of classes; pass num_classes=C "
                    "(the trainer does) or adaptor=False"
                )
            module = LogitAdaptor(num_classes)
        teacher = RealVirtualGraphs(None, zscore, virtual, icv, None)
        student = RealVirtualGraphs(module, zscore, virtual, icv, drop_fraction if prune else None)
        terms = [MatchTerm("isv", "edge", "edges", metric, alpha, mask="keep" if prune else None)]
        if icv:
            terms.append(MatchTerm("icv", "edge", "edges", metric, beta))
        super().__init__(
            teacher, student, terms=terms, ce_weight=ce_weight, check_inputs=check_inputs
        )
        self.metric_name = metric
        self.icv = icv
        self.path = "explicit" if path == "explicit" or metric != "mse" else "gram"
        self.needs_virtual_view = virtual
        self.ce_on_virtual_view = virtual

    def graph_builders(self) -> Tuple[RealVirtualGraphs, RealVirtualGraphs]:
        """The teacher's and the student's :class:`RealVirtualGraphs`."""
        return (
            cast(RealVirtualGraphs, self.teacher_builder),
            cast(RealVirtualGraphs, self.student_builder),
        )

    def validate(self, teacher: Responses, student: Responses) -> None:
        """Raise a ``ValueError`` naming the fix when the pair cannot be related."""
        if teacher.batch_size != student.batch_size:
            raise ValueError(
                f"teacher responses have batch size {teacher.batch_size} but the student's "
                f"{student.batch_size}; feed both networks the same batch"
            )
        if teacher.num_classes != student.num_classes:
            raise ValueError(
                f"VRM relates logits, but the teacher has {teacher.num_classes} classes and "
                f"the student {student.num_classes}; teacher and student need the same number "
                "of classes (the same label set)"
            )
        check_relational_batch(student.batch_size)
        check_relational_batch(student.num_classes, what="classes")
        if self.check_inputs:
            self.check_dtype(student)
        teacher_builder, student_builder = self.graph_builders()
        teacher_builder.views(teacher)
        student_builder.views(student)
        if self.check_inputs:
            tensors: Dict[str, Tensor] = {}
            for who, responses in (("teacher", teacher), ("student", student)):
                tensors[f"{who} logits"] = responses.logits
                if self.needs_virtual_view and responses.virtual is not None:
                    tensors[f"{who} virtual-view logits"] = responses.virtual.logits
            check_finite(tensors)

    def build_graphs(self, teacher: Responses, student: Responses) -> Tuple[Graphs, Graphs]:
        """The teacher's and the student's graphs, ``{"isv": ..., "icv": ...}`` each."""
        self.validate(teacher, student)
        teacher_builder, student_builder = self.graph_builders()
        with torch.no_grad():
            teacher_graphs = teacher_builder(teacher.detach())
        return teacher_graphs, student_builder(student, teacher_graphs)

    def gram_losses(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """The unweighted terms by the Gram path, ``{"isv": ..., "icv": ...}``."""
        self.validate(teacher, student)
        teacher_builder, student_builder = self.graph_builders()
        with torch.no_grad():
            t_real, t_virtual = teacher_builder.logits(teacher.detach())
        s_real, s_virtual = student_builder.logits(student)
        keep = student_builder.keep(student)
        values = {"isv": normalised_difference_mse(s_real, s_virtual, t_real, t_virtual, keep)}
        if self.icv:
            values["icv"] = normalised_difference_mse(
                s_real.t(), s_virtual.t(), t_real.t(), t_virtual.t()
            )
        return values

    def graph_losses(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """The unweighted terms on the explicit graphs, ``{"isv": ..., "icv": ...}``."""
        teacher_graphs, student_graphs = self.build_graphs(teacher, student)
        return {
            term.name: self._match(term, teacher_graphs[term.name], student_graphs[term.name])
            for term in self.terms
        }

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        if self.path == "gram" and self.metric_name != "mse":
            raise ValueError(
                f"vrm: the Gram path computes the MSE metric only, not {self.metric_name!r}; "
                "set path='explicit'"
            )
        values = RELATIONS(self.path, student.logits.device, self, teacher, student)
        total = torch.stack([term.weight * values[term.name] for term in self.terms]).sum()
        return {"loss": total, **values}


#: VRM's Gram rewrite: :meth:`VRMDistiller.gram_losses` for :meth:`VRMDistiller.graph_losses`.
RELATIONS = GramRewrite("vrm", VRMDistiller.gram_losses, VRMDistiller.graph_losses)


@METHODS.register("vrm")
@preset(VRMDistiller)
def vrm() -> VRMDistiller:
    r"""Virtual relation matching (Zhang, Xie, Cai, Ma 2025).

    Relations between the real and a virtual (RandAugment, n = 2) view of each batch:
    inter-sample edges :math:`i \to j` and inter-class edges :math:`a \to b`, carrying
    normalised logit differences

    .. math::
        E_{ISV}[i, j] = \frac{z_i - \tilde z_j}{\|z_i - \tilde z_j\|} \in \mathbb{R}^C,
        \qquad
        E_{ICV}[a, b] = \frac{w_a - \tilde w_b}{\|w_a - \tilde w_b\|} \in \mathbb{R}^B,
        \quad w_c = z_{:, c},

    on z-scored logits (the student's through an MLP logit adaptor). ISV edges whose
    joint entropy :math:`H(p^s_i) + H(\tilde p^s_j)` of the student's predictions is
    among the top ``drop_fraction`` are pruned, every step. With cross-entropy on both
    views:

    .. math::
        \mathcal{L} = \mathrm{CE}(z^s, y) + \mathrm{CE}(\tilde z^s, y)
                    + \alpha\,\phi(E^s_{ISV}, E^t_{ISV}) + \beta\,\phi(E^s_{ICV}, E^t_{ICV})

    The distiller returns the relation terms; the trainer adds the cross-entropies
    (``needs_virtual_view`` and ``ce_on_virtual_view`` are set). See
    :class:`VRMDistiller` for the two computation paths.

    Parameters
    ----------
    alpha, beta : float
        ISV and ICV weights (128 and 32, the paper's).
    drop_fraction : float
        Fraction of ISV edges pruned per step, in ``[0, 1)``. The paper prunes above an
        unstated percentile; graphkd drops 0.25 of the edges by default.
    metric : str
        ``"mse"`` (default), ``"smooth_l1"``, ``"l1"`` or ``"cosine"``.
    adaptor : bool
        Use the student's :class:`LogitAdaptor` (needs ``num_classes``).
    zscore : bool
        Z-score the logits before building the graphs.
    virtual : bool
        Use virtual views; ``False`` relates the real view with itself (ablation).
    icv : bool
        Include the inter-class term.
    prune : bool
        Prune unreliable ISV edges.
    path : str
        ``"auto"``, ``"gram"`` (memory-light, MSE only) or ``"explicit"``.
    num_classes : int, optional
        ``C``; passed by the trainer, required with ``adaptor=True``.
    ce_weight : float
        Cross-entropy weight on each view (1).

    Example
    -------
    >>> import graphkd
    >>> distiller = graphkd.create_method("vrm", num_classes=100)
    >>> [t.name for t in distiller.terms], distiller.needs_virtual_view
    (['isv', 'icv'], True)
    """
