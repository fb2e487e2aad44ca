"""MHGD (Lee & Song, BMVC 2019): multi-head attention graphs between layers, in two stages."""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, cast

import torch
from torch import Tensor, nn

from graphkd.distill.base import GradientStep
from graphkd.distill.distiller import GraphMatchingDistiller, _validate
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.distill.stage import Stage
from graphkd.distill.stage_pairs import chosen_features
from graphkd.graphs.attention_graph import MultiHeadAttentionGraph
from graphkd.graphs.checks import check_relational_batch
from graphkd.graphs.projector import Projector
from graphkd.graphs.svd_embedding import SVD_GRADIENTS, svd_embedding
from graphkd.graphs.views import bipartite_graph
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses, check_finite

ATTENTION = "attention"
TRANSFER = "transfer"


def _sensing_points(
    channels: Optional[Dict[str, int]], features: Optional[Sequence[str]], who: str
) -> Tuple[List[str], List[int]]:
    if channels is None:
        raise ValueError(
            f"mhgd needs {who}_channels, the channel count of each tapped stage output "
            "(dict feature name -> channels, shallow to deep), e.g. "
            "{'layer1': 64, 'layer2': 128, 'layer3': 256}; the trainer passes it from the "
            "tapped models"
        )
    names = chosen_features(channels, features, who, f"{who}_channels")
    return names, [int(channels[name]) for name in names]


