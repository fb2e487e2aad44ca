"""The registry of distillation methods (presets) by name."""

from __future__ import annotations

from typing import Any, List

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


def list_methods() -> List[str]:
    """The registered method names, sorted."""
    import graphkd.distill.presets  # noqa: F401

    return METHODS.names()
