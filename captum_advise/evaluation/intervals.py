"""Means over images with Student-t 95% intervals (the samples are often small: 8 or 16 images,
where the normal z (1.96) would make the interval 10-17% too narrow), paired t-tests and Holm's adjustment."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["bounded_interval", "holm", "mean_interval", "paired_p_value"]


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of its Student-t interval); the half-width is NaN for fewer than two values.

    >>> mean, half = mean_interval([1.0, 2.0, 3.0])
    >>> mean, round(half, 4)
    (2.0, 2.4841)
    """
    from scipy.stats import t

    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, float(t.ppf(0.5 + level / 2, len(values) - 1)) * math.sqrt(variance / len(values))


def bounded_interval(
    values: Sequence[float], low: float = -math.inf, high: float = math.inf
) -> tuple[float, float, float]:
    """(mean, lower, upper) of the Student-t 95% interval, kept inside the measure's range [low, high];
    lower and upper are NaN for fewer than two values.

    >>> [round(value, 4) for value in bounded_interval([0.9, 1.0, 1.0], high=1.0)]
    [0.9667, 0.8232, 1.0]
    """
    mean, half = mean_interval(values)
    if math.isnan(half):
        return mean, math.nan, math.nan
    return mean, max(mean - half, low), min(mean + half, high)


def paired_p_value(differences: Sequence[float]) -> float:
    """Two-sided p-value of the paired t-test that the mean difference is 0 (NaN for fewer than two).

    All differences equal: 1 if they are 0, else 0 (a t statistic of 0 or infinity).

    >>> round(paired_p_value([0.1, 0.2, 0.3, 0.2]), 4)
    0.0163
    """
    from scipy.stats import t

    count = len(differences)
    if count < 2:
        return math.nan
    mean = sum(differences) / count
    variance = sum((d - mean) ** 2 for d in differences) / (count - 1)
    if variance == 0:
        return 1.0 if mean == 0 else 0.0
    statistic = mean / math.sqrt(variance / count)
    return float(2 * t.sf(abs(statistic), count - 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN entries stay NaN and are not counted).

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    present = sorted((p, index) for index, p in enumerate(p_values) if not math.isnan(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[index] = running
    return adjusted
