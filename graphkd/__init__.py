"""graphkd: graph-based knowledge distillation on DGL and PyTorch."""

from graphkd._version import __version__
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses

__all__ = ["KnowledgeGraph", "Responses", "__version__"]
