"""The stage-pair family's shared options: written once on StagePairDistiller and
ChannelPairDistiller, offered by every method after its own, with their defaults."""

from __future__ import annotations

import inspect

import pytest
import torch

import graphkd
from graphkd.distill import METHODS
from graphkd.distill.stage_pairs import ChannelPairDistiller, StagePairDistiller

PAIRING = [
    ("teacher_features", None),
    ("student_features", None),
    ("ce_weight", 1.0),
    ("check_inputs", True),
]
CHANNELS = [("teacher_channels", None), ("student_channels", None)]

#: Each method's own options, in order, then the shared ones (keyword-only).
OPTIONS = {
    "at": [("p", 2.0), ("weight", 1000.0)],
    "fsp": [("weight", 1.0), ("init_epochs", 30), ("after_init_weight", 0.0)],
    "kdsvd": [("k", 1), ("weight", 1.0), ("layout", "channels"), ("svd_eps", 1e-4)],
    "vid": [("weight", 1.0), ("init_pred_var", 5.0), ("eps", 1e-5), ("learn_variance", True)],
    "ofd": [("teacher_bn", None), ("weight", 1e-3), ("kernel_size", 1), ("preact", True)],
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_a_channel_pair_method_offers_its_options_then_the_shared_ones(name):
    parameters = inspect.signature(METHODS.get(name)).parameters.values()
    assert [(p.name, p.default) for p in parameters] == OPTIONS[name] + CHANNELS + PAIRING
    shared = [p.kind for p in parameters][len(OPTIONS[name]) :]
    assert shared == [inspect.Parameter.KEYWORD_ONLY] * len(CHANNELS + PAIRING)
    assert issubclass(inspect.signature(METHODS.get(name)).return_annotation, ChannelPairDistiller)


def test_ab_is_told_the_shapes_and_offers_no_channel_dicts():
    parameters = inspect.signature(METHODS.get("ab")).parameters
    assert [(p.name, p.default) for p in parameters.values()] == [
        ("teacher_shapes", None),
        ("student_shapes", None),
        ("margin", 1.0),
        ("weight", 3e-3),
        ("init_epochs", 30),
        ("preact", True),
        *PAIRING,
    ]
    distiller = graphkd.create_method(
        "ab",
        teacher_shapes={"a": (4, 2, 2), "b": (8, 1, 1)},
        student_shapes={"x": (8, 1, 1)},
        ce_weight=0.5,
    )
    assert not isinstance(distiller, ChannelPairDistiller)
    assert (distiller.teacher_features, distiller.student_features) == (["b"], ["x"])
    assert (distiller.teacher_widths, distiller.ce_weight) == ([8], 0.5)


@pytest.mark.parametrize("name", ["at", "fsp", "kdsvd", "vid", "ofd"])
@pytest.mark.parametrize("check_inputs", [True, False])
def test_the_metrics_check_finiteness_exactly_when_the_distiller_does_not(name, check_inputs):
    channels = {"layer1": 4, "layer2": 4}
    distiller = graphkd.create_method(
        name, teacher_channels=channels, student_channels=channels, check_inputs=check_inputs
    )
    assert distiller.check_inputs is check_inputs
    assert [m.check_finite for m in distiller.metrics.values()] == [not check_inputs] * len(
        distiller.metrics
    )


def test_stage_lists_default_to_the_deepest_in_common_and_widths_to_what_the_dicts_give():
    distiller = graphkd.create_method(
        "at", teacher_channels={"a": 2, "b": 4, "c": 8}, student_channels={"x": 4, "y": 8}
    )
    assert (distiller.teacher_features, distiller.student_features) == (["b", "c"], ["x", "y"])
    assert (distiller.teacher_widths, distiller.student_widths) == ([4, 8], [4, 8])
    named = graphkd.create_method(
        "at", teacher_channels={"a": 2}, teacher_features=["a", "z"], student_features=["x", "y"]
    )
    assert (named.teacher_widths, named.student_widths) == ([2, None], [None, None])


def test_a_method_that_adapts_widths_needs_the_channel_dicts():
    with pytest.raises(ValueError, match="vid needs student_channels"):
        graphkd.create_method("vid", teacher_channels={"a": 2}, student_features=["a"])


def test_fsp_checks_the_counts_the_dicts_give_and_leaves_the_rest_to_the_maps():
    with pytest.raises(ValueError, match="teacher's 'b' has 16 channels and the student's 'b' 12"):
        graphkd.create_method(
            "fsp",
            teacher_channels={"a": 8, "b": 16},
            student_channels={"a": 8, "b": 12},
        )
    partly = graphkd.create_method(
        "fsp",
        teacher_channels={"a": 8, "b": 16},
        student_channels={"a": 8},
        teacher_features=["a", "b"],
        student_features=["a", "b"],
    )
    maps = {"a": torch.rand(2, 8, 4, 4), "b": torch.rand(2, 16, 2, 2)}
    other = {"a": torch.rand(2, 8, 4, 4), "b": torch.rand(2, 12, 2, 2)}
    with pytest.raises(ValueError, match="'b' has 16 channels and the student's 'b' 12"):
        partly(
            graphkd.Responses(torch.randn(2, 3), features=maps),
            graphkd.Responses(torch.randn(2, 3), features=other),
        )


def test_the_base_takes_the_channel_dicts_as_one_argument():
    distiller = StagePairDistiller(
        "pairs",
        lambda pairs: [graphkd.MatchTerm(f"t_{n}", n, "nodes") for n in pairs.teacher],
        ({"a": 2, "b": 4}, {"x": 4}),
        check_inputs=False,
    )
    assert distiller.teacher_features == ["b"] and not distiller.check_inputs
    with pytest.raises(TypeError, match="teacher_channels"):
        StagePairDistiller("pairs", [], (None, None), teacher_channels={"a": 1})
