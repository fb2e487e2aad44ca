"""The registry of distillation methods (presets) by name.

A method is a factory returning a :class:`~graphkd.distill.Distiller` (whose forward
takes the teacher's and the student's :class:`~graphkd.Responses` and returns
``{"loss": ...}``), registered by name with :data:`METHODS`::

    from graphkd.distill import METHODS

    @METHODS.register("my_method")
    def my_method(weight: float = 1.0) -> Distiller:
        ...

It is then one of :func:`list_methods`, built by :func:`create_method` and trained by
the trainer and the command (``graphkd distill --method my_method --import my_module``).
A factory can also be named without registering it, as ``"module:factory"``
(``graphkd distill --method my_module:my_method``); :func:`import_method` imports it.
Options are checked against the factory's signature: an unknown option raises, listing
the valid ones, and a value of the wrong type is converted (an ``int`` for a ``float``)
or refused, by the parameter's annotation or default.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import typing
from typing import Any, Callable, Dict, List

import graphkd.distill.presets  # noqa: F401  (registers the shipped methods)
from graphkd.distill.base import Distiller
from graphkd.distill.method_registry import METHODS
from graphkd.distill.module_distiller import as_distiller


def create_method(name: str, **options: Any) -> Distiller:
    """A ready distiller for the method ``name`` with its papers' defaults.

    Parameters
    ----------
    name : str
        One of :func:`list_methods`, or ``"module:factory"`` (see :func:`import_method`).
    **options
        The preset's keyword options (see its docstring).

    Raises
    ------
    ValueError
        An unknown name or option (the message lists the valid ones), or an option of
        the wrong type.

    Example
    -------
    >>> import graphkd
    >>> distiller = graphkd.create_method("rkd")
    >>> [t.name for t in distiller.terms]
    ['distance', 'angle']
    >>> graphkd.create_method("kd", alpha=0.5)
    Traceback (most recent call last):
        ...
    ValueError: method 'kd' has no option 'alpha'; its options: temperature, weight, ce_weight
    """
    factory = _factory(name)
    return as_distiller(factory(**check_method_options(name, options)), name)


def check_method_options(name: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """``options`` checked against method ``name``'s factory, values converted to the types
    its parameters declare (``int`` -> ``float``).

    Raises
    ------
    ValueError
        An option the factory does not take (the message lists those it takes), or a
        value that is not of the declared type (``bool``, ``int``, ``float``, ``str``,
        optionally ``None``; other annotations are not checked).

    Example
    -------
    >>> check_method_options("kd", {"temperature": 2})
    {'temperature': 2.0}
    >>> check_method_options("kd", {"temperature": "hot"})
    Traceback (most recent call last):
        ...
    ValueError: option 'temperature' of method 'kd' must be a float like 4.0, got 'hot'
    """
    factory = _factory(name)
    parameters = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    hints = _type_hints(factory)
    checked = {}
    for key, value in options.items():
        if key not in parameters:
            if takes_any:
                checked[key] = value
                continue
            valid = ", ".join(parameters)
            raise ValueError(f"method {name!r} has no option {key!r}; its options: {valid}")
        default = parameters[key].default
        checked[key] = _converted(name, key, value, hints.get(key), default)
    return checked


def import_method(spec: str) -> str:
    """Register the factory ``"module:attribute"`` (imported from ``module``) under that
    name, and return it; a name without ``":"`` is returned as it is.

    The current directory is searched first, as ``python -m`` does.

    Raises
    ------
    ValueError
        The module cannot be imported or has no such callable.
    """
    if ":" not in spec or spec in METHODS:
        return spec
    module_name, _, attribute = spec.partition(":")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"method {spec!r}: cannot import {module_name!r} ({error}); run from the folder "
            "holding it or add that folder to PYTHONPATH"
        ) from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ValueError(f"method {spec!r}: module {module_name!r} has no function {attribute!r}")
    if spec not in METHODS:  # importing the module may have registered it already
        METHODS.register(spec)(factory)
    return spec


def method_arguments(name: str, available: Dict[str, Any]) -> Dict[str, Any]:
    """The entries of ``available`` that method ``name``'s factory takes as keywords.

    The trainer offers what it knows (dataset size, class count, labels, embedding widths,
    feature channels) and each preset declares in its signature what it needs.

    Example
    -------
    >>> method_arguments("rkd", {"num_classes": 10, "feature": None})
    {'feature': None}
    """
    parameters = inspect.signature(_factory(name)).parameters
    return {key: value for key, value in available.items() if key in parameters}


def list_methods() -> List[str]:
    """The registered method names, sorted."""
    return METHODS.names()


def _factory(name: str) -> Callable[..., Any]:
    return METHODS.get(import_method(name))


def _type_hints(factory: Callable[..., Any]) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(factory)
    except Exception:  # annotations this Python cannot evaluate: fall back to defaults
        return {}


_SCALARS = (bool, int, float, str)


def _converted(method: str, key: str, value: Any, hint: Any, default: Any) -> Any:
    """``value`` as the scalar type ``hint`` declares (the default's type when the
    parameter has no annotation); other annotations are not checked."""
    if hint is None:
        kind = type(default) if type(default) in _SCALARS else None
        optional = default is None
    else:
        members = [hint]
        if typing.get_origin(hint) is typing.Union:
            members = [m for m in typing.get_args(hint) if m is not type(None)]
        optional = len(members) < len(typing.get_args(hint) or [hint])
        kind = members[0] if len(members) == 1 and members[0] in _SCALARS else None
    if kind is None or (value is None and optional):
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    like = f" like {default!r}" if isinstance(default, kind) else ""
    article = "an" if kind.__name__[0] in "aeiou" else "a"
    raise ValueError(
        f"option {key!r} of method {method!r} must be {article} {kind.__name__}{like}, "
        f"got {value!r}"
    )
