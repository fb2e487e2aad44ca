"""The distiller contract: every hook the engine may call on a method, with its default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from graphkd.distill.stage import STUDENT_STAGE, Stage
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses

#: What :meth:`Distiller.build_graphs` returns, for every method and stage: the teacher's
#: and the student's graphs, two dicts with the same keys, name -> graph (VRM's ``"isv"``
#: and ``"icv"``; ``{graph_name: graph}`` for a method with one graph).
GraphPair = Tuple[Dict[str, KnowledgeGraph], Dict[str, KnowledgeGraph]]


@dataclass(frozen=True)
class GradientStep:
    """What one training step hands :meth:`Distiller.combine_gradients`: its two losses,
    the parameters they train and the epoch.

    Attributes
    ----------
    student_params : iterable of Tensor
        The student's parameters.
    ce_loss, transfer_loss : Tensor
        The weighted cross-entropy and the method's ``"loss"``, scalars (already scaled
        for mixed precision and divided for accumulation).
    epoch : int
        The 0-based epoch, counted from the first stage.
    distiller_params : iterable of Tensor, optional
        The trainable parameters of the distiller that owns the step (default: those of
        the distiller called; an ensemble passes all of its members').

    Example
    -------
    >>> w = torch.ones(2, requires_grad=True)
    >>> step = GradientStep([w], (2.0 * w).sum(), (3.0 * w).sum(), epoch=0)
    >>> Distiller().combine_gradients(step)
    >>> w.grad.tolist()
    [5.0, 5.0]
    """

    student_params: Iterable[Tensor]
    ce_loss: Tensor
    transfer_loss: Tensor
    epoch: int
    distiller_params: Optional[Iterable[Tensor]] = None

    def distiller_parameters(self, distiller: nn.Module) -> Iterable[Tensor]:
        """:attr:`distiller_params`, or ``distiller``'s parameters where the step names
        none."""
        return distiller.parameters() if self.distiller_params is None else self.distiller_params


class Distiller(nn.Module):
    r"""What a distillation method is to the engine: a loss and a few hooks.

    A method's ``forward(teacher, student)`` takes the teacher's and the student's
    :class:`~graphkd.Responses` of one batch and returns ``{"loss": total, "<term>": ...}``;
    the trainer minimises

    .. math::
        \mathcal{L} = w_{ce}\,\mathrm{CE}(z_s, y) + \mathcal{L}_{\text{method}}

    Everything else the engine, the ensemble wrapper and the command ask of a method is
    below, each with a default that suits a single-stage method whose gradient is the
    plain sum. A method overrides what it changes (as an attribute, a property or a
    method) and nothing is probed: the engine calls these directly.

    =======================  =======================================  ============================
    hook                     default                                  called by
    =======================  =======================================  ============================
    ``ce_weight``            ``1.0``                                  training step
    ``check_inputs``         ``True``: NaN/Inf terms stop the run     training and stage steps
    ``needs_index``          ``False``                                documents the batch it reads
    ``needs_virtual_view``   ``False``                                data setup (a second view)
    ``ce_on_virtual_view``   ``False``                                training step
    ``stages()``             ``[Stage("distill", None, "student")]``  trainer's epoch plan
    ``set_stage(name)``      checks ``name`` is a stage               trainer, each epoch
    ``set_epoch(epoch)``     remembers it in ``self.epoch``           trainer, each epoch
    ``stage_loss(name, t)``  ``ValueError`` (no such stage)           distiller-only stage step
    ``combines_gradients``   ``False``                                training step (accumulation)
    ``combine_gradients``    ``(ce + loss).backward()``               training step
    ``after_step(t, s)``     nothing                                  after each optimiser step
    ``build_graphs(t, s)``   ``ValueError`` (compares no graphs)      pictures, inspection
    ``check_dtype(r)``       parameters' dtype must be the inputs'    methods with parameters
    ``reset_parameters()``   resets every child that can              ensemble, users
    =======================  =======================================  ============================

    ``build_graphs`` returns a :data:`GraphPair` in every stage of a method that compares
    graphs; a method that compares none (a plain ``nn.Module`` loss without a
    ``build_graphs`` of its own) raises.

    The batch always carries dataset indices (``Responses.index``); ``needs_index``
    documents that a method reads them (HKD's memory banks).

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> class MeanSquared(Distiller):
    ...     ce_weight = 0.5
    ...     def forward(self, teacher, student):
    ...         loss = (teacher.logits - student.logits).square().mean()
    ...         return {"loss": loss, "mse": loss}
    >>> method = MeanSquared()
    >>> [stage.name for stage in method.stages()], method.combines_gradients
    (['distill'], False)
    >>> sorted(method(Responses(torch.zeros(2, 3)), Responses(torch.ones(2, 3))))
    ['loss', 'mse']
    """

    #: Weight of the student's cross-entropy beside this method's loss.
    ce_weight: float = 1.0
    #: Whether a NaN or Inf loss term stops the run (one host synchronisation per step).
    check_inputs: bool = True
    #: Whether the method reads the samples' dataset indices (``Responses.index``).
    needs_index: bool = False
    #: Whether every image also passes through a second, RandAugment view
    #: (``Responses.virtual``).
    needs_virtual_view: bool = False
    #: Whether the student's cross-entropy also covers the virtual view.
    ce_on_virtual_view: bool = False
    #: Whether :meth:`combine_gradients` computes gradients itself (``autograd.grad``)
    #: instead of one ``backward()``: such a method cannot accumulate gradients over
    #: batches, and under DDP the trainer averages the student's gradients itself.
    combines_gradients: bool = False
    #: The 0-based epoch the trainer last announced through :meth:`set_epoch` (0 until
    #: then), for losses scheduled by epoch (warm-ups, curricula).
    epoch: int = 0

    def stages(self) -> List[Stage]:
        """The training stages in order; the last trains the student (its length is
        ``optim.epochs``), earlier ones train only the distiller (:meth:`stage_loss`)."""
        return [STUDENT_STAGE]

    def set_stage(self, name: str) -> None:
        """Enter stage ``name`` (the trainer calls it at the start of every epoch; it must
        be idempotent, as resuming calls it again)."""
        names = [stage.name for stage in self.stages()]
        if name not in names:
            raise ValueError(
                f"{type(self).__name__} has the stages {names}, got {name!r}; call set_stage "
                "with the name of one of distiller.stages()"
            )

    def set_epoch(self, epoch: int) -> None:
        """Remember the 0-based epoch about to train, counted from the first stage (the
        trainer calls it at the start of every epoch, after :meth:`set_stage`, resumed
        runs included). A loss scheduled by epoch reads ``self.epoch`` in ``forward``;
        outside the trainer, call it yourself once per epoch."""
        self.epoch = int(epoch)

    def stage_loss(self, name: str, teacher: Responses) -> Dict[str, Tensor]:
        """The loss of distiller-only stage ``name`` on a teacher batch,
        ``{"loss": ..., ...}``; only the distiller's parameters train on it."""
        raise ValueError(
            f"{type(self).__name__} has no distiller-only stage {name!r}; its stages are "
            f"{[stage.name for stage in self.stages()]}"
        )

    def combine_gradients(self, step: GradientStep) -> None:
        """Add the step's gradients (:class:`GradientStep`) to ``.grad``: by default
        ``(step.ce_loss + step.transfer_loss).backward()``."""
        (step.ce_loss + step.transfer_loss).backward()

    def after_step(self, teacher: Responses, student: Responses) -> None:
        """Update state after the optimiser step (e.g. memory banks), without gradients;
        ``teacher`` is one :class:`~graphkd.Responses` or, for an ensemble, a list."""

    def build_graphs(self, teacher: Responses, student: Responses) -> GraphPair:
        """The teacher's and the student's knowledge graphs of one batch,
        ``({name: G_t}, {name: G_s})`` with the same names on both sides (see
        :data:`GraphPair`)."""
        raise ValueError(
            f"{type(self).__name__} compares no knowledge graphs; build_graphs belongs to "
            "graph-matching methods (graphkd.GraphMatchingDistiller)"
        )

    def check_dtype(self, responses: Responses) -> None:
        """Raise a ``ValueError`` naming the fix when ``responses`` are of another floating
        dtype than this distiller's parameters (a method without parameters takes any).

        Example
        -------
        >>> import torch
        >>> from graphkd import Responses
        >>> method = Distiller()
        >>> method.head = torch.nn.Linear(3, 3)
        >>> method.check_dtype(Responses(torch.zeros(2, 3, dtype=torch.float64)))
        Traceback (most recent call last):
            ...
        ValueError: Distiller holds torch.float32 parameters but got torch.float64 responses; convert the distiller with distiller.to(torch.float64) or pass torch.float32 responses
        """
        parameter = next(self.parameters(), None)
        dtype = responses.logits.dtype
        if parameter is None or parameter.dtype == dtype:
            return
        if dtype in (torch.float16, torch.bfloat16):
            fix = (
                "graph losses are computed in float32: cast the responses to float32 first, "
                "as the trainer does under autocast"
            )
        else:
            fix = f"convert the distiller with distiller.to({dtype}) or pass {parameter.dtype} responses"
        raise ValueError(
            f"{type(self).__name__} holds {parameter.dtype} parameters but got {dtype} "
            f"responses; {fix}"
        )

    def reset_parameters(self) -> None:
        """Re-initialise every learnable part: each child's ``reset_parameters()``, looked
        for depth-first."""
        for child in self.children():
            _reset(child)


def _reset(module: nn.Module) -> None:
    reset = getattr(module, "reset_parameters", None)
    if callable(reset):
        reset()
        return
    for child in module.children():
        _reset(child)


def add_gradients(objective: Tensor, params: Sequence[Tensor]) -> None:
    """Add the gradient of ``objective`` to the ``.grad`` of each of ``params`` it
    reaches, by ``torch.autograd.grad`` (the others keep their ``.grad``, ``None``
    included): the step of a :meth:`Distiller.combine_gradients` that picks its own
    objective.

    Example
    -------
    >>> import torch
    >>> w, unused = torch.ones(2, requires_grad=True), torch.ones(1, requires_grad=True)
    >>> add_gradients((3.0 * w).sum(), [w, unused])
    >>> w.grad.tolist(), unused.grad
    ([3.0, 3.0], None)
    """
    grads = torch.autograd.grad(objective, params, allow_unused=True)
    for param, grad in zip(params, grads):
        if grad is not None:
            param.grad = grad if param.grad is None else param.grad + grad
