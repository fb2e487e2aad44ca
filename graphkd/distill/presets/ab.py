"""AB (Heo et al., AAAI 2019): transferring the activation boundaries of hidden neurons."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from torch import Tensor, nn

from graphkd.distill.base import GradientStep, add_gradients
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset, written_for
from graphkd.distill.presets.fitnet import HintRegressor
from graphkd.distill.stage_pairs import (
    StagePairDistiller,
    StagePairs,
    halving_weights,
    node_terms,
    sample_graphs,
)
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric
from graphkd.responses import Responses

Shape = Tuple[int, int, int]


class BoundaryLoss(Metric):
    r"""AB's alternative L2 loss: a hinge on each neuron's activation boundary.

    .. math::
        \ell = \frac{1}{B}\sum_{b, c, h, w}
            (s + \mu)^2\,[s > -\mu,\ t \le 0] + (s - \mu)^2\,[s \le \mu,\ t > 0]

    The student's pre-activation :math:`s` must be below :math:`-\mu` where the
    teacher's neuron is off (:math:`t \le 0`) and above :math:`\mu` where it is on.
    ``student`` and ``teacher`` are ``(B, C, H, W)``; ``margin`` is :math:`\mu` (1.0).

    Example
    -------
    >>> import torch
    >>> loss = BoundaryLoss(margin=1.0)
    >>> float(loss(torch.tensor([[0.0, 2.0]]), torch.tensor([[-1.0, 1.0]])))
    1.0
    """

    def __init__(self, margin: float = 1.0, check_finite: bool = True) -> None:
        super().__init__(check_finite=check_finite)
        if not margin >= 0:
            raise ValueError(f"the margin must be >= 0, got {margin}; AB's default is 1.0")
        self.margin = margin

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        on = teacher > 0
        off_side = (student + self.margin).square() * ((student > -self.margin) & ~on)
        on_side = (student - self.margin).square() * ((student <= self.margin) & on)
        return (off_side + on_side).sum() / student.shape[0]


def connector(student_shape: Shape, teacher_shape: Shape) -> nn.Module:
    """RepDistiller's AB connector: nothing where the channel counts and heights agree,
    else a convolution chosen by the maps' sizes (:class:`HintRegressor`, FitNets' rule)
    and a batch norm, without ReLU."""
    if student_shape[0] == teacher_shape[0] and student_shape[1] == teacher_shape[1]:
        return nn.Identity()
    try:
        return HintRegressor(student_shape, teacher_shape, relu=False)
    except ValueError:
        raise ValueError(
            f"ab cannot connect a student map of shape {tuple(student_shape)} to the teacher's "
            f"{tuple(teacher_shape)}: the student's map must be as large as the teacher's or "
            "larger, or exactly half or twice its size; pair other features "
            "(teacher_features=..., student_features=...)"
        ) from None


def channels_of(shapes: Dict[str, Shape]) -> Dict[str, int]:
    """``{feature: C}`` of ``{feature: (C, H, W)}``."""
    return {name: int(shape[0]) for name, shape in shapes.items()}


class ABDistiller(StagePairDistiller):
    r"""Activation-boundary distillation (Heo et al., AAAI 2019), with its initialisation.

    Nodes are the samples of the batch. At each of the :math:`n` pairs of tapped stage
    outputs *before their final ReLU*, the teacher graph carries the teacher's map
    :math:`t_k`, the student graph the student's map through its connector :math:`c_k`
    (:func:`connector`), and the node term is :class:`BoundaryLoss`:

    .. math::
        \mathcal{L}_{ab} = w \sum_{k=1}^{n} 2^{k-n}\, \ell_{\mu}\big(c_k(s_k), t_k\big)

    *Initialisation.* During the first ``init_epochs`` epochs only
    :math:`\mathcal{L}_{ab}` trains the student and the connectors
    (:meth:`combine_gradients` leaves the cross-entropy out, so ``combines_gradients``
    is ``True``); afterwards the student trains on its cross-entropy alone and
    ``"loss"`` is zero (``"ab"`` still reports :math:`\mathcal{L}_{ab}`). The epoch comes from :meth:`set_epoch` (the trainer calls
    it every epoch) and from ``combine_gradients``' ``epoch``. See :func:`ab` for the
    parameters (``teacher_features``, ``student_features``, ``ce_weight`` and
    ``check_inputs`` are those of :class:`~graphkd.distill.stage_pairs.StagePairDistiller`;
    AB is told the tapped shapes, whose channels it pairs).
    """

    graph_name = "samples"
    adapts_widths = True

    def __init__(
        self,
        teacher_shapes: Optional[Dict[str, Shape]] = None,
        student_shapes: Optional[Dict[str, Shape]] = None,
        margin: float = 1.0,
        weight: float = 3e-3,
        init_epochs: int = 30,
        preact: bool = True,
        **options: Any,
    ) -> None:
        for who, shapes in (("teacher", teacher_shapes), ("student", student_shapes)):
            if shapes is None:
                raise ValueError(
                    f"ab needs {who}_shapes, the (C, H, W) of each tapped stage output (dict "
                    "feature name -> shape, shallow to deep); the trainer passes it from the "
                    "tapped models"
                )
        assert teacher_shapes is not None and student_shapes is not None
        if init_epochs < 0:
            raise ValueError(f"init_epochs must be >= 0, got {init_epochs}")

        def boundary_terms(pairs: StagePairs) -> List[MatchTerm]:
            losses = [BoundaryLoss(margin) for _ in pairs.teacher]
            return node_terms("ab", pairs.teacher, losses, halving_weights(weight, len(losses)))

        channels = (channels_of(teacher_shapes), channels_of(student_shapes))
        super().__init__("ab", boundary_terms, channels, **options)
        t_names, s_names = self.teacher_features, self.student_features
        self.teacher_shapes = [tuple(int(x) for x in teacher_shapes[n]) for n in t_names]
        self.student_shapes = [tuple(int(x) for x in student_shapes[n]) for n in s_names]
        self.connectors = nn.ModuleList(
            connector(s, t)  # type: ignore[arg-type]
            for s, t in zip(self.student_shapes, self.teacher_shapes)
        )
        self.margin = margin
        self.weight = weight
        self.init_epochs = init_epochs
        self.preact = preact

    def initialising(self, epoch: Optional[int] = None) -> bool:
        """Whether ``epoch`` (default: the last announced, :attr:`epoch`) is one of the
        initialisation epochs."""
        return (self.epoch if epoch is None else epoch) < self.init_epochs

    def _graph_pair(
        self, teacher: Responses, student: Responses
    ) -> Tuple[KnowledgeGraph, KnowledgeGraph]:
        """Sample nodes; ``ndata[<teacher feature>]``: the teacher's map (teacher graph)
        and the student's map through its connector (student graph)."""
        t_maps, s_maps = self.checked_maps(teacher, student)
        t_fields, s_fields = {}, {}
        for name, s_map, t_map, network in zip(
            self.teacher_features, s_maps, t_maps, self.connectors
        ):
            t_fields[name], s_fields[name] = t_map.detach(), network(s_map)
            if s_fields[name].shape != t_fields[name].shape:
                raise ValueError(
                    f"ab's connector turns the student's {tuple(s_map.shape)} map into "
                    f"{tuple(s_fields[name].shape)}, but the teacher's {name!r} is "
                    f"{tuple(t_map.shape)}; pass the shapes of the tapped maps "
                    "(teacher_shapes, student_shapes)"
                )
        return sample_graphs(t_fields, s_fields)

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """``{"loss": L_ab during initialisation else 0, "ab": L_ab, "ab_<feature>": ...}``."""
        out = super().forward(teacher, student)
        total = out["loss"]
        return {**out, "loss": total if self.initialising() else total * 0.0, "ab": total}

    #: AB chooses per phase which losses reach the student (see :meth:`combine_gradients`).
    combines_gradients = True

    def combine_gradients(self, step: GradientStep) -> None:
        """Add the step's gradients to ``.grad``: of the AB loss alone during the
        initialisation epochs, of ``ce_loss + transfer_loss`` afterwards (where
        ``transfer_loss`` is zero), for the student's and the distiller's parameters
        (:meth:`GradientStep.distiller_parameters`). Computed with
        ``torch.autograd.grad`` (the trainer then averages them under DDP itself and does
        not accumulate gradients over batches)."""
        params = [p for p in step.student_params if p.requires_grad]
        params += [p for p in step.distiller_parameters(self) if p.requires_grad]
        if self.initialising(step.epoch):
            add_gradients(step.transfer_loss, params)
        else:
            add_gradients(step.ce_loss + step.transfer_loss, params)


