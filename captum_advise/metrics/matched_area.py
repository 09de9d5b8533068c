"""Matched-area masks: every map keeps the same share of the pixels, so a map wins only by choosing them well.

The reference's binary mask keeps the pixels whose map value is at least 0.5: a map that is high
almost everywhere keeps almost the whole image, and the protocol's measures reward that. Keeping
exactly the top ``q`` of the pixels by each map's values removes the area from the comparison.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["kept_area", "kept_pixel_count", "top_area_masks"]


def kept_pixel_count(area: float, pixels: int) -> int:
    """round(area x pixels), halves rounded up; ``area`` in (0, 1]."""
    if not 0 < area <= 1:
        raise ValueError(f"a matched area must lie in (0, 1], got {area}")
    return min(pixels, math.floor(area * pixels + 0.5))


def top_area_masks(maps: Tensor, area: float) -> Tensor:
    """(M, H, W) maps -> (M, H, W) bool: each map's top ``kept_pixel_count(area, H * W)`` pixels.

    Ties are broken by a fixed order: among pixels with equal values, the one earlier in row-major
    order (row by row, left to right) is kept first, so a constant map keeps its top rows.
    """
    flat = maps.flatten(start_dim=1)
    count = kept_pixel_count(area, flat.shape[1])
    # A stable descending sort keeps equal values in row-major order.
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :count]
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep.scatter_(1, order, True)
    return keep.view_as(maps)


def kept_area(maps: Tensor, mask: str) -> Tensor:
    """(M, H, W) maps -> (M,) float64 share of the image the reference's mask keeps: the share of
    pixels at or above 0.5 (``"binary"``), or the mean of the map clipped to [0, 1] (``"soft"``)."""
    if mask == "binary":
        return (maps >= 0.5).flatten(start_dim=1).double().mean(dim=1)
    return maps.clamp(0, 1).flatten(start_dim=1).double().mean(dim=1)