class MHGDDistiller(GraphMatchingDistiller):
    r"""Multi-head attention graph distillation (Lee & Song, BMVC 2019) in two stages.

    At each sensing point :math:`p` (a tapped stage output), each sample's map becomes
    its top right-singular vector (:func:`~graphkd.graphs.svd_embedding.svd_embedding`;
    the student's is the best-aligned of its top ``candidates`` vectors). Consecutive
    sensing points :math:`(F, K) = (p, p+1)` are joined by a
    :class:`~graphkd.graphs.attention_graph.MultiHeadAttentionGraph`: a complete
    bipartite graph from the samples at :math:`F` to the samples at :math:`K` whose
    edges carry one score :math:`S_h` per head.

    *Stage "attention"* (``stage_loss``, teacher only, student untouched): the attention
    networks learn to predict :math:`V_K` from :math:`V_F`,

    .. math::
        \mathcal{L}_1 = \sum_{(F, K)} \frac{1}{B} \sum_i
            \big(1 - \langle \hat V_{K,i}, V_{K,i} \rangle\big)
            + \lambda_2 \sum_{v} \|v\|^2

    (:math:`v` every parameter of the attention networks: the linear weights, the
    estimator's output bias and the batch norms' :math:`\gamma, \beta`;
    :math:`\lambda_2` = ``l2_weight``; no :math:`\tfrac{1}{2}`, so the penalty's gradient
    is :math:`2 \lambda_2 v`). The attention networks start from TensorFlow's FAN_OUT
    variance scaling (:meth:`MultiHeadAttentionGraph.reset_parameters
    <graphkd.graphs.attention_graph.MultiHeadAttentionGraph.reset_parameters>`).

    *Stage "transfer"* (``forward``, attention networks frozen, batch norms in inference
    mode): teacher and student embeddings pass through the same :math:`\theta, \phi`;
    :math:`G = \tanh(S)` on the edges (``edata["attention"]``) and
    :math:`P = \mathrm{softmax}_j(G)` at each back node, per head:

    .. math::
        \mathcal{L}_2 = w \sum_{(F, K)} \sum_h \sum_i
            \mathrm{KL}\big(P^s_h[i, :] \,\|\, P^t_h[i, :]\big)

    (a sum, student first, no temperature). By default (``gradient_clipping=True``) its
    gradient is clipped per student parameter to the cross-entropy gradient's norm times
    :math:`\sigma(e - e_1)` before it is added (:meth:`combine_gradients`,
    :func:`clip_transfer_gradients`); with ``gradient_clipping=False`` the plain sum
    :math:`w_{ce} \mathcal{L}_{ce} + \mathcal{L}_2` is minimised.

    The trainer runs :meth:`stages` in order, calling :meth:`set_stage` with each
    stage's name at the start of every epoch (it is idempotent; after a resume it
    restores the freezing). :meth:`set_stage` makes the attention networks trainable
    (``"attention"``) or frozen with their batch norms held in inference mode through any
    later ``.train()`` call (``"transfer"``). Projections of the student's embeddings
    (``project=True``) are always trainable; they receive gradients only in
    ``"transfer"``. A new distiller starts in stage ``"attention"``.

    Parameters
    ----------
    teacher_channels, student_channels : dict of str to int
        Channels of the tapped stage outputs, shallow to deep (required: the trainer
        passes them; ``None`` raises a ``ValueError`` saying so). Teacher and student
        sensing points are paired by order.
    heads : int
        Heads per attention network (8).
    teacher_features, student_features : sequence of str, optional
        The sensing points, shallow to deep (default: every key of the channel dicts, in
        order). At least two, as many for the student as for the teacher.
    project : bool
        Where teacher and student channels differ, learn a bias-free linear map of the
        student's candidate vectors to the teacher's width (default ``False``: such a
        pair raises a ``ValueError``).
    weight : float
        :math:`w`, the weight of the transfer term (1; with gradient clipping it scales
        the transfer gradient before the clip).
    ce_weight : float
        Weight of the student's cross-entropy (1).
    gradient_clipping : bool
        ``True`` (default, the reference implementation): the trainer combines the
        gradients with :func:`clip_transfer_gradients`; ``False``: the plain weighted sum
        is backpropagated.
    stage1_epochs : int
        Length of stage ``"attention"`` (40). The clipping's :math:`e_1`: epochs are
        counted from the start of this stage.
    l2_weight : float
        :math:`\lambda_2` (``5e-4``).
    candidates : int
        Student singular vectors competing for alignment (4).
    head_drop : bool
        Drop heads per sample in stage ``"attention"`` (``True``).
    svd_eps : float
        Gradient regularisation of the student's singular vectors (``1e-4``).
    svd_gradient : str
        Gradient of the student's singular vectors: ``"exact"`` (default) or
        ``"reference"``, the reference implementation's hand-written SVD gradient (zero
        where :math:`2/3 < HW/D < 3/2`, twice the exact one where :math:`HW/D \ge 3/2`,
        inexact where :math:`HW/D \le 2/3`; see
        :func:`~graphkd.graphs.svd_embedding.top_right_singular_vectors`).
    check_inputs : bool
        Validate shapes and reject NaN/Inf in the logits and in the tapped feature maps
        with a ``ValueError`` naming the tensor (a few host syncs per step).

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> channels = {"layer1": 8, "layer2": 16}
    >>> distiller = MHGDDistiller(channels, channels, heads=2)
    >>> def responses():
    ...     features = {"layer1": torch.rand(6, 8, 8, 8), "layer2": torch.rand(6, 16, 4, 4)}
    ...     return Responses(torch.randn(6, 10), features=features)
    >>> teacher = responses()
    >>> sorted(distiller.stage_loss("attention", teacher))
    ['estimation', 'l2', 'loss']
    >>> distiller.set_stage("transfer")
    >>> sorted(distiller(teacher, responses()))
    ['attention', 'loss']
    """

    graph_name = "attention"

    def __init__(
        self,
        teacher_channels: Optional[Dict[str, int]] = None,
        student_channels: Optional[Dict[str, int]] = None,
        heads: int = 8,
        teacher_features: Optional[Sequence[str]] = None,
        student_features: Optional[Sequence[str]] = None,
        project: bool = False,
        weight: float = 1.0,
        ce_weight: float = 1.0,
        gradient_clipping: bool = True,
        stage1_epochs: int = 40,
        l2_weight: float = 5e-4,
        candidates: int = 4,
        head_drop: bool = True,
        svd_eps: float = 1e-4,
        check_inputs: bool = True,
        svd_gradient: str = "exact",
    ) -> None:
        if svd_gradient not in SVD_GRADIENTS:
            raise ValueError(
                f"mhgd: svd_gradient must be one of {', '.join(map(repr, SVD_GRADIENTS))}, "
                f"got {svd_gradient!r}; 'exact' is the true gradient of the singular vectors, "
                "'reference' the reference implementation's hand-written one"
            )
        term = MatchTerm(
            "attention",
            field="attention",
            on="edges",
            metric="kl",
            weight=weight,
            options={
                "direction": "student||teacher",
                "reduction": "sum",
                "check_finite": check_inputs,
            },
        )
        super().__init__(self.teacher_graph, self.student_graph, [term], ce_weight, check_inputs)
        self.teacher_features, teacher_widths = _sensing_points(
            teacher_channels, teacher_features, "teacher"
        )
        self.student_features, student_widths = _sensing_points(
            student_channels, student_features, "student"
        )
        if len(self.teacher_features) != len(self.student_features):
            raise ValueError(
                f"the teacher has {len(self.teacher_features)} sensing points "
                f"{self.teacher_features} but the student {len(self.student_features)} "
                f"{self.student_features}; they are paired by order, so select as many of "
                "each with teacher_features=[...] and student_features=[...]"
            )
        if len(self.teacher_features) < 2:
            raise ValueError(
                f"mhgd relates consecutive sensing points and needs at least 2, got "
                f"{self.teacher_features}; tap (and list in the channel dicts) more stage outputs"
            )
        self.teacher_widths, self.student_widths = teacher_widths, student_widths
        projections = {}
        for point, (t_width, s_width) in enumerate(zip(teacher_widths, student_widths)):
            if t_width == s_width:
                continue
            if not project:
                raise ValueError(
                    f"teacher feature {self.teacher_features[point]!r} has {t_width} channels "
                    f"but the student's {self.student_features[point]!r} has {s_width}; MHGD "
                    "compares the two at each sensing point: pass project=True to learn a "
                    "projection of the student's embeddings, or choose sensing points with "
                    "equal channels (teacher_features=, student_features=)"
                )
            projections[str(point)] = Projector(s_width, t_width, bias=False)
        self.projections = nn.ModuleDict(projections)
        self.attention = nn.ModuleList(
            MultiHeadAttentionGraph(front, back, heads, head_drop=head_drop)
            for front, back in zip(teacher_widths[:-1], teacher_widths[1:])
        )
        self.gradient_clipping = gradient_clipping
        self.stage1_epochs = stage1_epochs
        self.l2_weight = l2_weight
        self.candidates = candidates
        self.svd_eps = svd_eps
        self.svd_gradient = svd_gradient
        self.stage = ATTENTION
        self.set_stage(ATTENTION)

    def reset_parameters(self) -> None:
        """Re-initialise the attention networks and the projections."""
        for module in (*self.attention, *self.projections.values()):
            module.reset_parameters()

    def stages(self) -> List[Stage]:
        """``[Stage("attention", stage1_epochs, "distiller"), Stage("transfer", None, "student")]``."""
        return [Stage(ATTENTION, self.stage1_epochs, "distiller"), Stage(TRANSFER, None, "student")]

    def set_stage(self, name: str) -> None:
        """Enter stage ``name``: ``"attention"`` (attention networks trainable, their batch
        norms following ``.train()``/``.eval()``) or ``"transfer"`` (attention networks
        frozen, ``requires_grad=False``, batch norms in inference mode whatever
        ``.train()`` says)."""
        if name not in (ATTENTION, TRANSFER):
            raise ValueError(
                f"mhgd has the stages 'attention' and 'transfer', got {name!r}; call "
                "set_stage with the name of one of distiller.stages()"
            )
        self.stage = name
        for parameter in self.attention.parameters():
            parameter.requires_grad_(name == ATTENTION)
        self.train(self.training)

    def train(self, mode: bool = True) -> MHGDDistiller:
        """Set training mode; in stage ``"transfer"`` the attention networks stay in eval."""
        super().train(mode)
        if self.stage == TRANSFER:
            self.attention.eval()
        return self

    def _maps(
        self, responses: Responses, names: List[str], widths: List[int], who: str
    ) -> List[Tensor]:
        maps = []
        for name, width in zip(names, widths):
            if name not in responses.features:
                tapped = ", ".join(sorted(responses.features)) or "none"
                raise ValueError(
                    f"the {who}'s responses carry no feature {name!r} (tapped: {tapped}); mhgd "
                    "reads its sensing points from tapped stage outputs: tap them with "
                    "graphkd.models.tap(model, features=[...]) and list them in "
                    f"{who}_channels"
                )
            feature = responses.features[name]
            if feature.dim() < 2 or feature.shape[1] != width:
                raise ValueError(
                    f"the {who}'s feature {name!r} has shape {tuple(feature.shape)} but "
                    f"{who}_channels gives it {width} channels; pass the channel counts of "
                    "the tapped maps (B, C, H, W)"
                )
            maps.append(feature)
        if self.check_inputs:
            check_finite({f"{who} feature {name!r}": m for name, m in zip(names, maps)})
        return maps

    def teacher_embeddings(self, responses: Responses) -> List[Tensor]:
        """``(B, D_p)`` top right-singular vectors of the teacher's maps, per sensing point."""
        maps = self._maps(responses, self.teacher_features, self.teacher_widths, "teacher")
        return [svd_embedding(feature, eps=self.svd_eps) for feature in maps]

    def student_embeddings(self, responses: Responses, reference: List[Tensor]) -> List[Tensor]:
        """The student's singular vectors aligned with the teacher's ``reference``
        (projected to the teacher's widths where they differ), per sensing point."""
        maps = self._maps(responses, self.student_features, self.student_widths, "student")
        return [
            svd_embedding(
                feature,
                reference=target,
                candidates=self.candidates,
                project=self.projections[str(point)] if str(point) in self.projections else None,
                eps=self.svd_eps,
                gradient=self.svd_gradient,
            )
            for point, (feature, target) in enumerate(zip(maps, reference))
        ]

    def attention_graph(
        self, embeddings: List[Tensor], like: Optional[KnowledgeGraph] = None
    ) -> KnowledgeGraph:
        """The attention graphs of consecutive sensing points, batched into one graph.

        Member ``k`` is the complete bipartite graph from the ``B`` samples at sensing
        point ``k`` to those at ``k + 1``; ``edata["attention"]`` ``(E, heads)`` holds
        :math:`G = \\tanh(S)`. With ``like`` the graph reuses its topology.
        """
        batch = embeddings[0].shape[0]
        check_relational_batch(batch)
        pair = bipartite_graph(batch, batch, device=embeddings[0].device)
        scores = [
            network(pair, front, back)
            for network, front, back in zip(self.attention, embeddings[:-1], embeddings[1:])
        ]
        graph = (
            like.same_topology() if like is not None else KnowledgeGraph.batch([pair] * len(scores))
        )
        graph.edata["attention"] = torch.tanh(torch.cat(scores))
        return graph

    def teacher_graph(self, responses: Responses) -> KnowledgeGraph:
        """The teacher's attention graph of one batch (:meth:`attention_graph`)."""
        return self.attention_graph(self.teacher_embeddings(responses))

    def student_graph(
        self, responses: Responses, reference: List[Tensor], like: Optional[KnowledgeGraph] = None
    ) -> KnowledgeGraph:
        """The student's attention graph, its embeddings aligned with the teacher's
        ``reference`` (:meth:`teacher_embeddings`)."""
        return self.attention_graph(self.student_embeddings(responses, reference), like)

    def _graph_pair(
        self, teacher: Responses, student: Responses
    ) -> Tuple[KnowledgeGraph, KnowledgeGraph]:
        """Teacher and student attention graphs; the student's embeddings are aligned
        with the teacher's, so both sides are built here. Built in either stage: in
        ``"attention"`` they are the graphs of the attention networks as they train."""
        if self.check_inputs:
            _validate(teacher, student)
            self.check_dtype(student)
        with torch.no_grad():
            reference = self.teacher_embeddings(teacher.detach())
            teacher_graph = self.attention_graph(reference)
        return teacher_graph, self.student_graph(student, reference, teacher_graph)

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """The transfer loss :math:`\\mathcal{L}_2` (stage ``"transfer"`` only)."""
        if self.stage != TRANSFER:
            raise ValueError(
                "the mhgd distiller is in stage 'attention', where the attention networks "
                "train through stage_loss('attention', teacher_responses); call "
                "set_stage('transfer') before distilling"
            )
        return super().forward(teacher, student)

    @property
    def combines_gradients(self) -> bool:  # type: ignore[override]
        """``True`` with ``gradient_clipping`` (the trainer then calls
        :meth:`combine_gradients` and cannot accumulate gradients)."""
        return self.gradient_clipping

    def combine_gradients(self, step: GradientStep) -> None:
        r"""Backpropagate ``ce_loss + transfer_loss`` as this method's weighting says.

        With ``gradient_clipping`` (the default) the transfer gradient is clipped per
        parameter (:func:`clip_transfer_gradients`, the reference implementation);
        otherwise the plain sum is backpropagated. ``step.epoch`` is the 0-based epoch
        counted from the start of stage 1, as the reference counts it, so the first
        transfer epoch is ``stage1_epochs`` and gets :math:`\sigma(0) = 1/2`. The trainer
        calls this instead of ``loss.backward()``. The distiller's parameters
        (:meth:`GradientStep.distiller_parameters`) receive the transfer gradient
        unclipped.
        """
        if not self.gradient_clipping:
            super().combine_gradients(step)
            return
        clip_transfer_gradients(
            step.student_params,
            step.ce_loss,
            step.transfer_loss,
            step.epoch,
            self.stage1_epochs,
            extra_params=step.distiller_parameters(self),
        )

    def stage_loss(self, name: str, teacher: Responses) -> Dict[str, Tensor]:
        """The loss of distiller stage ``name`` (only ``"attention"``) on a teacher batch.

        Returns
        -------
        dict
            ``{"loss": estimation + l2_weight * l2, "estimation": ..., "l2": ...}``, with
            ``l2`` the sum of squares of every attention-network parameter.
        """
        if name != ATTENTION:
            raise ValueError(
                f"mhgd trains its own parameters only in stage 'attention', got {name!r}; "
                "stage 'transfer' distils through the distiller's forward"
            )
        if self.stage != ATTENTION:
            raise ValueError(
                "the attention networks are frozen in stage 'transfer'; call "
                "set_stage('attention') before stage_loss('attention', ...)"
            )
        if self.check_inputs:
            self.check_dtype(teacher)
        with torch.no_grad():
            vectors = self.teacher_embeddings(teacher.detach())
        batch = vectors[0].shape[0]
        check_relational_batch(batch)
        pair = bipartite_graph(batch, batch, device=vectors[0].device)
        terms = []
        for network, front, back in zip(self.attention, vectors[:-1], vectors[1:]):
            predicted = cast(MultiHeadAttentionGraph, network).estimate(pair, front, back)
            terms.append((1.0 - (predicted * back).sum(1)).mean())
        estimation = torch.stack(terms).sum()
        l2 = torch.stack([p.square().sum() for p in self.attention.parameters()]).sum()
        return {"loss": estimation + self.l2_weight * l2, "estimation": estimation, "l2": l2}


