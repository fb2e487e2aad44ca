"""The metric registry: every metric class registers itself here under its name."""

from __future__ import annotations

import inspect
from typing import Any, List

from graphkd.metrics.metric import Metric
from graphkd.registry import Registry

METRICS = Registry("metric")


def create_metric(name: str, **options: Any) -> Metric:
    """Build the metric registered under ``name`` with ``options``.

    Parameters
    ----------
    name : str
        One of :func:`list_metrics`.
    **options
        Keyword arguments of the metric's constructor.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid names) or an option the metric
        does not take (the message lists the options it does take).

    Example
    -------
    >>> import torch
    >>> metric = create_metric("mse", reduction="sum")
    >>> float(metric(torch.zeros(2, 3), torch.ones(2, 3)))
    6.0
    """
    factory = METRICS.get(name)
    signature = inspect.signature(factory)
    try:
        signature.bind(**options)
    except TypeError as error:
        valid = ", ".join(signature.parameters)
        raise ValueError(
            f"metric {name!r} does not take the options {sorted(options)} ({error}); "
            f"valid options: {valid}"
        ) from None
    return factory(**options)


def list_metrics() -> List[str]:
    """The names of all registered metrics, sorted.

    Example
    -------
    >>> "kl" in list_metrics()
    True
    """
    return METRICS.names()
