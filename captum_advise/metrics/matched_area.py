"""Matched-area masks: every map keeps the same share of the pixels, so a map wins only by choosing them well.

The reference's binary mask keeps the pixels whose map value is at least 0.5: a map that is high
almost everywhere keeps almost the whole image, and the protocol's measures reward that. Keeping
exactly the top ``q`` of the pixels by each map's values removes the area from the comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["kept_area", "kept_pixel_count", "top_area_masks"]


def kept_pixel_count(area: float, pixels: int) -> int:
    """round(area x pixels), halves rounded up; ``area`` in (0, 1]."""
    if not 0 < area <= 1:
        raise ValueError(f"a matched area must lie in (0, 1], got {area}")
    return min(pixels, math.floor(area * pixels + 0.5))


def top_area_masks(maps: Tensor, area: float, seeds: Sequence[int] | None = None) -> Tensor:
    """(M, H, W) maps -> (M, H, W) bool: each map's top ``kept_pixel_count(area, H * W)`` pixels.

    Ties (pixels of equal value across the cut) are broken at random: map ``m``'s pixels are first
    put in the order of a random permutation drawn from a generator seeded with ``seeds[m]``, then
    sorted by value with a stable sort, so among equal values every subset is equally likely and a
    constant map keeps a uniformly spread set of pixels; the same map and seed keep the same pixels.
    ``seeds`` None: ties in row-major order (row by row, left to right), so a constant map keeps
    its top rows.
    """
    flat = maps.flatten(start_dim=1)
    count = kept_pixel_count(area, flat.shape[1])
    if flat.shape[0] == 0:
        return torch.zeros_like(maps, dtype=torch.bool)
    if seeds is None:
        # A stable descending sort keeps equal values in row-major order.
        order = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :count]
    else:
        if len(seeds) != flat.shape[0]:
            raise ValueError(f"{len(seeds)} tie-breaking seeds for {flat.shape[0]} maps")
        shuffles = torch.stack(
            [torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(int(seed))) for seed in seeds]
        ).to(flat.device)
        shuffled = torch.sort(flat.gather(1, shuffles), dim=1, descending=True, stable=True).indices[:, :count]
        order = shuffles.gather(1, shuffled)
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep.scatter_(1, order, True)
    return keep.view_as(maps)


def kept_area(maps: Tensor, mask: str) -> Tensor:
    """(M, H, W) maps -> (M,) float64 share of the image the reference's mask keeps: the share of
    pixels at or above 0.5 (``"binary"``), or the mean of the map clipped to [0, 1] (``"soft"``)."""
    if mask == "binary":
        return (maps >= 0.5).flatten(start_dim=1).double().mean(dim=1)
    return maps.clamp(0, 1).flatten(start_dim=1).double().mean(dim=1)
