"""Salt-and-pepper noise as MATLAB's ``imnoise(I, 'salt & pepper', d)`` adds it (paper §4.2.1)."""

from __future__ import annotations

import zlib

import torch
from torch import Tensor

__all__ = ["PAPER_DENSITIES", "noise_generator", "salt_and_pepper"]

PAPER_DENSITIES = tuple(round(0.025 * step, 3) for step in range(1, 10))


def salt_and_pepper(images: Tensor, density: float, generator: torch.Generator | None = None) -> Tensor:
    """Set a fraction ``density`` of the values to 0 or 255, half each.

    Like MATLAB's imnoise on an RGB array, every value (pixel and channel) is drawn independently.

    Args:
        images: uint8 tensor, any shape.
        density: expected fraction of values replaced, in [0, 1]; 0 returns an unchanged copy.
        generator: for reproducible noise.

    Returns:
        A noisy uint8 copy.
    """
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if not 0 <= density <= 1:
        raise ValueError(f"density must lie in [0, 1], got {density}")
    draws = torch.rand(images.shape, generator=generator, device="cpu").to(images.device)
    noisy = torch.where(draws < density / 2, 0, images)
    return torch.where((draws >= density / 2) & (draws < density), 255, noisy).to(torch.uint8)


def noise_generator(name: str, seed: int) -> torch.Generator:
    """A generator seeded from an image's name and a run seed: the same image gets the same noise
    in every run, batch and shard."""
    return torch.Generator().manual_seed(zlib.crc32(name.encode()) * 1000 + seed)
