r"""Gram rewrites: losses on complete graphs computed exactly from Gram-matrix entries.

A loss whose graph is complete (RKD's samples) or complete bipartite (VRM's real ->
virtual views) reads every pair of nodes, so its edge features, differences
:math:`x_i - y_j` and their lengths, follow from the inner products of the endpoints:

.. math::
    \|x_i - y_j\|^2 = \|x_i\|^2 + \|y_j\|^2 - 2\,(X Y^\top)_{ij}

Computing from these ``N x M`` matrices needs no ``N x M x D`` edge tensor. A
:class:`GramRewrite` names such a rewrite and its explicit counterpart (the graph built
and compared edge by edge); the dispatcher chooses between them by the rule of every
graph kernel (:func:`graphkd.ops.backend.select` on a full block): the rewrite under the
``"auto"`` backend, the explicit graph under ``"dgl"`` and ``"torch"``, whose kernels then
run on that backend. Both are tested equal in value and gradient.

The expansion loses precision for nearly coincident endpoints. One rule, shared by
every rewrite, decides when a difference counts as zero-length (with zero gradient, as
the explicit features of coincident endpoints are):

.. math::
    \|x_i - y_j\|^2 \le c \sqrt{D}\, \epsilon_{\mathrm{dtype}} \big(\|x_i\|^2 + \|y_j\|^2\big),
    \qquad c = 16

(:data:`COINCIDENCE_FACTOR`): below that size the expansion's rounding error dominates.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Tuple

import torch
from torch import Tensor

from graphkd.ops.backend import select

#: ``c`` of the coincidence rule (see the module docstring).
COINCIDENCE_FACTOR = 16.0
#: The values of a method's ``path`` option: ``"auto"`` (the method's default),
#: ``"gram"`` (the rewrite wherever the dispatcher picks dense implementations) and
#: ``"explicit"`` (always the graph).
PATHS = ("auto", "gram", "explicit")


def coincidence_tolerance(width: int, dtype: torch.dtype) -> float:
    r"""``c sqrt(D) eps_dtype``: the relative squared length below which a difference of
    ``D``-dimensional rows counts as zero."""
    return COINCIDENCE_FACTOR * math.sqrt(width) * torch.finfo(dtype).eps


def squared_distances(
    cross: Tensor, src_squares: Tensor, dst_squares: Tensor, tolerance: float
) -> Tuple[Tensor, Tensor]:
    r"""Squared lengths of all differences from Gram entries, and which are non-zero.

    .. math::
        q_{ij} = \|x_i\|^2 + \|y_j\|^2 - 2\,(X Y^\top)_{ij}, \qquad
        a_{ij} = \big[q_{ij} > \tau\,(\|x_i\|^2 + \|y_j\|^2)\big]

    Parameters
    ----------
    cross : Tensor
        ``(N, M)`` inner products :math:`X Y^\top`.
    src_squares, dst_squares : Tensor
        ``(N,)`` and ``(M,)`` squared norms of the rows of :math:`X` and :math:`Y`.
    tolerance : float
        :math:`\tau`, from :func:`coincidence_tolerance`.

    Returns
    -------
    tuple of Tensor
        ``(N, M)`` :math:`q` and the ``(N, M)`` bool mask :math:`a` of the differences
        that do not count as zero.

    Example
    -------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    >>> squares = x.square().sum(1)
    >>> squared, apart = squared_distances(x @ x.t(), squares, squares, 1e-12)
    >>> squared.tolist(), apart.tolist()
    ([[0.0, 5.0], [5.0, 0.0]], [[False, True], [True, False]])
    """
    scale = src_squares[:, None] + dst_squares[None, :]
    squared = scale - 2.0 * cross
    return squared, squared > tolerance * scale


def inverse_lengths(squared: Tensor, apart: Tensor, floor: float) -> Tensor:
    """``1 / sqrt(max(q, floor))`` where ``apart``, exactly 0 (with zero gradient) elsewhere."""
    return torch.where(apart, squared.clamp_min(floor).rsqrt(), 0.0)


def check_path(method: str, path: str) -> None:
    """Raise a ``ValueError`` naming the choices when ``path`` is not one of :data:`PATHS`."""
    if path not in PATHS:
        valid = ", ".join(repr(p) for p in PATHS)
        raise ValueError(f"{method}: unknown path {path!r}; use one of {valid}")


#: Every Gram rewrite by name (methods register theirs on import).
GRAM_REWRITES: Dict[str, GramRewrite] = {}


class GramRewrite:
    """A method's loss with two exact computations: from Gram matrices, and on its graph.

    Parameters
    ----------
    name : str
        The method's name (one rewrite per name).
    gram : callable
        The computation from Gram-matrix entries.
    explicit : callable
        The same loss on the built graph, through the graph kernels.

    Calling the rewrite with a method's ``path`` (``"gram"`` or ``"explicit"``), the
    device of its tensors and the arguments of both computations runs the one
    :meth:`implementation` names.
    """

    def __init__(self, name: str, gram: Callable[..., Any], explicit: Callable[..., Any]) -> None:
        if name in GRAM_REWRITES:
            raise ValueError(f"a Gram rewrite named {name!r} is already registered")
        self.name = name
        self.implementations = {"gram": gram, "explicit": explicit}
        GRAM_REWRITES[name] = self

    def implementation(self, path: str, device: torch.device) -> str:
        """``"gram"`` when ``path`` allows the rewrite and the dispatcher picks the dense
        implementation of a full block on ``device`` (backend ``"auto"``), else
        ``"explicit"``."""
        if path not in ("gram", "explicit"):
            raise ValueError(f"{self.name}: path must be 'gram' or 'explicit', got {path!r}")
        if path == "gram" and select(device, block=True) == "dense":
            return "gram"
        return "explicit"

    def __call__(self, path: str, device: torch.device, *args: Any) -> Any:
        return self.implementations[self.implementation(path, device)](*args)

    def __repr__(self) -> str:
        return f"GramRewrite({self.name!r})"
