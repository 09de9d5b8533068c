"""MSE between the masked and the original image, on a [0, 1] scale (spec §5)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["normalized_mse"]


def normalized_mse(images: Tensor, references: Tensor) -> Tensor:
    """(N,) float64 mean over pixels and channels of (image - reference)^2 / 255^2."""
    difference = images.to(torch.float64) - references.to(torch.float64)
    return difference.square().flatten(1).mean(dim=1) / 255.0**2
