"""KL divergence: node mode against torch's kl_div, edge mode against explicit loops."""

from __future__ import annotations

from typing import Optional

import pytest
import torch
import torch.nn.functional as F

from graphkd.metrics import KLDivergence, create_metric
from graphkd.ops import edge_softmax

from .cases import DST, NUM_NODES, edge_pair, make_graph, node_pair


def _kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(p) || softmax(q)) of one distribution, through torch's kl_div."""
    return F.kl_div(q_logits.log_softmax(0), p_logits.softmax(0), reduction="sum")


def edge_reference(
    student: torch.Tensor,
    teacher: torch.Tensor,
    temperature: float = 1.0,
    direction: str = "teacher||student",
    reduction: str = "batchmean",
) -> float:
    """Loop over destination nodes and heads; softmax over each node's incoming edges."""
    s = student.double().reshape(len(DST), -1) / temperature
    t = teacher.double().reshape(len(DST), -1) / temperature
    total, count = 0.0, 0
    for node in range(NUM_NODES):
        edges = [e for e, d in enumerate(DST) if d == node]
        if not edges:
            continue
        for head in range(s.shape[1]):
            s_scores, t_scores = s[edges, head], t[edges, head]
            if direction == "teacher||student":
                total += float(_kl(t_scores, s_scores))
            else:
                total += float(_kl(s_scores, t_scores))
            count += 1
    return total / count if reduction == "batchmean" else total


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("direction", ["teacher||student", "student||teacher"])
def test_node_mode_matches_torch_kl_div(temperature: float, direction: str) -> None:
    student, teacher = node_pair(shape=(4, 5))
    log_s = F.log_softmax(student / temperature, dim=1)
    log_t = F.log_softmax(teacher / temperature, dim=1)
    if direction == "teacher||student":
        expected = F.kl_div(log_s, log_t, reduction="batchmean", log_target=True)
    else:
        expected = F.kl_div(log_t, log_s, reduction="batchmean", log_target=True)
    metric = KLDivergence(temperature=temperature, direction=direction)
    assert torch.allclose(metric(student, teacher), expected, rtol=1e-5, atol=1e-7)


def test_node_mode_sum_and_temperature_scaling() -> None:
    student, teacher = node_pair(shape=(4, 5))
    batchmean = KLDivergence(temperature=2.0)(student, teacher)
    summed = KLDivergence(temperature=2.0, reduction="sum")(student, teacher)
    scaled = KLDivergence(temperature=2.0, scale_by_temperature_squared=True)(student, teacher)
    assert torch.allclose(summed, 4 * batchmean)
    assert torch.allclose(scaled, 4.0 * batchmean)


def test_node_mode_counts_every_leading_position_as_a_distribution() -> None:
    student, teacher = node_pair(shape=(2, 3, 4))
    per_row = [float(_kl(t, s)) for s, t in zip(student.reshape(6, 4), teacher.reshape(6, 4))]
    assert float(KLDivergence()(student, teacher)) == pytest.approx(sum(per_row) / 6, rel=1e-5)


@pytest.mark.parametrize("heads", [None, 1, 3])
@pytest.mark.parametrize("direction", ["teacher||student", "student||teacher"])
@pytest.mark.parametrize("reduction", ["batchmean", "sum"])
def test_edge_mode_matches_loop_reference(
    heads: Optional[int], direction: str, reduction: str
) -> None:
    student, teacher = edge_pair(heads=heads)
    metric = KLDivergence(temperature=2.0, direction=direction, reduction=reduction)
    value = metric(student, teacher, graph=make_graph())
    expected = edge_reference(student, teacher, 2.0, direction, reduction)
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_edge_mode_divides_by_nodes_with_incoming_edges_times_heads() -> None:
    student, teacher = edge_pair(heads=2)
    graph = make_graph()
    summed = KLDivergence(reduction="sum")(student, teacher, graph=graph)
    mean = KLDivergence()(student, teacher, graph=graph)
    # Nodes 0, 1, 2 and 4 receive edges, node 3 none: 4 nodes x 2 heads.
    assert torch.allclose(summed, 8 * mean)


def test_edge_mode_agrees_with_graphkd_edge_softmax() -> None:
    student, teacher = edge_pair(heads=2)
    graph = make_graph()
    p_s, p_t = edge_softmax(graph, student), edge_softmax(graph, teacher)
    expected = (p_t * (p_t.log() - p_s.log())).sum() / 8
    assert torch.allclose(KLDivergence()(student, teacher, graph=graph), expected, atol=1e-6)


def test_edge_mode_stays_finite_for_huge_score_gaps() -> None:
    student = torch.tensor([0.0, 0.0, 500.0, 1.0, 0.0, 0.0, -500.0, 0.0])
    teacher = torch.tensor([300.0, 0.0, -300.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    value = KLDivergence()(student, teacher, graph=make_graph())
    assert torch.isfinite(value)
    assert float(value) == pytest.approx(edge_reference(student, teacher), rel=1e-5)


def test_mhgd_style_configuration() -> None:
    """MHGD: sum over nodes and heads of KL(P_s || P_t), no temperature."""
    student, teacher = edge_pair(heads=3)
    metric = create_metric("kl", direction="student||teacher", reduction="sum")
    expected = edge_reference(student, teacher, 1.0, "student||teacher", "sum")
    assert float(metric(student, teacher, graph=make_graph())) == pytest.approx(expected, rel=1e-5)


def test_edge_scores_must_match_the_graph() -> None:
    graph = make_graph()
    metric = KLDivergence()
    with pytest.raises(ValueError, match="7 edge scores for a graph with 8 edges"):
        metric(torch.zeros(7, 2), torch.zeros(7, 2), graph=graph)
    with pytest.raises(ValueError, match=r"\(E,\) or \(E, H\)"):
        metric(torch.zeros(8, 2, 2), torch.zeros(8, 2, 2), graph=graph)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"direction": "forward"}, "'teacher||student', 'student||teacher'"),
        ({"reduction": "mean"}, "'batchmean', 'sum'"),
        ({"temperature": 0.0}, "temperature must be positive"),
    ],
)
def test_bad_options_are_rejected_at_construction(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("|", r"\|")):
        KLDivergence(**options)
