"""The metric registry: names, creation, errors, duplicate registration."""

from __future__ import annotations

import pytest

from graphkd.metrics import (
    KD,
    L1,
    METRICS,
    MSE,
    CosineDistance,
    InfoNCE,
    JSDivergence,
    KLDivergence,
    Metric,
    PearsonDistance,
    SmoothL1,
    ZScoreKD,
    create_metric,
    list_metrics,
)

EXPECTED = {
    "cosine": CosineDistance,
    "infonce": InfoNCE,
    "js": JSDivergence,
    "kd": KD,
    "kl": KLDivergence,
    "l1": L1,
    "mse": MSE,
    "pearson": PearsonDistance,
    "smooth_l1": SmoothL1,
    "zscore_kd": ZScoreKD,
}


def test_lists_every_metric_sorted() -> None:
    assert list_metrics() == sorted(EXPECTED)


@pytest.mark.parametrize("name", list_metrics())
def test_create_builds_the_registered_class(name: str) -> None:
    metric = create_metric(name)
    assert isinstance(metric, Metric)
    assert type(metric) is EXPECTED[name]


def test_create_passes_options() -> None:
    metric = create_metric("kl", temperature=2.0, direction="student||teacher")
    assert (metric.temperature, metric.direction) == (2.0, "student||teacher")


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown metric 'kld'; valid names: cosine, .*zscore_kd"):
        create_metric("kld")


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'mse' does not take.*valid options: reduction, check"):
        create_metric("mse", temperature=2.0)


def test_duplicate_registration_raises() -> None:
    class Another(MSE):
        pass

    with pytest.raises(ValueError, match="'mse' is already registered"):
        METRICS.register("mse")(Another)
    assert create_metric("mse").__class__ is MSE
