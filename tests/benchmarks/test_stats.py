"""benchmarks/stats.py: t intervals of a mean and of paired differences, against an
independent computation (numpy moments and scipy's paired t-test)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats


@pytest.fixture
def stats(load_benchmark):
    return load_benchmark("stats")


def test_mean_interval_matches_numpy_and_the_t_quantile_table(stats):
    values = [78.1, 79.4, 80.2, 77.9, 79.0]
    interval = stats.mean_interval(values)
    array = np.array(values)
    # t_{0.975, 4} = 2.776 (printed tables)
    half = 2.7764451 * array.std(ddof=1) / math.sqrt(5)
    assert interval.mean == pytest.approx(array.mean())
    assert interval.std == pytest.approx(array.std(ddof=1))
    assert (interval.low, interval.high) == pytest.approx(
        (array.mean() - half, array.mean() + half)
    )
    assert interval.n == 5


def test_paired_difference_matches_scipys_paired_t_test(stats):
    rng = np.random.default_rng(0)
    reference = rng.normal(80, 1, size=6)
    values = reference + rng.normal(0.8, 0.5, size=6)
    diff = stats.paired_difference(list(values), list(reference), confidence=0.9)
    expected = scipy_stats.ttest_rel(values, reference).confidence_interval(0.9)
    assert (diff.low, diff.high) == pytest.approx((expected.low, expected.high))
    assert diff.mean == pytest.approx(np.mean(values - reference))
    assert diff.significant == (expected.low > 0 or expected.high < 0)


def test_significance_follows_whether_the_interval_excludes_zero(stats):
    assert stats.paired_difference([81.0, 82.0, 81.5], [80.0, 80.4, 80.1]).significant
    assert not stats.paired_difference([81.0, 79.0, 80.5], [80.0, 80.4, 80.1]).significant
    one = stats.mean_interval([80.0])
    assert one.std == 0 and math.isnan(one.low) and not one.significant


def test_bad_inputs_are_named(stats):
    with pytest.raises(ValueError, match="one value per seed"):
        stats.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no values"):
        stats.mean_interval([])
    with pytest.raises(ValueError, match="confidence"):
        stats.mean_interval([1.0, 2.0], confidence=95)
