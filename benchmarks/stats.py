r"""Seed statistics of a benchmark: per-row mean and spread, paired differences with a t CI.

Every row (a method with its options) is trained once per seed, and for one seed all
rows start from the same student weights and see the same batches (the paired design),
so row :math:`a` and row :math:`b` are compared through their per-seed differences
:math:`d_s = a_s - b_s`, :math:`s = 1 .. n`:

.. math::

    \bar d = \frac{1}{n}\sum_s d_s, \qquad
    s_d = \sqrt{\frac{1}{n-1}\sum_s (d_s - \bar d)^2}, \qquad
    \bar d \pm t_{1-\alpha/2,\, n-1}\, \frac{s_d}{\sqrt n}

with :math:`t_{q, n-1}` the :math:`q` quantile of Student's t with :math:`n - 1` degrees of
freedom (``scipy.stats.t``). A difference is significant at level :math:`\alpha` when its
interval excludes 0. The confidence interval of one row's mean is the same formula on the
row's own values.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A mean with its ``confidence`` interval ``[low, high]`` over ``n`` values.

    Parameters
    ----------
    mean, std : float
        Mean and sample standard deviation (``n - 1`` denominator; 0 for one value).
    low, high : float
        The t confidence interval of the mean (``nan`` for fewer than two values).
    n : int
        Number of values.
    """

    mean: float
    std: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """``(high - low) / 2``."""
        return (self.high - self.low) / 2

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0 (``False`` when it is undefined)."""
        return bool(self.low > 0 or self.high < 0)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """The mean of ``values`` with its t confidence interval.

    Example
    -------
    >>> round(mean_interval([1.0, 2.0, 3.0]).half_width, 4)
    2.4841
    """
    if not values:
        raise ValueError("no values: a row needs at least one finished seed")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return Interval(mean, 0.0, math.nan, math.nan, n)
    std = statistics.stdev(values)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return Interval(mean, std, mean - half, mean + half, n)


def paired_difference(
    values: Sequence[float], reference: Sequence[float], confidence: float = 0.95
) -> Interval:
    """Mean of the per-seed differences ``values[s] - reference[s]`` with its t interval.

    Parameters
    ----------
    values, reference : sequence of float
        One value per seed, in the same seed order.

    Example
    -------
    >>> diff = paired_difference([80.0, 81.0, 82.5], [79.0, 79.5, 80.5])
    >>> round(diff.mean, 3), diff.significant
    (1.5, True)
    """
    if len(values) != len(reference):
        raise ValueError(
            f"paired values need one value per seed in both rows, got {len(values)} and "
            f"{len(reference)}; run the same seeds for every row"
        )
    return mean_interval([a - b for a, b in zip(values, reference)], confidence)
