"""Distillation from a teacher ensemble: any distiller, applied per teacher or to the mean."""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from graphkd.distill.base import Distiller, GradientStep, GraphPair
from graphkd.distill.methods import create_method
from graphkd.distill.module_distiller import as_distiller
from graphkd.distill.stage import Stage
from graphkd.responses import Responses

#: The ways :class:`EnsembleDistiller` combines teachers.
ENSEMBLE_MODES = ("per_teacher", "average_logits")


def _mean_or_none(values: List[Optional[Tensor]]) -> Optional[Tensor]:
    if any(v is None for v in values):
        return None
    shapes = {tuple(v.shape) for v in values if v is not None}
    if len(shapes) != 1:
        raise ValueError(
            f"the teachers' embeddings have shapes {sorted(shapes)}; mode='average_logits' "
            "averages them and needs equal widths; use mode='per_teacher' for teachers of "
            "different widths"
        )
    return torch.stack([v for v in values if v is not None]).mean(0)


def average_responses(teachers: Sequence[Responses]) -> Responses:
    r"""One :class:`~graphkd.Responses` whose tensors are the teachers' means.

    .. math::
        \bar z = \frac1T \sum_{k=1}^{T} z^{t_k}, \qquad
        \bar f = \frac1T \sum_{k=1}^{T} f^{t_k}

    Logits are averaged; the embedding when every teacher has one of the same width;
    features that every teacher carries with one shape (the others are left out); the
    virtual view when every teacher has one. Labels and indices come from the first.

    Example
    -------
    >>> import torch
    >>> a, b = Responses(torch.zeros(2, 3)), Responses(torch.ones(2, 3))
    >>> average_responses([a, b]).logits[0].tolist()
    [0.5, 0.5, 0.5]
    """
    first = teachers[0]
    features: Dict[str, Tensor] = {}
    for name, value in first.features.items():
        values = [t.features.get(name) for t in teachers]
        if all(v is not None and v.shape == value.shape for v in values):
            features[name] = torch.stack(values).mean(0)  # type: ignore[arg-type]
    virtual = None
    if all(t.virtual is not None for t in teachers):
        virtual = average_responses([t.virtual for t in teachers])  # type: ignore[misc]
    return replace(
        first,
        logits=torch.stack([t.logits for t in teachers]).mean(0),
        embedding=_mean_or_none([t.embedding for t in teachers]),
        features=features,
        virtual=virtual,
    )


