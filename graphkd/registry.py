"""Name -> factory registries with decorator registration.

One :class:`Registry` per kind of thing (methods, metrics, models, datasets). Names are
unique: registering a name twice raises. Unknown names raise a ``ValueError`` that
lists the valid ones.

Example
-------
>>> from graphkd.registry import Registry
>>> colours = Registry("colour")
>>> @colours.register("red")
... def make_red():
...     return (255, 0, 0)
>>> colours.create("red")
(255, 0, 0)
>>> colours.names()
['red']
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, Iterable, List, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    """A named collection of factories.

    Parameters
    ----------
    kind : str
        What the registry holds, used in error messages ("method", "metric", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: Dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator registering ``factory`` under ``name``; raises on duplicates."""

        def decorator(factory: F) -> F:
            if name in self._factories:
                raise ValueError(f"a {self.kind} named {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> List[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered under ``name``."""
        try:
            return self._factories[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise ValueError(
                f"unknown {self.kind} {name!r}; valid names: {valid}"
                + did_you_mean(name, self.names())
            ) from None

    def create(self, name: str, **options: Any) -> Any:
        """Call the factory registered under ``name`` with ``options``."""
        return self.get(name)(**options)

    def __contains__(self, name: object) -> bool:
        return name in self._factories


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the valid name closest to a misspelt ``name``, or
    ``""`` when none is close.

    Example
    -------
    >>> did_you_mean("rdk", ["kd", "rkd", "vrm"])
    "; did you mean 'rkd'?"
    >>> did_you_mean("zzz", ["kd", "rkd"])
    ''
    """
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
