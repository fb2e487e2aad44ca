"""The generic graph-matching distiller: teacher graph vs student graph, term by term."""

from __future__ import annotations

import inspect
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from graphkd.distill.base import Distiller, GraphPair
from graphkd.distill.match_term import MatchTerm
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric, create_metric
from graphkd.responses import Responses, check_finite

GraphBuilder = Callable[..., KnowledgeGraph]


def _accepts_like(builder: GraphBuilder) -> bool:
    target = builder.forward if isinstance(builder, nn.Module) else builder
    parameters = inspect.signature(target).parameters
    return "like" in parameters


def _is_trainable(builder: GraphBuilder) -> bool:
    return isinstance(builder, nn.Module) and any(p.requires_grad for p in builder.parameters())


class GraphMatchingDistiller(Distiller):
    r"""Distil by matching a teacher knowledge graph with a student knowledge graph.

    Each step builds :math:`G_t = \beta_t(R_t)` from the teacher's
    :class:`~graphkd.Responses` and :math:`G_s = \beta_s(R_s, G_t)` from the student's,
    then sums the weighted match terms

    .. math::
        \mathcal{L} = \sum_k w_k\, \phi_k\big(G_s[f_k],\ G_t[f_k]\big)

    where :math:`f_k` is a node or edge field and :math:`\phi_k` a metric from
    :mod:`graphkd.metrics`.

    Builders are callables ``builder(responses) -> KnowledgeGraph``; a builder that also
    takes a second argument ``like`` receives the teacher graph when it builds the
    student's, so it can reuse the teacher's topology (``like.same_topology()``).
    Builders that are ``nn.Module`` s may own parameters, which then train with the
    student. The teacher graph is built without gradients unless its builder is
    trainable.

    Parameters
    ----------
    teacher_builder : callable
        Builds the teacher graph.
    student_builder : callable, optional
        Builds the student graph (default: the teacher's builder).
    terms : sequence of MatchTerm
        What to compare.
    ce_weight : float
        The weight the trainer gives the student's cross-entropy beside this loss.
    check_inputs : bool
        Validate shapes and reject NaN/Inf inputs (one host sync per step); the metrics
        created from term names then skip their own finiteness checks.
    graph_name : str, optional
        The key of the graph in :meth:`build_graphs` (default: the class's
        :attr:`graph_name`, ``"graph"``).

    Returns (forward)
    -----------------
    dict
        ``{"loss": total, "<term name>": value, ...}``, scalars.

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> from graphkd.graphs import complete_graph, edge_features
    >>> def build(r):
    ...     g = complete_graph(r.batch_size)
    ...     g.edata["cos"] = edge_features.cosine(g, r.embedding)
    ...     return g
    >>> distiller = GraphMatchingDistiller(build, terms=[MatchTerm("cos", "cos", "edges")])
    >>> t = Responses(torch.randn(8, 10), embedding=torch.randn(8, 32))
    >>> s = Responses(torch.randn(8, 10), embedding=torch.randn(8, 16))
    >>> sorted(distiller(t, s))
    ['cos', 'loss']
    """

    #: The key of this method's one graph in :meth:`build_graphs` (a preset names what its
    #: graph joins: ``"samples"``, ``"attention"``, ``"knn"``, ...).
    graph_name: str = "graph"

    def __init__(
        self,
        teacher_builder: GraphBuilder,
        student_builder: Optional[GraphBuilder] = None,
        terms: Sequence[MatchTerm] = (),
        ce_weight: float = 1.0,
        check_inputs: bool = True,
        graph_name: Optional[str] = None,
    ) -> None:
        super().__init__()
        if graph_name is not None:
            self.graph_name = graph_name
        if not terms:
            raise ValueError("a GraphMatchingDistiller needs at least one MatchTerm")
        names = [term.name for term in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"match term names must be unique, got {names}")
        self.teacher_builder = teacher_builder
        self.student_builder = teacher_builder if student_builder is None else student_builder
        self.terms = list(terms)
        self.metrics = nn.ModuleDict(
            {
                term.name: term.metric
                if isinstance(term.metric, Metric)
                else create_metric(term.metric, **self._metric_options(term, check_inputs))
                for term in self.terms
            }
        )
        self.ce_weight = ce_weight
        self.check_inputs = check_inputs
        self._student_takes_like = _accepts_like(self.student_builder)

    @staticmethod
    def _metric_options(term: MatchTerm, check_inputs: bool) -> Dict[str, object]:
        """The term's metric options; with ``check_inputs`` the distiller already rejects
        NaN/Inf responses once per step, so its metrics skip their own finiteness check
        (one host synchronisation per term)."""
        return {"check_finite": False, **term.options} if check_inputs else dict(term.options)

    def build_graphs(self, teacher: Responses, student: Responses) -> GraphPair:
        """The teacher's and the student's knowledge graph of one batch, each under the
        key :attr:`graph_name`: ``({graph_name: G_t}, {graph_name: G_s})``."""
        teacher_graph, student_graph = self._graph_pair(teacher, student)
        return {self.graph_name: teacher_graph}, {self.graph_name: student_graph}

    def _graph_pair(
        self, teacher: Responses, student: Responses
    ) -> Tuple[KnowledgeGraph, KnowledgeGraph]:
        """``(G_t, G_s)``, the two graphs :meth:`forward` compares term by term."""
        if self.check_inputs:
            _validate(teacher, student)
            self.check_dtype(student)
        if _is_trainable(self.teacher_builder):
            teacher_graph = self.teacher_builder(teacher)
        else:
            with torch.no_grad():
                teacher_graph = self.teacher_builder(_without_gradient(teacher))
        if self._student_takes_like:
            student_graph = self.student_builder(student, teacher_graph)
        else:
            student_graph = self.student_builder(student)
        return teacher_graph, student_graph

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        teacher_graph, student_graph = self._graph_pair(teacher, student)
        return self._weighted_sum({}, teacher_graph, student_graph)

    def _weighted_sum(
        self, values: Dict[str, Tensor], teacher: KnowledgeGraph, student: KnowledgeGraph
    ) -> Dict[str, Tensor]:
        r"""``{"loss": \sum_i w_i v_i, **values}`` over the terms in order; a term whose
        value :math:`v_i` is not in ``values`` (computed by a subclass) is matched on the
        two graphs and added to them."""
        total: Optional[Tensor] = None
        for term in self.terms:
            if term.name not in values:
                values[term.name] = self._match(term, teacher, student)
            value = values[term.name]
            total = term.weight * value if total is None else total + term.weight * value
        assert total is not None
        return {"loss": total, **values}

    def _match(self, term: MatchTerm, teacher: KnowledgeGraph, student: KnowledgeGraph) -> Tensor:
        if term.on == "edges" and not _same_edges(teacher, student):
            raise ValueError(
                f"term {term.name!r} compares edges, but the teacher graph has "
                f"{teacher.num_edges} edges and the student graph {student.num_edges} or "
                "others; build the student graph on the teacher's topology (a student "
                "builder taking `like` can return like.same_topology() with its fields)"
            )
        s = student.field(term.field, term.on)
        t = teacher.field(term.field, term.on)
        if s.shape != t.shape:
            raise ValueError(_shape_message(term, tuple(t.shape), tuple(s.shape)))
        graph = student if term.on == "edges" else None
        if term.mask is not None:
            keep = student.field(term.mask, term.on)
            s, t = s[keep], t[keep]
            if graph is not None:
                graph = graph.edge_subgraph(keep)
        return self.metrics[term.name](s, t, graph=graph)


