"""Pictures of every method's knowledge graphs, checked against dense matrices built here."""

from __future__ import annotations

import dataclasses

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from graphkd import Responses  # noqa: E402
from graphkd.analysis.graph_picture import draw_graphs, graph_pairs, graph_panels  # noqa: E402
from graphkd.distill import create_method, list_methods, method_arguments  # noqa: E402

B, C = 12, 10
CHANNELS = {"stage1": 8, "stage2": 16}
SHAPES = {"stage1": (8, 4, 4), "stage2": (16, 2, 2)}
KNOWN = {
    "num_samples": 64,
    "num_classes": C,
    "labels": torch.arange(64) % C,
    "teacher_dim": 24,
    "student_dim": 16,
    "teacher_channels": CHANNELS,
    "student_channels": CHANNELS,
    "teacher_shapes": SHAPES,
    "student_shapes": SHAPES,
}
LABELS = torch.tensor([3, 1, 0, 2, 1, 0, 3, 2, 0, 1, 2, 3])


def responses(width, seed):
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(B, *shape, generator=generator)

    features = {name: randn(*shape).relu() for name, shape in SHAPES.items()}
    return Responses(
        3 * randn(C),
        embedding=randn(width),
        features=features,
        index=torch.arange(B),
        labels=LABELS,
    )


def method_and_batch(name):
    torch.manual_seed(0)
    method = create_method(name, **method_arguments(name, KNOWN))
    for stage in method.stages():
        method.set_stage(stage.name)
    teacher, student = responses(24, 1), responses(16, 2)
    if method.needs_virtual_view:
        teacher = dataclasses.replace(teacher, virtual=responses(24, 3))
        student = dataclasses.replace(student, virtual=responses(16, 4))
    return method, teacher, student


@pytest.mark.parametrize("name", list_methods())
def test_every_method_draws_teacher_and_student_side_by_side(name, tmp_path):
    method, teacher, student = method_and_batch(name)
    figure = draw_graphs(method, teacher, student, labels=LABELS)
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles and len(titles) % 2 == 0
    assert all(t.startswith("teacher\n") for t in titles[::2])
    assert all(t.startswith("student\n") for t in titles[1::2])
    figure.savefig(tmp_path / "graph.png")
    plt.close(figure)
    assert (tmp_path / "graph.png").stat().st_size > 1000


def dense_pkt(embedding):
    unit = embedding / (embedding.norm(dim=1, keepdim=True) + 1e-7)
    similarity = 1 + unit @ unit.t()  # rows: sources u, columns: destinations v
    distribution = similarity / similarity.sum(0, keepdim=True)  # over u for each v
    return distribution.t()  # rows: destinations


def test_a_dense_graph_is_its_edge_matrix_with_samples_sorted_by_label():
    method, teacher, student = method_and_batch("pkt")
    (panel,) = graph_panels(graph_pairs(method, teacher, student), LABELS)
    order = torch.argsort(LABELS, stable=True)
    for drawn, r in ((panel.teacher, teacher), (panel.student, student)):
        expected = dense_pkt(r.embedding)[order][:, order]
        torch.testing.assert_close(drawn, expected)


def test_pruned_edges_are_blank_on_both_sides():
    method, teacher, student = method_and_batch("vrm")
    panels = graph_panels(graph_pairs(method, teacher, student), labels=None)
    isv = next(p for p in panels if p.title.startswith("isv"))
    dropped = int(0.25 * B * B)
    for matrix in (isv.teacher, isv.student):
        assert int(torch.isnan(matrix).sum()) == dropped
    assert torch.equal(torch.isnan(isv.teacher), torch.isnan(isv.student))
    assert f"{B * B - dropped} of {B * B} edges kept" in isv.title


def test_attention_heads_each_get_a_row_and_knn_graphs_draw_as_networks():
    method, teacher, student = method_and_batch("mhgd")
    panels = graph_panels(graph_pairs(method, teacher, student))
    assert [p.title for p in panels] == [f"attention, attention [{h}]" for h in range(8)]
    method, teacher, student = method_and_batch("hkd")
    (panel,) = graph_panels(graph_pairs(method, teacher, student), LABELS)
    assert panel.kind == "network" and panel.teacher[1] is not None
