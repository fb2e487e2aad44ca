"""The one place graphkd imports DGL, made usable on the running PyTorch.

DGL 2.1 ships its ``graphbolt`` sampling add-on as native libraries built for torch
2.0-2.2.1 only, and ``import dgl`` loads it eagerly (through ``dgl.distributed``), so
the import fails on any newer torch. graphbolt also needs ``torchdata.datapipes``, which
torchdata 0.10 removed. graphkd never uses graphbolt: when its native library for the
running torch is missing, or torchdata cannot serve it, a placeholder module takes its
place, and touching it raises an error that says why. Everything graphkd uses from DGL
(graph construction and batching, ``dgl.knn_graph``, ``dgl.ops``, ``update_all`` with
built-in functions, ``dgl.nn.TAGConv``, ``dgl.seed``) lives in DGL's core library, which
works on every torch >= 2.2 through DLPack.

Every other graphkd module imports DGL from here::

    from graphkd._dgl import dgl

and a user's own code may write ``from graphkd import dgl`` (the same object, the public
name) or simply ``import dgl`` after ``import graphkd``: importing graphkd installs an
import hook (:class:`DGLImportHook`, on :data:`sys.meta_path`) that puts the graphbolt
placeholder in place just before DGL's own import runs, whoever asks for it. A plain
``import dgl`` *before* ``import graphkd`` gets DGL's own behaviour (on a torch without a
graphbolt library: its error).

``dgl`` is a stand-in that imports DGL on first use (the first attribute read, such as
``dgl.graph`` when a graph's topology or a DGL kernel is first needed) and then serves
DGL's attributes. ``import graphkd`` therefore stays light: DGL, its dependencies (pandas
among them) and their memory load only when a DGL graph is actually needed; dense
kernels on complete graphs never need one. Whether DGL is installed at all is still
checked at ``import graphkd``, without importing it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
import types
from importlib import metadata
from typing import TYPE_CHECKING, Dict, Optional, Sequence

if TYPE_CHECKING:
    import torch

_INSTALL_HINT = (
    "install a supported stack (README, 'Support matrix'): with torch >= 2.3, "
    "`pip install dgl==2.1.0 packaging pandas pyyaml pydantic`; with torch 2.2.1, "
    "`pip install dgl==2.1.0 torchdata==0.7.1 'numpy<2' 'pandas<3' packaging pyyaml pydantic`"
)


def _version(distribution: str) -> Optional[str]:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def torch_release() -> str:
    """The running torch version without its local build tag, e.g. ``"2.14.1"``."""
    import torch

    return torch.__version__.split("+", maxsplit=1)[0]


def _dgl_package_dir() -> str:
    """The installed ``dgl`` package folder, found without importing DGL."""
    spec = importlib.util.find_spec("dgl")
    if spec is None or not spec.submodule_search_locations:
        import torch

        raise ImportError(
            f"graphkd needs DGL, which is not installed (torch {torch.__version__}); "
            + _INSTALL_HINT
        )
    return list(spec.submodule_search_locations)[0]


def graphbolt_problem(package_dir: str) -> Optional[str]:
    """Why DGL's graphbolt add-on cannot load here, or ``None`` when it can.

    Parameters
    ----------
    package_dir : str
        The installed ``dgl`` package folder.
    """
    if not sys.platform.startswith("linux"):
        return None
    library = os.path.join(package_dir, "graphbolt", f"libgraphbolt_pytorch_{torch_release()}.so")
    if not os.path.exists(library):
        return f"DGL ships no graphbolt library for torch {torch_release()} ({library} is missing)"
    if importlib.util.find_spec("torchdata") is None:
        return "torchdata is not installed"
    try:
        importlib.import_module("torchdata.datapipes")
    except Exception as error:  # torchdata too new (no datapipes) or built for another torch
        return (
            f"torchdata {_version('torchdata')} cannot serve it with torch {torch_release()} "
            f"({type(error).__name__}: {error}); graphbolt needs the torchdata release "
            "matching torch, below 0.10"
        )
    return None


class _UnavailableModule(types.ModuleType):
    """Stands in for a DGL add-on that cannot load; any attribute access explains why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self.__file__ = None
        self._reason = reason

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise ImportError(
            f"{self.__name__}.{attribute} is unavailable: {self._reason}. graphkd does not "
            "need it; to use it yourself, install torch 2.2.1 with dgl 2.1.0 and torchdata<0.10"
        )


