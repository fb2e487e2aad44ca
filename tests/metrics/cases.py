"""Inputs shared by the metric tests: seeded node inputs and a tiny graph with heads."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph

# Metrics whose forward takes a graph and then compares edge distributions.
EDGE_METRICS = ("js", "kl")

# A graph of 5 nodes: node 0 has 3 incoming edges, node 1 one, node 2 two, node 3 none
# (isolated as a destination), node 4 two. Edge order is deliberately not sorted by dst.
SRC = [1, 0, 2, 3, 4, 0, 2, 1]
DST = [0, 2, 0, 1, 4, 4, 0, 2]
NUM_NODES = 5
HEADS = 2


def make_graph(
    src: Optional[list] = None, dst: Optional[list] = None, num_nodes: int = NUM_NODES
) -> KnowledgeGraph:
    """The test graph (or another one) as a :class:`KnowledgeGraph`."""
    return KnowledgeGraph(
        torch.tensor(SRC if src is None else src),
        torch.tensor(DST if dst is None else dst),
        num_nodes=num_nodes,
    )


def node_pair(
    seed: int = 0, shape: Tuple[int, ...] = (4, 5), dtype: torch.dtype = torch.float32
) -> Tuple[Tensor, Tensor]:
    """Seeded random student and teacher tensors of ``shape``."""
    generator = torch.Generator().manual_seed(seed)
    student = torch.randn(shape, generator=generator).to(dtype)
    teacher = 2.0 * torch.randn(shape, generator=generator).to(dtype)
    return student, teacher


def edge_pair(
    seed: int = 0, heads: Optional[int] = HEADS, dtype: torch.dtype = torch.float32
) -> Tuple[Tensor, Tensor]:
    """Seeded edge scores for the test graph, ``(E, heads)`` or ``(E,)`` for None."""
    shape = (len(SRC),) if heads is None else (len(SRC), heads)
    return node_pair(seed, shape, dtype)


def negatives_for(student: Tensor, k: int = 3, seed: int = 7) -> Tensor:
    """Seeded ``(B, k, D)`` negatives matching ``student``."""
    generator = torch.Generator().manual_seed(seed)
    b, d = student.shape
    return torch.randn((b, k, d), generator=generator).to(student.dtype)


def extra_inputs(name: str, student: Tensor) -> Dict[str, Tensor]:
    """Keyword inputs a metric takes beyond student and teacher in the node tests."""
    return {"negatives": negatives_for(student)} if name == "infonce" else {}