@METHODS.register("ab")
@written_for(270)
@preset(ABDistiller)
def ab() -> ABDistiller:
    r"""Knowledge transfer via distillation of activation boundaries (Heo et al., AAAI 2019).

    .. math::
        \mathcal{L}_{ab} = w \sum_{k=1}^{n} \frac{2^{k-n}}{B} \sum_{b,c,h,w}
            (s + \mu)^2 [s > -\mu,\, t \le 0] + (s - \mu)^2 [s \le \mu,\, t > 0],
        \qquad s = c_k(s_k),\ t = t_k

    over the paired pre-ReLU stage outputs, trained alone for ``init_epochs`` epochs (the
    student initialised to the teacher's activation boundaries), then the student trains
    on its cross-entropy (:class:`ABDistiller`), as RepDistiller runs AB.

    Parameters
    ----------
    teacher_shapes, student_shapes : dict of str to (int, int, int)
        ``(C, H, W)`` of the tapped (pre-activation) stage outputs, shallow to deep (the
        trainer passes them).
    margin : float
        :math:`\mu` (1.0).
    weight : float
        :math:`w` (``3e-3``: RepDistiller's ``/ 1000 * 3`` of the per-sample sum).
    init_epochs : int
        Initialisation epochs at the start of the schedule (30, RepDistiller's
        ``--init_epochs``).
    preact : bool
        Read the stage outputs before their final activation (``True``; the trainer
        taps them).
    teacher_features, student_features, ce_weight, check_inputs
        Those of :class:`~graphkd.distill.stage_pairs.StagePairDistiller`, the stage
        outputs chosen from the shapes' keys (``ce_weight`` weighs the cross-entropy after
        the initialisation). The default pairs (the ``min(n_t, n_s)`` deepest of each
        side) are RepDistiller's ``feat[1:-1]`` for every zoo pair but VGG to VGG.

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> shapes = {"layer1.0.merge": (8, 8, 8), "layer2.0.merge": (16, 4, 4)}
    >>> distiller = ab(shapes, shapes)
    >>> def maps():
    ...     f = {k: torch.randn(2, *s) for k, s in shapes.items()}
    ...     return Responses(torch.randn(2, 10), features=f)
    >>> sorted(distiller(maps(), maps()))
    ['ab', 'ab_layer1_0_merge', 'ab_layer2_0_merge', 'loss']
    """
