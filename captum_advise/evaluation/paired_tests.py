"""Paired comparisons for bounded, zero-inflated measures: sign-flip permutation tests, equivalence
within a margin (two one-sided tests), the paired effect size, and bootstrap intervals of a median.

A per-photo AVX is bounded and often exactly 0 (a lost class), so the paired t-test's normal
approximation is not what a small sample gives; the sign-flip test assumes only that, where the
two methods do not differ, each photo's difference is as likely to be positive as negative.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = [
    "EXACT_UP_TO",
    "bootstrap_median_interval",
    "equivalence_p_value",
    "paired_effect_size",
    "sign_flip_p_value",
]

# Up to this many non-zero differences every sign pattern is enumerated (2^16 = 65,536); above it,
# ``draws`` patterns are drawn.
EXACT_UP_TO = 16


@lru_cache(maxsize=16)
def _signs(count: int, draws: int, seed: int) -> np.ndarray:
    """(P, count) float64 signs: every pattern (up to :data:`EXACT_UP_TO`) or ``draws`` seeded random ones.

    The same patterns serve every comparison with ``count`` non-zero differences (each p-value is
    valid on its own; Holm's adjustment holds under any dependence between them)."""
    if count <= EXACT_UP_TO:
        bits = np.arange(2**count)[:, None] >> np.arange(count)[None, :] & 1
    else:
        bits = np.random.default_rng(seed).integers(0, 2, size=(draws, count))
    signs = (1 - 2 * bits).astype(np.float64)
    signs.flags.writeable = False
    return signs


def _tails(differences: Sequence[float], draws: int, seed: int) -> tuple[float, float]:
    """(P(sum >= observed), P(sum <= observed)) of the sign-flipped differences; zeros carry no sign.

    Exact up to :data:`EXACT_UP_TO` non-zero differences; else from ``draws`` patterns with the
    observed one counted ((k + 1) / (draws + 1)).
    """
    nonzero = np.array([d for d in differences if d != 0], dtype=np.float64)
    if nonzero.size == 0:
        return 1.0, 1.0
    observed = nonzero.sum()
    sums = _signs(nonzero.size, draws, seed) @ np.abs(nonzero)
    tolerance = 1e-12 * np.abs(nonzero).sum()
    upper, lower = int((sums >= observed - tolerance).sum()), int((sums <= observed + tolerance).sum())
    if nonzero.size <= EXACT_UP_TO:
        return upper / sums.size, lower / sums.size
    return (upper + 1) / (sums.size + 1), (lower + 1) / (sums.size + 1)


def sign_flip_p_value(differences: Sequence[float], draws: int = 10_000, seed: int = 0) -> float:
    """Two-sided p of the paired sign-flip permutation test that the differences are centred on 0.

    The statistic is the sum of the differences; each sign pattern of the non-zero differences is
    equally likely under the null. Exact (every pattern) up to :data:`EXACT_UP_TO` non-zero
    differences, else ``draws`` patterns from a generator seeded with ``seed``, with the observed
    one counted ((k + 1) / (draws + 1), never 0). NaN for no differences; 1 if all are 0.

    >>> sign_flip_p_value([0.1, 0.2, 0.3, 0.4])  # 2 of the 16 patterns are as extreme
    0.125
    """
    if not differences:
        return math.nan
    return min(1.0, 2 * min(_tails(differences, draws, seed)))


def equivalence_p_value(differences: Sequence[float], margin: float, draws: int = 10_000, seed: int = 0) -> float:
    """p of the two one-sided sign-flip tests (TOST) that the differences lie within ±``margin``.

    Small when both ``differences + margin`` are shown above 0 and ``differences - margin`` below 0:
    the larger of the two one-sided p-values. NaN for no differences.

    >>> equivalence_p_value([0.001, -0.002, 0.0, 0.001, -0.001, 0.002], margin=0.02)
    0.015625
    """
    if margin <= 0:
        raise ValueError(f"the equivalence margin must be > 0, got {margin}")
    if not differences:
        return math.nan
    above = _tails([d + margin for d in differences], draws, seed)[0]
    below = _tails([d - margin for d in differences], draws, seed)[1]
    return max(above, below)


def paired_effect_size(differences: Sequence[float]) -> float:
    """Cohen's d of paired data: the mean difference over its standard deviation (NaN for fewer than
    two, or all equal).

    >>> round(paired_effect_size([0.1, 0.2, 0.3]), 3)
    2.0
    """
    if len(differences) < 2:
        return math.nan
    spread = statistics.stdev(differences)
    return math.nan if spread == 0 else statistics.fmean(differences) / spread


def bootstrap_median_interval(
    values: Sequence[float], draws: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(median, lower, upper): the percentile bootstrap interval of the median (seeded); the bounds are
    NaN for fewer than two values.

    >>> bootstrap_median_interval([3.0, 1.0, 2.0], draws=200)[0]
    2.0
    """
    if not values:
        return math.nan, math.nan, math.nan
    median = statistics.median(values)
    if len(values) < 2:
        return median, math.nan, math.nan
    samples = np.random.default_rng(seed).choice(np.asarray(values, dtype=np.float64), size=(draws, len(values)))
    low, high = np.quantile(np.median(samples, axis=1), [(1 - level) / 2, (1 + level) / 2])
    return median, float(low), float(high)
