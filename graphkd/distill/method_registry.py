"""The registry of distillation methods by name (see :mod:`graphkd.distill.methods`).

Presets register themselves here when :mod:`graphkd.distill.presets` is imported; this
module imports none of them, so a preset's import of :data:`METHODS` closes no cycle.
"""

import functools
import inspect
import typing
from typing import Any, Callable, Dict, List, Tuple, TypeVar

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


def preset(cls: type, **defaults: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make the decorated function, which holds the method's documentation, the factory
    of ``cls``: called with ``cls``'s constructor options (``defaults`` replacing the
    constructor's own), it returns ``cls(...)``.

    A method's options are so written once, on its distiller class; the factory's
    signature, which the option checks, :func:`~graphkd.distill.methods.method_arguments`
    and the API pages read, is the constructor's (see :func:`constructor_options`: a
    constructor ending in ``**options`` passes on its base class's keyword-only options).

    Raises
    ------
    TypeError
        A name in ``defaults`` that the constructor does not take.

    Example
    -------
    >>> class Scaled:
    ...     def __init__(self, factor: float = 1.0, offset: float = 0.0):
    ...         self.factor, self.offset = factor, offset
    >>> @preset(Scaled, factor=2.0)
    ... def doubled():
    ...     "A Scaled of factor 2."
    >>> [(p.name, p.default) for p in inspect.signature(doubled).parameters.values()]
    [('factor', 2.0), ('offset', 0.0)]
    >>> doubled().factor, doubled(3.0).factor, doubled(offset=1.0).offset, doubled.__doc__
    (2.0, 3.0, 1.0, 'A Scaled of factor 2.')
    """
    parameters, hints = constructor_options(cls)
    unknown = sorted(set(defaults) - {p.name for p in parameters})
    if unknown:
        raise TypeError(f"{cls.__name__} takes no option {', '.join(unknown)}")
    signature = inspect.Signature(
        [p.replace(default=defaults.get(p.name, p.default)) for p in parameters],
        return_annotation=cls,
    )

    def decorate(documentation: Callable[..., Any]) -> Callable[..., Any]:
        def factory(*args: Any, **options: Any) -> Any:
            bound = signature.bind(*args, **options)
            bound.apply_defaults()
            return cls(*bound.args, **bound.kwargs)

        functools.update_wrapper(factory, documentation, updated=())
        del factory.__wrapped__  # type: ignore[attr-defined]
        factory.__signature__ = signature  # type: ignore[attr-defined]
        factory.__annotations__ = {**hints, "return": cls}
        return factory

    return decorate


def constructor_options(cls: type) -> Tuple[List[inspect.Parameter], Dict[str, Any]]:
    """The options ``cls(...)`` takes, with their evaluated annotations, and those
    annotations by name.

    A constructor whose last parameter is ``**options`` passes them on to its base
    class's constructor (the next ``__init__`` along the method resolution order): they
    stand for that constructor's keyword-only options (recursively), after the class's
    own. Options shared by a family of methods (e.g. the stage pairing of
    :class:`~graphkd.distill.stage_pairs.StagePairDistiller`) are so written once, on
    the base.

    Example
    -------
    >>> class Base:
    ...     def __init__(self, name: str, *, weight: float = 1.0, check: bool = True): ...
    >>> class Child(Base):
    ...     def __init__(self, power: float = 2.0, **options: Any):
    ...         super().__init__("child", **options)
    >>> [(p.name, p.annotation) for p in constructor_options(Child)[0]]
    [('power', <class 'float'>), ('weight', <class 'float'>), ('check', <class 'bool'>)]
    """
    init = cls.__init__  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # annotations this Python cannot evaluate: the checks use defaults
        hints = {}
    parameters = list(inspect.signature(init).parameters.values())[1:]  # without self
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
        base = next(b for b in cls.__mro__[1:] if "__init__" in vars(b))
        own = {p.name for p in parameters}
        inherited, base_hints = constructor_options(base)
        parameters = parameters[:-1] + [
            p for p in inherited if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in own
        ]
        hints = {**base_hints, **hints}
    hints.pop("return", None)
    return [p.replace(annotation=hints.get(p.name, p.annotation)) for p in parameters], hints
