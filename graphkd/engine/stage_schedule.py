"""Where each stage of a multi-stage method sits among a run's global epochs: the
distiller-only stages first, each its own number of epochs, then the student's stage of
``optim.epochs``."""

from __future__ import annotations

from typing import List

from graphkd.distill import Stage


def stage_length(stage: Stage, epochs: int) -> int:
    """Epochs of ``stage``: its own count, or ``epochs`` (``optim.epochs``) for the
    student's."""
    return int(stage.epochs) if stage.epochs else epochs


def stage_start(stages: List[Stage], name: str) -> int:
    """The global epoch at which stage ``name`` begins."""
    start = 0
    for stage in stages:
        if stage.name == name:
            return start
        start += int(stage.epochs or 0)
    raise ValueError(f"no stage named {name!r}")


def stage_end(stages: List[Stage], name: str) -> int:
    """The global epoch at which stage ``name`` (a distiller-only stage) ends."""
    stage = next(s for s in stages if s.name == name)
    return stage_start(stages, name) + int(stage.epochs or 0)


def stage_at(stages: List[Stage], epoch: int) -> Stage:
    """The stage that global epoch ``epoch`` (0-based) belongs to."""
    for stage in stages[:-1]:
        if epoch < stage_end(stages, stage.name):
            return stage
    return stages[-1]
