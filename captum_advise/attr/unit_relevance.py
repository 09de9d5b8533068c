"""Unit relevance phi_k: the number of peaks of each unit's adaptive density (spec §1)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from captum_advise.density import adaptive_kde, count_peaks
from captum_advise.density.adaptive_kde import Backend

__all__ = ["flatten_column_major", "unit_relevance"]


def flatten_column_major(feature_maps: Tensor) -> Tensor:
    """(N, K, U, V) -> (N * K, U * V), each unit's map read column by column (MATLAB ``A(:)``).

    The order does not change a density; it keeps samples identical to the reference's fixtures.
    """
    n_examples, n_units, height, width = feature_maps.shape
    return feature_maps.transpose(2, 3).reshape(n_examples * n_units, width * height)


def _check_finite(feature_maps: Tensor) -> None:
    bad = (~torch.isfinite(feature_maps.detach())).flatten(2).any(dim=2).nonzero()
    if len(bad):
        where = ", ".join(f"example {int(n)} unit {int(k)}" for n, k in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ValueError(f"the layer's values contain NaN or Inf ({where}{more}): ADVISE needs finite activations")


def unit_relevance(
    feature_maps: Tensor,
    value_range: Literal["fixed", "unit"] = "fixed",
    n_bandwidths: int = 10,
    backend: Backend = "auto",
) -> Tensor:
    """Peak count of every unit of every example, in one batched density estimate.

    Args:
        feature_maps: (N, K, U, V) the values whose density is estimated (activations or
            gradients), any real dtype; the estimate runs in float64 on their device.
        value_range: ``"fixed"`` (reference: only values in [0, 1] count) or ``"unit"`` (each unit
            min-max scaled to [0, 1] first).
        n_bandwidths: number of candidate bandwidths M (reference: 10).
        backend: the density estimate's backend, as for :func:`~captum_advise.density.adaptive_kde`.

    Returns:
        (N, K) ``torch.long`` peak counts; 0 for a unit whose estimate fails (fewer than two values
        in [0, 1]).
    """
    n_examples, n_units = feature_maps.shape[:2]
    _check_finite(feature_maps)
    samples = flatten_column_major(feature_maps.detach())
    estimate = adaptive_kde(samples, n_bandwidths=n_bandwidths, value_range=value_range, backend=backend)
    return count_peaks(estimate.density).view(n_examples, n_units)
