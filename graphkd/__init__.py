"""graphkd: graph-based knowledge distillation on DGL and PyTorch."""

from graphkd._version import __version__
from graphkd.distill import GraphMatchingDistiller, MatchTerm, create_method, list_methods
from graphkd.engine.seed import seed_everything
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses

__all__ = [
    "GraphMatchingDistiller",
    "KnowledgeGraph",
    "MatchTerm",
    "Responses",
    "__version__",
    "create_method",
    "list_methods",
    "seed_everything",
]
