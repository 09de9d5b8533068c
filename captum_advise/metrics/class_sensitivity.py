"""CS: how different the maps for the top two classes are (spec §5), and the check that uses it."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["class_sensitivity", "passes_check"]


def class_sensitivity(first_maps: Tensor, second_maps: Tensor) -> Tensor:
    """Pearson correlation over all pixels between each pair of maps; 0 where it is undefined.

    Args:
        first_maps: (N, H, W) maps for the predicted class c1.
        second_maps: (N, H, W) maps for the second class c2.

    Returns:
        (N,) float64 correlations; a constant map (NaN correlation in MATLAB's corr2) gives 0.
    """
    x = first_maps.flatten(1).to(torch.float64)
    y = second_maps.flatten(1).to(torch.float64)
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean(dim=1, keepdim=True)
    denominator = (x.square().sum(dim=1) * y.square().sum(dim=1)).sqrt()
    correlation = (x * y).sum(dim=1) / denominator
    return torch.where(denominator > 0, correlation, 0.0)


def passes_check(cs: Tensor, tau: float = 0.55) -> Tensor:
    """(N,) bool: -tau <= CS <= tau (reference tau = 0.55; the paper's text says 0.5)."""
    return (cs >= -tau) & (cs <= tau)