class EnsembleDistiller(Distiller):
    r"""Distil several teachers into one student with any distiller.

    ``mode="per_teacher"`` (the reference protocol) applies the distiller to every
    teacher and averages; ``mode="average_logits"`` applies it once to the teachers'
    averaged responses (:func:`average_responses`):

    .. math::
        \mathcal{L}_{\text{per teacher}} = \frac1T \sum_{k=1}^{T} \mathcal{L}(R_{t_k}, R_s),
        \qquad
        \mathcal{L}_{\text{average}} = \mathcal{L}\Big(\frac1T \sum_{k=1}^{T} R_{t_k}, R_s\Big)

    Every entry of the wrapped distiller's dict is averaged the same way; per-teacher
    mode adds ``"teacher<k>"``, teacher :math:`k`'s loss. The trainer adds
    ``ce_weight * CE(z_s, y)`` once, as for a single teacher. Every hook of the
    :class:`~graphkd.distill.Distiller` contract is the wrapped distillers': stages,
    post-step updates and resets reach each of them, and a method that combines its own
    gradients (MHGD's clipping) combines the ensemble's averaged loss the same way.

    Parameters
    ----------
    distiller : Distiller or sequence of Distiller
        A distiller (a plain ``nn.Module`` is adapted, see
        :func:`~graphkd.distill.module_distiller.as_distiller}) ``distiller(teacher, student) -> {"loss": ..., ...}`` (e.g. from
        :func:`~graphkd.create_method`) shared by all teachers, or one per teacher
        (needed when the distiller holds per-teacher state, such as a memory bank or a
        projector to the teacher's width).
    mode : {"per_teacher", "average_logits"}
        How teachers combine (default ``"per_teacher"``).
    ce_weight : float, optional
        Weight of the student's cross-entropy; default the wrapped distillers' (which
        must then agree).

    Example
    -------
    >>> import torch
    >>> import graphkd
    >>> ensemble = EnsembleDistiller(graphkd.create_method("kd"))
    >>> teachers = [graphkd.Responses(torch.randn(4, 10)) for _ in range(3)]
    >>> out = ensemble(teachers, graphkd.Responses(torch.randn(4, 10)))
    >>> sorted(out)
    ['kd', 'loss', 'teacher0', 'teacher1', 'teacher2']
    """

    def __init__(
        self,
        distiller: Union[nn.Module, Sequence[nn.Module]],
        mode: str = "per_teacher",
        ce_weight: Optional[float] = None,
    ) -> None:
        super().__init__()
        if mode not in ENSEMBLE_MODES:
            raise ValueError(f"unknown ensemble mode {mode!r}; choose one of {ENSEMBLE_MODES}")
        members = [distiller] if isinstance(distiller, nn.Module) else list(distiller)
        distillers = [as_distiller(d, "EnsembleDistiller member") for d in members]
        if not distillers:
            raise ValueError("no distiller given; pass one, or one per teacher")
        if mode == "average_logits" and len(distillers) != 1:
            raise ValueError(
                "mode='average_logits' computes one loss on the averaged teacher and takes "
                f"one distiller, got {len(distillers)}"
            )
        if ce_weight is None:
            weights = {float(d.ce_weight) for d in distillers}
            if len(weights) != 1:
                raise ValueError(
                    f"the distillers have different ce_weight values {sorted(weights)}; pass "
                    "ce_weight=... to the EnsembleDistiller"
                )
            ce_weight = weights.pop()
        if len({d.combines_gradients for d in distillers}) != 1:
            raise ValueError(
                "some wrapped distillers combine their gradients themselves and some do not; "
                "use one method for every teacher"
            )
        self.distillers = nn.ModuleList(distillers)
        self.mode = mode
        self.ce_weight = ce_weight
        self.check_inputs = any(d.check_inputs for d in distillers)
        self.combines_gradients = distillers[0].combines_gradients

    # The contract's hooks, answered by the wrapped distillers.
    @property
    def needs_index(self) -> bool:  # type: ignore[override]
        """Whether any wrapped distiller needs dataset indices."""
        return any(d.needs_index for d in self._members())

    @property
    def needs_virtual_view(self) -> bool:  # type: ignore[override]
        """Whether any wrapped distiller needs a virtual view of every image."""
        return any(d.needs_virtual_view for d in self._members())

    @property
    def ce_on_virtual_view(self) -> bool:  # type: ignore[override]
        """Whether the student's cross-entropy also covers the virtual view."""
        return any(d.ce_on_virtual_view for d in self._members())

    def stages(self) -> List[Stage]:
        """The wrapped distillers' stages (they must agree)."""
        schedules = [list(d.stages()) for d in self._members()]
        if any(schedule != schedules[0] for schedule in schedules):
            raise ValueError("the wrapped distillers declare different stages; use one method")
        return schedules[0]

    def set_stage(self, name: str) -> None:
        """Enter stage ``name`` in every wrapped distiller."""
        for distiller in self._members():
            distiller.set_stage(name)

    def set_epoch(self, epoch: int) -> None:
        """Tell every wrapped distiller the epoch (and remember it here)."""
        super().set_epoch(epoch)
        for distiller in self._members():
            distiller.set_epoch(epoch)

    def stage_loss(self, name: str, teachers: Sequence[Responses]) -> Dict[str, Tensor]:  # type: ignore[override]
        """A distiller-only stage's loss, averaged over the teachers."""
        outputs = [self._for(k).stage_loss(name, teacher) for k, teacher in enumerate(teachers)]
        return {key: torch.stack([out[key] for out in outputs]).mean(0) for key in outputs[0]}

    def combine_gradients(self, step: GradientStep) -> None:
        """The wrapped method's gradient rule applied to the ensemble's loss (the mean
        over teachers), with every member's parameters as the distiller's."""
        members = replace(step, distiller_params=step.distiller_parameters(self))
        self._members()[0].combine_gradients(members)

    def after_step(self, teachers: Sequence[Responses], student: Responses) -> None:  # type: ignore[override]
        """Forward the post-step update (e.g. memory banks) teacher by teacher."""
        if self.mode == "average_logits":
            pairs = [(average_responses(teachers), self._members()[0])]
        else:
            pairs = [(teacher, self._for(k)) for k, teacher in enumerate(teachers)]
        for teacher, distiller in pairs:
            distiller.after_step(teacher, student)

    def build_graphs(self, teachers: Sequence[Responses], student: Responses) -> GraphPair:  # type: ignore[override]
        """The graphs of the first teacher with its distiller (``average_logits``: of the
        averaged teacher), as :meth:`Distiller.build_graphs` gives them."""
        if self.mode == "average_logits":
            return self._members()[0].build_graphs(average_responses(teachers), student)
        return self._for(0).build_graphs(teachers[0], student)

    def reset_parameters(self) -> None:
        """Reset every wrapped distiller."""
        for distiller in self._members():
            distiller.reset_parameters()

    def _members(self) -> List[Distiller]:
        return list(self.distillers)  # type: ignore[arg-type]

    def _for(self, k: int) -> Distiller:
        return self._members()[k if len(self.distillers) > 1 else 0]

    def _check(self, teachers: Sequence[Responses], student: Responses) -> None:
        if not teachers:
            raise ValueError("no teacher responses given; pass a list with one per teacher")
        if len(self.distillers) > 1 and len(self.distillers) != len(teachers):
            raise ValueError(
                f"{len(teachers)} teachers but {len(self.distillers)} distillers; pass one "
                "distiller per teacher, or a single shared one"
            )
        for k, teacher in enumerate(teachers):
            if teacher.num_classes != student.num_classes:
                raise ValueError(
                    f"teacher {k} predicts {teacher.num_classes} classes but the student "
                    f"{student.num_classes}; every teacher must share the student's label set"
                )

    def forward(self, teachers: Sequence[Responses], student: Responses) -> Dict[str, Tensor]:
        """The ensemble's losses: ``{"loss": total, "<term>": value, ...}``.

        Parameters
        ----------
        teachers : sequence of Responses
            One per teacher, all of the student's batch.
        student : Responses
            The student's responses.
        """
        self._check(teachers, student)
        if self.mode == "average_logits":
            return dict(self.distillers[0](average_responses(teachers), student))
        outputs = []
        for k, teacher in enumerate(teachers):
            outputs.append(self._for(k)(teacher, student))
        keys = [key for key in outputs[0] if all(key in out for out in outputs)]
        result = {key: torch.stack([out[key] for out in outputs]).mean(0) for key in keys}
        result.update({f"teacher{k}": out["loss"] for k, out in enumerate(outputs)})
        return result


