"""The masked image I ⊙ E that the evaluation feeds back to the model (spec §5)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["mask_images"]

MaskKind = Literal["binary", "soft"]


def mask_images(images: Tensor, maps: Tensor, mask: MaskKind = "binary") -> Tensor:
    """Multiply uint8 images by explanation maps.

    Args:
        images: (N, 3, H, W) uint8 images at the network's input size.
        maps: (N, H, W) maps at the same size, about [0, 1] (bicubic may overshoot).
        mask: ``"binary"`` (reference): the authors cast the map to uint8 before multiplying, which
            rounds it, so a pixel is kept where the map is >= 0.5 (MATLAB rounds halves up) and
            dropped elsewhere; ``"soft"``: the image is scaled by the map clipped to [0, 1] and
            rounded back to uint8.

    Returns:
        (N, 3, H, W) uint8 masked images.
    """
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (N, 3, H, W), got {images.dtype}")
    if maps.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"maps must have shape {(images.shape[0], *images.shape[2:])}, got {tuple(maps.shape)}")
    if mask == "binary":
        keep = (maps >= 0.5).unsqueeze(1)
        return torch.where(keep, images, 0)
    if mask == "soft":
        weights = maps.clamp(0, 1).unsqueeze(1).to(torch.float64)
        return (images.to(torch.float64) * weights).round().to(torch.uint8)
    raise ValueError(f"mask must be 'binary' or 'soft', got {mask!r}")
