"""Which implementation the graph kernels use: DGL's, plain PyTorch, or dense blocks.

The PyPI build of DGL holds graphs on the CPU only, while students usually train on a
GPU. Each kernel in :mod:`graphkd.ops` therefore has two implementations with identical
results: DGL's sparse kernels, used when the installed DGL can hold a graph on the
tensors' device, and a PyTorch one (``index_select`` / ``index_add``) used otherwise.

Example
-------
>>> from graphkd import ops
>>> with ops.use_backend("torch"):
...     ops.current_backend()
'torch'
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from graphkd._dgl import dgl_supports

BACKENDS = ("auto", "dgl", "torch")
_state = {"backend": "auto"}


def current_backend() -> str:
    """The backend in force: ``"auto"``, ``"dgl"`` or ``"torch"``."""
    return _state["backend"]


def set_backend(name: str) -> None:
    """Choose the kernel backend for the whole process.

    Parameters
    ----------
    name : str
        ``"auto"`` (default: dense broadcasting on graphs whose edges form one full
        block, see :mod:`graphkd.ops.dense_block`; otherwise DGL where it can hold the
        graph, else PyTorch), ``"dgl"`` or ``"torch"`` (always that implementation).
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


def use_dgl_kernels(device: torch.device) -> bool:
    """Whether kernels on tensors of ``device`` run through DGL under the current backend."""
    backend = current_backend()
    if backend == "torch":
        return False
    supported = dgl_supports(device)
    if backend == "dgl" and not supported:
        raise ValueError(
            f"the ops backend is 'dgl' but the installed DGL cannot hold graphs on {device}; "
            "call graphkd.ops.set_backend('auto') to fall back to the PyTorch kernels"
        )
    return supported