def ensemble_kd(
    temperature: float = 3.0, kd_weight: float = 0.4, ce_weight: float = 0.6
) -> EnsembleDistiller:
    r"""The reference ensemble KD loss: per teacher CE and KD, averaged over teachers.

    .. math::
        \mathcal{L} = \frac1T \sum_{k=1}^{T} \Big[0.6\,\mathrm{CE}(z_s, y)
            + 0.4\,\tau^2\,\mathrm{KL}\big(\mathrm{softmax}(z_{t_k}/\tau)\,\|\,
            \mathrm{softmax}(z_s/\tau)\big)\Big], \qquad \tau = 3

    The cross-entropy is the same for every teacher, so the returned distiller holds
    ``ce_weight = 0.6`` for the trainer and its ``"loss"`` is the averaged KD part.

    Parameters
    ----------
    temperature : float, default 3
        :math:`\tau`.
    kd_weight, ce_weight : float, default 0.4, 0.6
        Weights of the KD and cross-entropy terms of each teacher's loss.

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> ensemble = ensemble_kd()
    >>> z = torch.randn(4, 10)
    >>> out = ensemble([Responses(z), Responses(z)], Responses(z))
    >>> ensemble.ce_weight, round(float(out["loss"]), 6)
    (0.6, 0.0)
    """
    kd = create_method("kd", temperature=temperature, weight=kd_weight, ce_weight=ce_weight)
    return EnsembleDistiller(kd, mode="per_teacher")
