"""Pictures of the knowledge a method transfers: its teacher and student graphs side by side.

:func:`draw_graphs` takes any :class:`~graphkd.distill.Distiller` and one batch of teacher
and student :class:`~graphkd.Responses`, builds the method's graphs
(:meth:`~graphkd.distill.Distiller.build_graphs`) and draws each as it reads:

- a graph whose edges join every source to every destination (complete, bipartite,
  real -> virtual) as a heatmap of its edge values, rows the destinations and columns the
  sources, samples sorted by label; edges a pruning mask drops (``edata["keep"]``) are
  left blank on both sides;
- an edge field with a few columns (attention heads, temperatures) as one heatmap per
  column; with many columns (VRM's normalised logit differences) as its coordinate on the
  teacher's first principal direction, so both sides share one axis;
- a sparse graph (HKD's kNN graph) as nodes and edges, nodes coloured by class;
- a graph without edges (KD, DKD, ...) as a heatmap of its node fields;
- a batch of member graphs (MHGD's sensing-point pairs) member by member.

Example
-------
>>> import torch, matplotlib.pyplot as plt, graphkd
>>> teacher = graphkd.Responses(torch.randn(8, 5), embedding=torch.randn(8, 6))
>>> student = graphkd.Responses(torch.randn(8, 5), embedding=torch.randn(8, 6))
>>> figure = draw_graphs(graphkd.create_method("rkd"), teacher, student)
>>> [axis.get_title() for axis in figure.axes[:2]]
['teacher\\nsamples, distance', 'student\\nsamples, distance']
>>> plt.close(figure)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import networkx as nx
import torch
from torch import Tensor

from graphkd.analysis.figures import _pyplot
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses

if TYPE_CHECKING:  # any method: analysis reads graphs, it does not depend on the presets
    from graphkd.distill.base import Distiller

#: An edge or node field with at most this many columns is drawn column by column.
FEW_COLUMNS = 8
#: The bool edge field that marks the edges a pruning keeps.
KEEP = "keep"


@dataclass
class Panel:
    """One row of the picture: a teacher and a student picture of one field."""

    title: str
    kind: str  # "matrix" (a heatmap) or "network" (nodes and edges)
    teacher: Any
    student: Any


def graph_pairs(
    distiller: Distiller, teacher: Responses, student: Responses
) -> Dict[str, Tuple[KnowledgeGraph, KnowledgeGraph]]:
    """The method's graphs of one batch by name, ``{name: (teacher graph, student graph)}``
    (the names of :meth:`~graphkd.distill.Distiller.build_graphs`), built without
    gradients."""
    with torch.no_grad():
        teacher_graphs, student_graphs = distiller.build_graphs(teacher, student)
    return {name: (teacher_graphs[name], student_graphs[name]) for name in teacher_graphs}


def members(graph: KnowledgeGraph, count: int) -> List[KnowledgeGraph]:
    """The first ``count`` member graphs of a batched graph, nodes renumbered from 0."""
    out = []
    node_start, edge_start = 0, 0
    for nodes, edges in list(zip(graph.batch_num_nodes, graph.batch_num_edges))[:count]:
        span = slice(edge_start, edge_start + edges)
        out.append(
            KnowledgeGraph(
                graph.src[span] - node_start,
                graph.dst[span] - node_start,
                nodes,
                ndata={k: v[node_start : node_start + nodes] for k, v in graph.ndata.items()},
                edata={k: v[span] for k, v in graph.edata.items()},
            )
        )
        node_start, edge_start = node_start + nodes, edge_start + edges
    return out


def _columns(values: Tensor) -> Tensor:
    """``values`` as ``(N, K)`` floats."""
    values = values.detach().float().cpu()
    return values.reshape(values.shape[0], -1) if values.dim() != 1 else values[:, None]


def _principal(teacher: Tensor, student: Tensor, count: int) -> Tuple[Tensor, Tensor]:
    """Both fields' coordinates on the teacher's first ``count`` principal directions."""
    centre = teacher.mean(0, keepdim=True)
    _, _, directions = torch.linalg.svd(teacher - centre, full_matrices=False)
    basis = directions[:count].t()
    return (teacher - centre) @ basis, (student - centre) @ basis


def _dense_layout(graph: KnowledgeGraph) -> Optional[Tuple[Tensor, Tensor]]:
    """Row (destination) and column (source) of each edge when every source reaches every
    destination exactly once, else ``None``."""
    sources, columns = torch.unique(graph.src.cpu(), return_inverse=True)
    targets, rows = torch.unique(graph.dst.cpu(), return_inverse=True)
    if graph.num_edges != len(sources) * len(targets):
        return None
    if len(torch.unique(rows * len(sources) + columns)) != graph.num_edges:
        return None
    return rows, columns


def _matrix(values: Tensor, rows: Tensor, columns: Tensor, order: Optional[Tensor]) -> Tensor:
    size = (int(rows.max()) + 1, int(columns.max()) + 1)
    matrix = torch.full(size, float("nan"))
    matrix[rows, columns] = values
    if order is not None and size[0] == size[1] == len(order):
        matrix = matrix[order][:, order]
    return matrix


def _edge_panels(
    name: str,
    t: KnowledgeGraph,
    s: KnowledgeGraph,
    order: Optional[Tensor],
    labels: Optional[Tensor],
) -> List[Panel]:
    layout = _dense_layout(t) if t.num_edges == s.num_edges else None
    fields = [
        f
        for f, values in t.edata.items()
        if f != KEEP
        and f in s.edata
        and values.dtype != torch.bool
        and values.shape[:1] == s.edata[f].shape[:1] == (t.num_edges,)
    ]
    if layout is None or not fields:

        def colours(graph: KnowledgeGraph) -> Optional[Tensor]:
            return labels if labels is not None and len(labels) == graph.num_nodes else None

        return [Panel(f"{name}, edges", "network", (t, colours(t)), (s, colours(s)))]
    rows, columns = layout
    keep = s.edata.get(KEEP)
    kept = None if keep is None else keep.detach().cpu().bool().reshape(-1)
    panels = []
    for field in fields:
        teacher, student = _columns(t.edata[field]), _columns(s.edata[field])
        labels_of = [str(k) for k in range(teacher.shape[1])]
        if teacher.shape[1] > FEW_COLUMNS:
            teacher, student = _principal(teacher, student, 1)
            labels_of = ["teacher's first principal direction"]
        for k, label in enumerate(labels_of):
            pair = []
            for values in (teacher[:, k], student[:, k]):
                values = values.clone()
                if kept is not None:
                    values[~kept] = float("nan")
                pair.append(_matrix(values, rows, columns, order))
            detail = "" if len(labels_of) == 1 and label == "0" else f" [{label}]"
            pruned = "" if kept is None else f", {int(kept.sum())} of {len(kept)} edges kept"
            panels.append(Panel(f"{name}, {field}{detail}{pruned}", "matrix", *pair))
    return panels


def _node_panels(
    name: str, t: KnowledgeGraph, s: KnowledgeGraph, order: Optional[Tensor]
) -> List[Panel]:
    panels = []
    for field in [f for f in t.ndata if f in s.ndata]:
        teacher, student = _columns(t.ndata[field]), _columns(s.ndata[field])
        if teacher.shape != student.shape or teacher.shape[0] != t.num_nodes:
            continue  # e.g. embeddings of two widths before a projection
        title = f"{name}, nodes: {field}"
        if teacher.shape[1] > 4 * FEW_COLUMNS:
            count = min(FEW_COLUMNS, *teacher.shape)
            teacher, student = _principal(teacher, student, count)
            title += f" (first {count} principal coordinates of the teacher's)"
        if order is not None and teacher.shape[0] == len(order):
            teacher, student = teacher[order], student[order]
        panels.append(Panel(title, "matrix", teacher, student))
    return panels


def graph_panels(
    pairs: Dict[str, Tuple[KnowledgeGraph, KnowledgeGraph]],
    labels: Optional[Tensor] = None,
    max_members: int = 2,
) -> List[Panel]:
    """What :func:`draw_graphs` draws, row by row (see the module's description)."""
    labels = None if labels is None else labels.detach().cpu()
    order = None if labels is None else torch.argsort(labels, stable=True)
    panels: List[Panel] = []
    for name, (teacher, student) in pairs.items():
        batched = teacher.batch_size > 1
        chosen = list(zip(members(teacher, max_members), members(student, max_members)))
        for k, (t, s) in enumerate(chosen):
            title = f"{name} {k}" if batched else name
            if t.num_edges:
                panels += _edge_panels(title, t, s, order, labels)
            else:
                panels += _node_panels(title, t, s, order)
    return panels


def _draw_network(axis: Any, picture: Tuple[KnowledgeGraph, Optional[Tensor]]) -> None:
    graph, colours = picture
    network = nx.DiGraph()
    network.add_nodes_from(range(graph.num_nodes))
    network.add_edges_from(
        (int(u), int(v)) for u, v in zip(graph.src.cpu(), graph.dst.cpu()) if u != v
    )
    positions = nx.spring_layout(nx.Graph(network), seed=0)
    nx.draw_networkx_edges(network, positions, ax=axis, alpha=0.3, width=0.5, arrows=False)
    style: Dict[str, Any] = {"node_color": "tab:blue"}
    if colours is not None:
        style = {"node_color": colours.tolist(), "cmap": "tab10", "vmin": 0, "vmax": 9}
    nx.draw_networkx_nodes(network, positions, ax=axis, node_size=25, **style)


def draw_graphs(
    distiller: Distiller,
    teacher: Responses,
    student: Responses,
    labels: Optional[Tensor] = None,
    max_members: int = 2,
    max_rows: int = 8,
) -> Any:
    """The teacher's and the student's knowledge graphs of one batch, side by side.

    Parameters
    ----------
    distiller : Distiller
        The method (in its student stage: MHGD builds graphs only in ``"transfer"``).
    teacher, student : Responses
        One batch of both networks' responses (with ``.virtual`` for two-view methods).
    labels : Tensor, optional
        ``(B,)`` class labels: samples are sorted by them and kNN nodes coloured.
    max_members : int
        Members drawn of a batched graph (2).
    max_rows : int
        Rows (fields, heads, members) drawn at most (8).

    Returns
    -------
    matplotlib.figure.Figure
        One row per field with the teacher left and the student right; heatmap rows and
        columns share one colour scale per row.
    """
    panels = graph_panels(graph_pairs(distiller, teacher, student), labels, max_members)
    if not panels:
        raise ValueError(
            f"{type(distiller).__name__}'s graphs carry no field both sides share; nothing to draw"
        )
    panels = panels[:max_rows]
    plt = _pyplot()
    figure, axes = plt.subplots(
        len(panels), 2, figsize=(7.0, 3.2 * len(panels)), squeeze=False, layout="constrained"
    )
    for row, panel in zip(axes, panels):
        if panel.kind == "network":
            for axis, picture in zip(row, (panel.teacher, panel.student)):
                _draw_network(axis, picture)
        else:
            both = torch.cat([panel.teacher.reshape(-1), panel.student.reshape(-1)])
            both = both[~torch.isnan(both)]
            low, high = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
            for axis, values in zip(row, (panel.teacher, panel.student)):
                image = axis.imshow(
                    values.numpy(),
                    cmap="viridis",
                    vmin=low,
                    vmax=high,
                    aspect="auto",
                    interpolation="nearest",
                )
            figure.colorbar(image, ax=list(row), shrink=0.8)
        for axis, who in zip(row, ("teacher", "student")):
            axis.set_title(f"{who}\n{panel.title}", fontsize=8)
            axis.set_xticks([])
            axis.set_yticks([])
    return figure
