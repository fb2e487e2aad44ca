"""GraphMatchingDistiller: builders, topology sharing, masks, trainable builders, errors."""

import pytest
import torch
from torch import nn

from graphkd import GraphMatchingDistiller, MatchTerm, Responses
from graphkd.graphs import Projector, complete_graph, edge_features, knn_graph, percentile_mask
from graphkd.metrics import create_metric


def pair(batch=8, classes=5, dim_t=6, dim_s=4):
    teacher = Responses(torch.randn(batch, classes), embedding=torch.randn(batch, dim_t))
    student = Responses(
        torch.randn(batch, classes, requires_grad=True),
        embedding=torch.randn(batch, dim_s, requires_grad=True),
    )
    return teacher, student


def test_knn_edge_kl_method_equals_dense_reference():
    def build(r, like=None):
        g = like.same_topology() if like is not None else knn_graph(r.embedding, k=3)
        g.edata["sim"] = edge_features.cosine(g, r.embedding)
        return g

    distiller = GraphMatchingDistiller(build, terms=[MatchTerm("kl", "sim", "edges", "kl")])
    teacher, student = pair()
    value = distiller(teacher, student)["loss"]
    graph = knn_graph(teacher.embedding, k=3)

    def rows(e):
        unit = torch.nn.functional.normalize(e, dim=1)
        sim = unit @ unit.t()
        return torch.stack([sim[graph.src[graph.dst == i], i] for i in range(8)])

    expected = torch.nn.functional.kl_div(
        torch.log_softmax(rows(student.embedding), 1),
        torch.softmax(rows(teacher.embedding), 1),
        reduction="batchmean",
    )
    torch.testing.assert_close(value, expected)


def test_edge_terms_need_shared_topology():
    def build(r):
        g = knn_graph(r.embedding, k=3)
        g.edata["sim"] = edge_features.cosine(g, r.embedding)
        return g

    teacher, student = pair()
    with pytest.raises(ValueError, match="same_topology"):
        GraphMatchingDistiller(build, terms=[MatchTerm("m", "sim", "edges")])(teacher, student)


def test_mask_selects_student_edges():
    def build(r, like=None):
        g = like.same_topology() if like is not None else complete_graph(r.batch_size)
        g.edata["d"] = edge_features.distance(g, r.logits)
        g.edata["keep"] = percentile_mask(g.edata["d"], 0.5)
        return g

    distiller = GraphMatchingDistiller(
        build, terms=[MatchTerm("d", "d", "edges", "mse", mask="keep")]
    )
    teacher, student = pair()
    value = distiller(teacher, student)["loss"]
    t, s = torch.cdist(teacher.logits, teacher.logits), torch.cdist(student.logits, student.logits)
    keep = percentile_mask(s.reshape(-1), 0.5)
    torch.testing.assert_close(value, ((s.reshape(-1) - t.reshape(-1))[keep] ** 2).mean())


class ProjectedNodes(nn.Module):
    def __init__(self):
        super().__init__()
        self.project = Projector(4, 6)

    def forward(self, r):
        g = complete_graph(r.batch_size)
        g.ndata["h"] = self.project(r.embedding)
        return g


def test_trainable_student_builder_gets_gradients_and_widths_are_checked():
    def teacher_nodes(r):
        g = complete_graph(r.batch_size)
        g.ndata["h"] = r.embedding
        return g

    builder = ProjectedNodes()
    distiller = GraphMatchingDistiller(teacher_nodes, builder, [MatchTerm("h", "h", metric="mse")])
    assert sum(p.numel() for p in distiller.parameters()) == 4 * 6 + 6
    teacher, student = pair()
    distiller(teacher, student)["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in builder.parameters())
    unprojected = GraphMatchingDistiller(teacher_nodes, terms=[MatchTerm("h", "h")])
    with pytest.raises(ValueError, match="Projector"):
        unprojected(teacher, student)


def test_trainable_teacher_builder_runs_with_gradients():
    class TeacherEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(6, 6)

        def forward(self, r):
            g = complete_graph(r.batch_size)
            g.ndata["h"] = self.linear(r.embedding)
            return g

    encoder = TeacherEncoder()

    def student_nodes(r):
        g = complete_graph(r.batch_size)
        g.ndata["h"] = r.embedding
        return g

    distiller = GraphMatchingDistiller(encoder, student_nodes, [MatchTerm("h", "h")])
    teacher, student = pair(dim_s=6)
    distiller(teacher, student)["loss"].backward()
    assert encoder.linear.weight.grad is not None


def test_weights_and_components():
    def nodes(r):
        g = complete_graph(r.batch_size)
        g.ndata["z"] = r.logits
        return g

    terms = [
        MatchTerm("a", "z", metric="mse", weight=2.0),
        MatchTerm("b", "z", metric="l1", weight=0.5),
    ]
    out = GraphMatchingDistiller(nodes, terms=terms)(*pair())
    torch.testing.assert_close(out["loss"], 2.0 * out["a"] + 0.5 * out["b"])
    assert isinstance(
        GraphMatchingDistiller(
            nodes, terms=[MatchTerm("m", "z", metric=create_metric("cosine"))]
        ).metrics["m"],
        nn.Module,
    )


def test_construction_errors():
    with pytest.raises(ValueError, match="at least one MatchTerm"):
        GraphMatchingDistiller(complete_graph, terms=[])
    with pytest.raises(ValueError, match="unique"):
        GraphMatchingDistiller(complete_graph, terms=[MatchTerm("a", "x"), MatchTerm("a", "y")])
    with pytest.raises(ValueError, match="named 'loss'"):
        MatchTerm("loss", "x")
    with pytest.raises(ValueError, match="on must be"):
        MatchTerm("a", "x", on="graph")