def _place_graphbolt() -> None:
    """Prepare DGL's import: its backend is PyTorch (``DGLBACKEND``, unless set already,
    so a fresh home gets no "backend not selected" messages and no ``~/.dgl`` file), and
    the graphbolt placeholder is in ``sys.modules`` when DGL's own cannot load."""
    os.environ.setdefault("DGLBACKEND", "pytorch")
    if "dgl.graphbolt" in sys.modules:
        return
    problem = graphbolt_problem(_PACKAGE_DIR)
    if problem is not None:
        sys.modules["dgl.graphbolt"] = _UnavailableModule("dgl.graphbolt", problem)


class DGLImportHook(importlib.abc.MetaPathFinder):
    """Makes any ``import dgl`` after ``import graphkd`` work on the running torch.

    Installed once on :data:`sys.meta_path` by ``import graphkd``. When DGL is about to be
    imported (by graphkd or by a user's ``import dgl``), it puts the graphbolt
    placeholder in place if DGL's graphbolt add-on cannot load, then lets the ordinary
    finders import DGL. It imports nothing itself and finds no module.
    """

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]] = None,
        target: Optional[types.ModuleType] = None,
    ) -> None:
        if fullname == "dgl" and "dgl" not in sys.modules:
            _place_graphbolt()
        return None


def _install_import_hook() -> None:
    if not any(isinstance(finder, DGLImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, DGLImportHook())


def _import_dgl() -> types.ModuleType:
    if "dgl" in sys.modules:
        return sys.modules["dgl"]
    _place_graphbolt()
    try:
        import dgl as module
    except Exception as error:  # any failure inside DGL's import is an environment problem
        for name in [m for m in sys.modules if m == "dgl" or m.startswith("dgl.")]:
            del sys.modules[name]
        import torch

        raise ImportError(
            f"DGL {_version('dgl')} cannot be imported with torch {torch.__version__} "
            f"({type(error).__name__}: {error}); " + _INSTALL_HINT
        ) from error
    return module


class _LazyDGL(types.ModuleType):
    """``dgl``, imported on the first attribute read; afterwards a view of DGL's namespace.

    Public as ``graphkd.dgl``::

        >>> from graphkd import dgl
        >>> dgl.graph(([0, 1], [1, 2])).num_edges()
        2
    """

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # keep introspection (copy, pickle) from importing
        module = _import_dgl()
        self.__dict__.update(vars(module))  # later reads skip this method
        return getattr(module, attribute)


_PACKAGE_DIR = _dgl_package_dir()  # a missing DGL is reported at import time
_install_import_hook()
#: DGL, imported on first use (public as ``graphkd.dgl``).
dgl = _LazyDGL("dgl")
_dgl_devices: Dict[str, bool] = {"cpu": True}


def dgl_supports(device: torch.device) -> bool:
    """Whether the installed DGL can hold a graph on ``device`` (probed once per device)."""
    import torch

    key = str(torch.device(device))
    if key not in _dgl_devices:
        try:
            dgl.graph(([0], [0]), num_nodes=1, device=torch.device(device))
            _dgl_devices[key] = True
        except Exception:  # DGL raises its own error types for unsupported devices
            _dgl_devices[key] = False
    return _dgl_devices[key]


__all__ = ["DGLImportHook", "dgl", "dgl_supports", "graphbolt_problem", "torch_release"]
