"""One comparison between a field of the teacher graph and the same field of the student's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Union

from graphkd.metrics import Metric

ON = ("nodes", "edges")


@dataclass
class MatchTerm:
    """A weighted metric between teacher and student graph fields.

    Parameters
    ----------
    name : str
        Key of the term's value in the distiller's output dict.
    field : str
        The node or edge field compared (``ndata[field]`` / ``edata[field]``).
    on : str
        ``"nodes"`` or ``"edges"``. Edge terms need both graphs to share their edges.
    metric : str or Metric
        A name from :func:`graphkd.metrics.list_metrics` or a :class:`Metric` instance.
    weight : float
        Multiplies the term in the total loss.
    mask : str, optional
        A bool field of the *student* graph (same ``on``) selecting the nodes or edges
        compared, e.g. the edges that survived pruning.
    options : dict
        Keyword options for the metric when ``metric`` is a name.

    Example
    -------
    >>> MatchTerm("distance", field="distance", on="edges", metric="smooth_l1", weight=25.0)
    MatchTerm(name='distance', field='distance', on='edges', metric='smooth_l1', weight=25.0, mask=None, options={})
    """

    name: str
    field: str
    on: str = "nodes"
    metric: Union[str, Metric] = "mse"
    weight: float = 1.0
    mask: Optional[str] = None
    options: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.on not in ON:
            raise ValueError(f"term {self.name!r}: on must be 'nodes' or 'edges', got {self.on!r}")
        if self.name == "loss":
            raise ValueError("a term may not be named 'loss': that key holds the total")
