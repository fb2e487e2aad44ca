"""The registry of distillation methods by name (see :mod:`graphkd.distill.methods`).

Presets register themselves here when :mod:`graphkd.distill.presets` is imported; this
module imports none of them, so a preset's import of :data:`METHODS` closes no cycle.
"""

from typing import Any, Callable, TypeVar

from graphkd.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])

#: Method factories by name: ``@METHODS.register("name")`` on a function returning a
#: :class:`~graphkd.distill.Distiller`.
METHODS = Registry("method")


def written_for(epochs: int) -> Callable[[F], F]:
    """Mark a method factory whose ``*_epochs`` options count epochs of the student's own
    schedule (a loss warm-up, an initialisation phase) and whose defaults are the
    reference's for a schedule of ``epochs`` epochs (e.g. DKD's 20-epoch warm-up of 240).

    :func:`~graphkd.engine.run_checks.scaled_epoch_options` scales such defaults to
    another schedule, and the trainer warns when one outlasts the schedule it runs.

    Example
    -------
    >>> @written_for(240)
    ... def method(warmup_epochs: int = 20): ...
    >>> method.reference_epochs
    240
    """

    def mark(factory: F) -> F:
        factory.reference_epochs = epochs  # type: ignore[attr-defined]
        return factory

    return mark


def measured_short(epochs: int, note: str) -> Callable[[F], F]:
    """Mark a method factory that the project's benchmark measured below its baseline on
    schedules shorter than ``epochs`` epochs; a run that short prints ``note`` (what was
    measured and what to use instead) before training.

    Example
    -------
    >>> @measured_short(30, "trails cross-entropy below 30 epochs")
    ... def method(): ...
    >>> method.short_schedule
    (30, 'trails cross-entropy below 30 epochs')
    """

    def mark(factory: F) -> F:
        factory.short_schedule = (epochs, note)  # type: ignore[attr-defined]
        return factory

    return mark
