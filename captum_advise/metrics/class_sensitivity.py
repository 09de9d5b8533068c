"""CS: how different the maps for the top two classes are (spec §5), and the check that uses it.

The order is the reference's (``iCalculateCAMmetrics.m``): ``check`` is decided on the raw Pearson
correlation, where a constant map gives NaN and so fails the check; only the *recorded* CS turns
that NaN into 0. Zeroing first would let a constant c2 map (common for a small group) pass.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["class_sensitivity", "passes_check", "recorded_cs"]


def class_sensitivity(first_maps: Tensor, second_maps: Tensor) -> Tensor:
    """Pearson correlation over all values of each pair of maps, NaN where it is undefined (MATLAB's corr2).

    Args:
        first_maps: (N, ...) maps for the predicted class c1 (or the masked images, for LIME).
        second_maps: (N, ...) the same for the second class c2.

    Returns:
        (N,) float64 correlations; NaN where either map is constant.
    """
    x = first_maps.flatten(1).to(torch.float64)
    y = second_maps.flatten(1).to(torch.float64)
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean(dim=1, keepdim=True)
    denominator = (x.square().sum(dim=1) * y.square().sum(dim=1)).sqrt()
    return torch.where(denominator > 0, (x * y).sum(dim=1) / denominator, torch.nan)


def passes_check(cs: Tensor, tau: float = 0.55) -> Tensor:
    """(N,) bool: -tau <= CS <= tau on the raw CS, so NaN fails (reference tau = 0.55; the paper's text 0.5)."""
    return (cs >= -tau) & (cs <= tau)


def recorded_cs(cs: Tensor) -> Tensor:
    """The CS the reference records: NaN becomes 0, after the check has been decided."""
    return torch.nan_to_num(cs, nan=0.0)
