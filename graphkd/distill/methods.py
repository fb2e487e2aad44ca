"""The registry of distillation methods (presets) by name."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List

from torch import nn

from graphkd.registry import Registry

METHODS = Registry("method")


def create_method(name: str, **options: Any) -> nn.Module:
    """A ready distiller for the method ``name`` with its papers' defaults.

    Parameters
    ----------
    name : str
        One of :func:`list_methods`.
    **options
        The preset's keyword options (see its docstring).

    Example
    -------
    >>> import graphkd
    >>> distiller = graphkd.create_method("rkd")
    >>> [t.name for t in distiller.terms]
    ['distance', 'angle']
    """
    import graphkd.distill.presets  # noqa: F401  (registers the presets)

    return METHODS.create(name, **options)


def method_arguments(name: str, available: Dict[str, Any]) -> Dict[str, Any]:
    """The entries of ``available`` that method ``name``'s factory takes as keywords.

    The trainer offers what it knows (dataset size, class count, labels, embedding widths,
    feature channels) and each preset declares in its signature what it needs.

    Example
    -------
    >>> method_arguments("rkd", {"num_classes": 10, "feature": None})
    {'feature': None}
    """
    import graphkd.distill.presets  # noqa: F401

    parameters = inspect.signature(METHODS.get(name)).parameters
    return {key: value for key, value in available.items() if key in parameters}


def list_methods() -> List[str]:
    """The registered method names, sorted."""
    import graphkd.distill.presets  # noqa: F401

    return METHODS.names()