def clip_transfer_gradients(
    student_params: Iterable[Tensor],
    ce_loss: Tensor,
    transfer_loss: Tensor,
    epoch: int,
    stage1_epochs: int,
    extra_params: Iterable[Tensor] = (),
) -> None:
    r"""Combine CE and transfer gradients as MHGD's reference implementation does.

    For every student parameter, the transfer gradient is clipped to a norm relative to
    the cross-entropy gradient, then added to it:

    .. math::
        g = g_{ce} + g_{tr}\, \min\!\Big(1,\ \frac{\|g_{ce}\|_2\,
            \sigma(e - e_1)}{\|g_{tr}\|_2}\Big)

    with :math:`\sigma` the logistic function, :math:`e` = ``epoch`` (0-based, counting
    the stage-1 epochs, so the first transfer epoch gets :math:`\sigma(0) = 1/2`) and
    :math:`e_1` = ``stage1_epochs``. :math:`g` is added to each parameter's ``.grad``
    (zero the gradients first); use it instead of ``loss.backward()``, then step the
    optimiser. Scaling both losses by one factor (e.g. ``GradScaler.scale``) scales the
    result by that factor.

    Parameters
    ----------
    student_params : iterable of Tensor
        The student's parameters (those without ``requires_grad`` are skipped).
    ce_loss : Tensor
        The (weighted) cross-entropy, a scalar.
    transfer_loss : Tensor
        The distiller's loss, a scalar.
    epoch, stage1_epochs : int
        As above.
    extra_params : iterable of Tensor
        Trainable distiller parameters (e.g. MHGD's projections), which receive the
        transfer gradient unclipped.

    Example
    -------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> clip_transfer_gradients([w], (3 * w).sum(), (100 * w).sum(), epoch=40, stage1_epochs=40)
    >>> w.grad  # 3 + 100 clipped to norm 0.5 * ||(3, 3)||
    tensor([4.5000, 4.5000])
    """
    params = [p for p in student_params if p.requires_grad]
    extra = [p for p in extra_params if p.requires_grad]
    factor = 1.0 / (1.0 + math.exp(-(epoch - stage1_epochs)))
    transfer = torch.autograd.grad(
        transfer_loss, params + extra, retain_graph=True, allow_unused=True
    )
    ce = torch.autograd.grad(ce_loss, params, allow_unused=True)
    for param, g_ce, g_tr in zip(params, ce, transfer[: len(params)]):
        g_ce = torch.zeros_like(param) if g_ce is None else g_ce
        if g_tr is not None:
            limit = g_ce.norm() * factor
            g_ce = g_ce + g_tr * (limit / g_tr.norm().clamp_min(1e-12)).clamp(max=1.0)
        param.grad = g_ce if param.grad is None else param.grad + g_ce
    for param, g_tr in zip(extra, transfer[len(params) :]):
        if g_tr is not None:
            param.grad = g_tr if param.grad is None else param.grad + g_tr


