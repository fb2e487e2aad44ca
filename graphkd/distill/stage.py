"""One stage of a multi-stage distillation schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class Stage:
    """A stage of training, as a method's ``stages()`` lists them.

    Parameters
    ----------
    name : str
        The stage's name, e.g. ``"attention"`` or ``"transfer"``.
    epochs : int, optional
        How many epochs the stage lasts; ``None`` for the rest of the schedule.
    trains : str
        ``"distiller"``: only the distiller's parameters train (student untouched,
        teacher frozen) on ``distiller.stage_loss(name, teacher_responses)``;
        ``"student"``: normal distillation of the student.

    Example
    -------
    >>> Stage("attention", 40, "distiller")
    Stage(name='attention', epochs=40, trains='distiller')
    """

    name: str
    epochs: Optional[int]
    trains: str


#: The one stage of methods that declare no other: distil the student.
STUDENT_STAGE = Stage("distill", None, "student")
