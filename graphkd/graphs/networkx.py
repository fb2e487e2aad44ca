"""Conversion to networkx, for inspection and drawing."""

from __future__ import annotations

from typing import Sequence

import networkx as nx

from graphkd.knowledge_graph import KnowledgeGraph


def to_networkx(
    graph: KnowledgeGraph, node_fields: Sequence[str] = (), edge_fields: Sequence[str] = ()
) -> nx.DiGraph:
    """A :class:`networkx.DiGraph` of ``graph`` with the named fields as attributes.

    Scalars become Python floats, vectors lists. Parallel edges collapse (the last wins).

    Example
    -------
    >>> import torch
    >>> from graphkd.graphs import complete_graph
    >>> g = complete_graph(3, self_loops=False)
    >>> g.edata["w"] = torch.arange(6.0)
    >>> to_networkx(g, edge_fields=["w"]).edges[0, 1]["w"]
    0.0
    """
    result = nx.DiGraph()
    nodes = {name: graph.field(name, "nodes").detach().cpu() for name in node_fields}
    for node in range(graph.num_nodes):
        result.add_node(node, **{k: v[node].tolist() for k, v in nodes.items()})
    edges = {name: graph.field(name, "edges").detach().cpu() for name in edge_fields}
    for index, (u, v) in enumerate(zip(graph.src.tolist(), graph.dst.tolist())):
        result.add_edge(u, v, **{k: e[index].tolist() for k, e in edges.items()})
    return result