@METHODS.register("mhgd")
@preset(MHGDDistiller)
def mhgd() -> MHGDDistiller:
    r"""Multi-head attention graph distillation (Lee & Song, BMVC 2019).

    Two stages (:meth:`MHGDDistiller.stages`): 40 epochs training the attention networks
    on the frozen teacher, then distillation with them frozen, its gradient clipped
    per student parameter to the cross-entropy gradient's norm times
    :math:`\sigma(e - 40)` as in the reference implementation,

    .. math::
        \mathcal{L}_2 = w \sum_{(F, K)} \sum_h \sum_i
            \mathrm{KL}\big(\mathrm{softmax}_j \tanh S^s_h[i, j] \,\|\,
            \mathrm{softmax}_j \tanh S^t_h[i, j]\big)

    See :class:`MHGDDistiller` for the graphs, the losses and every parameter.

    Parameters
    ----------
    teacher_channels, student_channels : dict of str to int
        Tapped stage outputs and their channels, shallow to deep (required; the trainer
        passes them).
    heads : int
        Attention heads (8).

    Other Parameters
    ----------------
    teacher_features, student_features : sequence of str, optional
        The sensing points (default: all keys of the channel dicts).
    project : bool
        Learn projections where channel counts differ (``False``: raise).
    weight, ce_weight : float
        Transfer and cross-entropy weights (1 and 1).
    gradient_clipping : bool
        ``True``: the reference implementation's clipping; ``False``: a plain weight.
    stage1_epochs : int
        40.
    l2_weight : float
        ``5e-4``.
    candidates : int
        4.
    head_drop : bool
        ``True``.
    svd_eps : float
        ``1e-4``.
    svd_gradient : str
        ``"exact"`` (default) or ``"reference"`` (the reference implementation's
        hand-written SVD gradient).

    Example
    -------
    >>> channels = {"layer1": 64, "layer2": 128, "layer3": 256}
    >>> distiller = mhgd(teacher_channels=channels, student_channels=channels)
    >>> [(stage.name, stage.epochs) for stage in distiller.stages()]
    [('attention', 40), ('transfer', None)]
    """
