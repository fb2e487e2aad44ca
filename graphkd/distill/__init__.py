"""The distiller contract, the graph-matching distiller, match terms and the method presets."""

from graphkd.distill.base import Distiller, GradientStep
from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.ensemble import EnsembleDistiller, average_responses, ensemble_kd
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.memory_bank import MemoryBank
from graphkd.distill.method_registry import preset
from graphkd.distill.methods import (
    METHODS,
    check_method_options,
    create_method,
    import_method,
    list_methods,
    method_arguments,
)
from graphkd.distill.module_distiller import ModuleDistiller, as_distiller
from graphkd.distill.stage import Stage

__all__ = [
    "METHODS",
    "Distiller",
    "EnsembleDistiller",
    "GradientStep",
    "GraphMatchingDistiller",
    "MatchTerm",
    "MemoryBank",
    "ModuleDistiller",
    "Stage",
    "as_distiller",
    "average_responses",
    "check_method_options",
    "create_method",
    "ensemble_kd",
    "import_method",
    "list_methods",
    "method_arguments",
    "preset",
]
