"""The one dispatcher of graphkd: which implementation a graph computation runs.

Every graph kernel of :mod:`graphkd.ops` is a :class:`Kernel`, a name and three
implementations that hold only math: ``"dense"`` (broadcasts and matrix products over a
graph whose edges form one full block, :mod:`graphkd.ops.dense_block`), ``"dgl"`` (DGL's
sparse kernels on the graph's topology) and ``"torch"`` (``index_select`` /
``index_add``, for devices the installed DGL cannot hold graphs on). A method's loss on
a complete (bipartite) graph may also have an exact dense form in Gram-matrix entries,
a :class:`~graphkd.ops.gram.GramRewrite`, whose dense implementation is that rewrite and
whose other one builds the graph. :func:`select` alone decides between them:

==============  ==============================  =======================================
backend         the graph is one full block     any other graph
==============  ==============================  =======================================
``"auto"``      ``"dense"``                     ``"dgl"`` where the installed DGL holds
                                                graphs on the tensors' device, else
                                                ``"torch"``
``"dgl"``       ``"dgl"``                       ``"dgl"`` (an error where DGL cannot
                                                hold the graph)
``"torch"``     ``"torch"``                     ``"torch"``
==============  ==============================  =======================================

All implementations of one kernel give the same values and gradients (tested), so the
backend changes speed and memory, never a result.

Example
-------
>>> import torch
>>> from graphkd import ops
>>> from graphkd.graphs import complete_graph
>>> ops.KERNELS["edge_dot"].implementation(complete_graph(4), torch.device("cpu"))
'dense'
>>> with ops.use_backend("dgl"):
...     ops.KERNELS["edge_dot"].implementation(complete_graph(4), torch.device("cpu"))
'dgl'
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List

import torch

from graphkd._dgl import dgl, dgl_supports

if TYPE_CHECKING:
    from graphkd.knowledge_graph import KnowledgeGraph

BACKENDS = ("auto", "dgl", "torch")
#: The implementations every kernel has, in the order :func:`select` prefers them.
IMPLEMENTATIONS = ("dense", "dgl", "torch")
_state = {"backend": "auto"}


def current_backend() -> str:
    """The backend in force: ``"auto"``, ``"dgl"`` or ``"torch"``."""
    return _state["backend"]


def set_backend(name: str) -> None:
    """Choose the kernel backend for the whole process.

    Parameters
    ----------
    name : str
        ``"auto"`` (default: the dense implementation on graphs whose edges form one
        full block, see :mod:`graphkd.ops.dense_block`, and the Gram rewrites of RKD,
        VRM and NST; otherwise DGL where it can hold the graph, else PyTorch), ``"dgl"`` or
        ``"torch"`` (always that implementation: every method then builds its graph and
        runs its graph kernels there).
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown ops backend {name!r}; choose one of {', '.join(BACKENDS)}")
    _state["backend"] = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager form of :func:`set_backend`, restoring the previous choice."""
    previous = current_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def select(device: torch.device, block: bool) -> str:
    """The implementation a graph computation runs under the current backend.

    Parameters
    ----------
    device : torch.device
        Where the computation's tensors live.
    block : bool
        Whether the computation's graph is one full block (complete or complete
        bipartite, :attr:`KnowledgeGraph.block`).

    Returns
    -------
    str
        ``"dense"``, ``"dgl"`` or ``"torch"``, by the table of :mod:`graphkd.ops.backend`.
    """
    backend = current_backend()
    if backend == "auto" and block:
        return "dense"
    if backend == "torch":
        return "torch"
    supported = dgl_supports(device)
    if backend == "dgl" and not supported:
        raise ValueError(
            f"the ops backend is 'dgl' but the installed DGL cannot hold graphs on {device}; "
            "call graphkd.ops.set_backend('auto') to fall back to the PyTorch kernels"
        )
    return "dgl" if supported else "torch"


def uses_dense_block(graph: KnowledgeGraph) -> bool:
    """Whether computations on ``graph`` take the dense implementation (:func:`select`)."""
    return graph.block is not None and select(graph.device, block=True) == "dense"


def use_dgl_kernels(device: torch.device) -> bool:
    """Whether a computation on a graph that is not one block, on ``device``, runs
    through DGL (:func:`select`)."""
    return select(device, block=False) == "dgl"


KERNELS: Dict[str, Kernel] = {}


class Kernel:
    """A graph kernel by name, with one implementation per choice of :func:`select`.

    Each implementation takes ``(graph, *tensors, **options)``; the first tensor's device
    and ``graph.block`` decide which one runs. Creating a kernel registers it in
    :data:`KERNELS` (a name is taken once).

    Parameters
    ----------
    name : str
        The kernel's name (the public function's).
    dense, dgl, torch : callable
        The implementations on one full block, through DGL, and in PyTorch. An
        implementation composed of other kernels may serve as ``dgl`` and ``torch``
        both: its parts dispatch themselves.
    """

    def __init__(
        self,
        name: str,
        dense: Callable[..., Any],
        dgl: Callable[..., Any],
        torch: Callable[..., Any],
    ) -> None:
        if name in KERNELS:
            raise ValueError(f"a graph kernel named {name!r} is already registered")
        self.name = name
        self.implementations = dict(zip(IMPLEMENTATIONS, (dense, dgl, torch)))
        KERNELS[name] = self

    def implementation(self, graph: KnowledgeGraph, device: torch.device) -> str:
        """The implementation that runs on ``graph`` with tensors on ``device``."""
        return select(device, graph.block is not None)

    def __call__(self, graph: KnowledgeGraph, *tensors: torch.Tensor, **options: Any) -> Any:
        chosen = self.implementation(graph, tensors[0].device)
        return self.implementations[chosen](graph, *tensors, **options)

    def __repr__(self) -> str:
        return f"Kernel({self.name!r})"


def dgl_kernel(name: str) -> Callable[..., Any]:
    """``dgl.ops.<name>`` on a graph's DGL topology, as an implementation
    ``(graph, *tensors) -> Tensor`` (DGL is imported on the first call)."""

    def through_dgl(graph: KnowledgeGraph, *tensors: torch.Tensor) -> Any:
        return getattr(dgl.ops, name)(graph.topology, *tensors)

    return through_dgl


def list_kernels() -> List[str]:
    """The names of the registered graph kernels, sorted."""
    return sorted(KERNELS)
