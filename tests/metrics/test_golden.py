"""Every metric reproduces its stored golden values (tests/metrics/golden_metrics.json)."""

from __future__ import annotations

import json

import pytest

from graphkd.metrics import list_metrics

from .make_golden import CASES, GOLDEN_PATH, evaluate

GOLDEN = json.loads(GOLDEN_PATH.read_text())


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_matches_golden_value(case: tuple) -> None:
    stored = {entry["id"]: entry for entry in GOLDEN["cases"]}[case[0]]
    assert (stored["metric"], stored["options"], stored["inputs"], stored["negatives"]) == (
        case[1],
        case[2],
        case[3],
        case[4],
    ), "golden file is stale: regenerate it with `python -m tests.metrics.make_golden`"
    value = float(evaluate(case, GOLDEN["inputs"]))
    assert value == pytest.approx(stored["value"], rel=1e-5, abs=1e-6)


def test_golden_file_lists_exactly_the_cases() -> None:
    assert [entry["id"] for entry in GOLDEN["cases"]] == [case[0] for case in CASES]


@pytest.mark.parametrize("name", list_metrics())
def test_every_registered_metric_has_a_golden_case(name: str) -> None:
    assert any(case[1] == name for case in CASES), (
        f"add a golden case for {name!r} to tests/metrics/make_golden.py and regenerate"
    )
