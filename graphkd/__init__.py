"""graphkd: graph-based knowledge distillation on DGL and PyTorch.

Importing ``graphkd`` is light: it checks that DGL is installed (PyTorch and DGL load on
first use: ``graphkd.dgl``, or a plain ``import dgl``, which works after ``import graphkd``
on every supported torch); the names below are imported on first use, so that the
``graphkd`` command answers ``--help`` without loading the whole library.
"""

from typing import TYPE_CHECKING, Any, List

import graphkd._dgl  # noqa: F401  (DGL usable on the running torch, or a clear error)
from graphkd._dgl import dgl
from graphkd._version import __version__

if TYPE_CHECKING:
    from graphkd.distill import GraphMatchingDistiller, MatchTerm, create_method, list_methods
    from graphkd.engine.seed import seed_everything
    from graphkd.knowledge_graph import KnowledgeGraph
    from graphkd.responses import Responses

_HOMES = {
    "GraphMatchingDistiller": "graphkd.distill",
    "KnowledgeGraph": "graphkd.knowledge_graph",
    "MatchTerm": "graphkd.distill",
    "Responses": "graphkd.responses",
    "create_method": "graphkd.distill",
    "list_methods": "graphkd.distill",
    "seed_everything": "graphkd.engine.seed",
}

__all__ = [
    "GraphMatchingDistiller",
    "KnowledgeGraph",
    "MatchTerm",
    "Responses",
    "__version__",
    "create_method",
    "dgl",
    "list_methods",
    "seed_everything",
]


_SUBPACKAGES = (
    "analysis",
    "data",
    "distill",
    "engine",
    "graphs",
    "metrics",
    "models",
    "ops",
    "registry",
    "responses",
    "knowledge_graph",
)


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBPACKAGES:  # graphkd.models.tap etc. after a bare `import graphkd`
        return importlib.import_module(f"graphkd.{name}")
    if name not in _HOMES:
        raise AttributeError(f"module 'graphkd' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *_HOMES, *_SUBPACKAGES})