def _without_gradient(responses: Responses) -> Responses:
    """``responses`` cut from autograd (as is when no tensor of it tracks gradients)."""
    tensors = [responses.logits, responses.embedding, *responses.features.values()]
    if responses.virtual is not None or any(t is not None and t.requires_grad for t in tensors):
        return responses.detach()
    return responses


def _same_edges(teacher: KnowledgeGraph, student: KnowledgeGraph) -> bool:
    if teacher.src is student.src and teacher.dst is student.dst:
        return True
    return teacher.num_edges == student.num_edges and bool(
        torch.equal(teacher.src, student.src) and torch.equal(teacher.dst, student.dst)
    )


def _shape_message(term: MatchTerm, teacher_shape: tuple, student_shape: tuple) -> str:
    base = (
        f"term {term.name!r} compares {term.on[:-1]} field {term.field!r} of shape "
        f"{teacher_shape} (teacher) with {student_shape} (student)"
    )
    if teacher_shape[:1] != student_shape[:1]:
        return base + "; both graphs must have as many nodes/edges (equal batch sizes)"
    return base + (
        "; if these are class scores, teacher and student need the same number of classes; "
        "if they are embeddings of different widths, project the student's to the "
        "teacher's width in the student builder with graphkd.graphs.Projector"
    )


def _validate(teacher: Responses, student: Responses) -> None:
    if teacher.batch_size != student.batch_size:
        raise ValueError(
            f"teacher responses have batch size {teacher.batch_size} but the student's "
            f"{student.batch_size}; feed both networks the same batch"
        )
    tensors: Dict[str, Tensor] = {}
    for who, responses in (("teacher", teacher), ("student", student)):
        for view, r in (("", responses), ("virtual-view ", responses.virtual)):
            if r is None:
                continue
            tensors[f"{who} {view}logits"] = r.logits
            if r.embedding is not None:
                tensors[f"{who} {view}embedding"] = r.embedding
    check_finite(tensors)
