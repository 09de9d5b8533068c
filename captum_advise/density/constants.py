"""The estimator's constants (spec §2), one definition for every backend, the Triton kernels included."""

from __future__ import annotations

import math

__all__ = ["GOLDEN", "MAX_ITERATIONS", "NEGLIGIBLE", "SEARCH_START", "SQRT_2PI", "TIE_TOLERANCE", "TOLERANCE"]

SQRT_2PI = math.sqrt(2.0 * math.pi)
# Steps 8-9, the golden-section search of the stiffness g on [SEARCH_START, 1].
GOLDEN = (math.sqrt(5) + 1) / 2
SEARCH_START = 1e-12
TOLERANCE = 1e-5
MAX_ITERATIONS = 30
# Step 12: two costs closer than this (relative) count as equal, the reference's else branch.
TIE_TOLERANCE = 1e-12
# exp(-41.4): a balloon term this small changes no density by more than 1e-17 of its maximum.
NEGLIGIBLE = 1e-18
