"""The graph-matching distiller, match terms and the method presets."""

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.methods import METHODS, create_method, list_methods

__all__ = ["METHODS", "GraphMatchingDistiller", "MatchTerm", "create_method", "list_methods"]
