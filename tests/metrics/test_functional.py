"""The functional API: same values as the modules, shape and option checks."""

from __future__ import annotations

import pytest
import torch

from graphkd.metrics import create_metric, functional

from .cases import edge_pair, make_graph, node_pair

PAIRS = [
    ("mse", functional.mse, {}),
    ("l1", functional.l1, {}),
    ("smooth_l1", functional.smooth_l1, {}),
    ("cosine", functional.cosine_distance, {}),
    ("pearson", functional.pearson_distance, {}),
    ("kl", functional.kl_divergence, {}),
    ("js", functional.js_divergence, {}),
    ("kd", functional.kd_loss, {}),
    ("zscore_kd", functional.zscore_kd_loss, {}),
    ("infonce", functional.info_nce, {}),
]


@pytest.mark.parametrize("name, function, options", PAIRS)
def test_functions_equal_the_modules(name: str, function, options: dict) -> None:
    student, teacher = node_pair()
    assert torch.equal(function(student, teacher, **options), create_metric(name)(student, teacher))


@pytest.mark.parametrize("name, function, options", PAIRS)
def test_functions_reject_shape_mismatch_without_broadcasting(
    name: str, function, options: dict
) -> None:
    student, _ = node_pair(shape=(4, 5))
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(1, 5\)"):
        function(student, student[:1], **options)


@pytest.mark.parametrize("function", [functional.kl_divergence, functional.js_divergence])
def test_edge_mode_on_the_graph_device_only(function) -> None:
    student, teacher = edge_pair()
    graph = make_graph()
    graph.dst = graph.dst.to("meta")
    with pytest.raises(ValueError, match="graph is on meta.*one device"):
        function(student, teacher, graph)


def test_kl_without_a_last_dim_is_rejected() -> None:
    with pytest.raises(ValueError, match="no distribution"):
        functional.kl_divergence(torch.zeros(3, 0), torch.zeros(3, 0))
