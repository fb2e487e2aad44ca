"""The graph-matching distiller, match terms and the method presets."""

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.methods import METHODS, create_method, list_methods, method_arguments
from graphkd.distill.stage import Stage

__all__ = [
    "METHODS",
    "GraphMatchingDistiller",
    "MatchTerm",
    "Stage",
    "create_method",
    "list_methods",
    "method_arguments",
]
