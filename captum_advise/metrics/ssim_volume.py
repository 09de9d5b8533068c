"""SSIM the way MATLAB computes it for an H x W x 3 image: as one 3-D volume (spec §5).

MATLAB's ``ssim`` smooths with a 3-D Gaussian (sigma 1.5, 11 taps, replicated edges) across rows,
columns and the three channels together, and averages the SSIM map over all voxels. scikit-image's
per-channel SSIM gives different numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SsimReferences", "gaussian_taps", "ssim_against", "ssim_references", "ssim_volume"]

SIGMA = 1.5
DATA_RANGE = 255.0


def gaussian_taps(sigma: float = SIGMA) -> Tensor:
    """The normalised 1-D Gaussian MATLAB's ssim filters with: 2 * ceil(3 * sigma) + 1 taps (11)."""
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-(offsets**2) / (2 * sigma**2))
    return taps / taps.sum()


def _channel_mixing(taps: Tensor, channels: int) -> Tensor:
    """The Gaussian across the channel axis with replicated edges, as a (channels, channels) matrix.

    With only three channels and 11 taps, replication folds every tap onto an existing channel.
    """
    radius = taps.numel() // 2
    mixing = torch.zeros(channels, channels, dtype=taps.dtype)
    for out_channel in range(channels):
        for offset in range(-radius, radius + 1):
            source = min(max(out_channel + offset, 0), channels - 1)
            mixing[out_channel, source] += taps[offset + radius]
    return mixing


def _smooth_axis(values: Tensor, taps: Tensor, dim: int) -> Tensor:
    radius = taps.numel() // 2
    length = values.shape[dim]
    first = values.narrow(dim, 0, 1).expand(*[radius if d == dim % values.dim() else -1 for d in range(values.dim())])
    last = values.narrow(dim, length - 1, 1).expand_as(first)
    padded = torch.cat([first, values, last], dim=dim)
    out = taps[0] * padded.narrow(dim, 0, length)
    for offset in range(1, taps.numel()):
        out += taps[offset] * padded.narrow(dim, offset, length)
    return out


def _smooth(volumes: Tensor, taps: Tensor) -> Tensor:
    """Separable Gaussian along the last three axes of (..., D, H, W), edges replicated.

    The channel axis is mixed element by element (each output channel a sum over the input
    channels in order), so a volume's result does not depend on what it is stacked with.
    """
    mixing = _channel_mixing(taps, volumes.shape[-3]).tolist()
    channels = volumes.unbind(-3)
    mixed = []
    for weights in mixing:
        total = weights[0] * channels[0]
        for weight, channel in zip(weights[1:], channels[1:], strict=True):
            total = total + weight * channel
        mixed.append(total)
    mixed = torch.stack(mixed, dim=-3)
    return _smooth_axis(_smooth_axis(mixed, taps, -1), taps, -2)


@dataclass(frozen=True)
class SsimReferences:
    """The reference half of SSIM for N images: their smoothed values and squares, each (N, 3, H, W) float64."""

    mean: Tensor
    square_mean: Tensor

    def __getitem__(self, index: Tensor) -> SsimReferences:
        return SsimReferences(self.mean[index], self.square_mean[index])


def ssim_references(references: Tensor) -> SsimReferences:
    """The reference half of SSIM, computed once for :func:`ssim_against`.

    Args:
        references: (N, 3, H, W) reference images (uint8 values, any dtype).

    Returns:
        Their smoothed values and squares (float64).
    """
    y = references.to(torch.float64)
    means = [_smooth(torch.stack([part, part * part]), gaussian_taps()) for part in y.split(1)]
    return SsimReferences(torch.cat([m[0] for m in means]), torch.cat([m[1] for m in means]))


def ssim_against(images: Tensor, references: Tensor, moments: SsimReferences, index: Tensor | None = None) -> Tensor:
    """MATLAB's ``ssim(A, ref)`` of each image against its reference, the reference's half precomputed.

    Args:
        images: (M, 3, H, W) images (uint8 values, any dtype).
        references: (N, 3, H, W) the reference images.
        moments: :func:`ssim_references` of ``references``.
        index: (M,) which reference each image is compared with; None: image m with reference m.

    Returns:
        (M,) float64 mean SSIM over all voxels, bitwise the value of smoothing x, y, x², y² and
        x·y together (the reference's half is the same arithmetic, done once). Where an image is a
        binary mask of its reference (every value either the reference's or 0), x·y = x·x exactly,
        and only x and x·x are smoothed.
    """
    if index is None:
        index = torch.arange(images.shape[0], device=images.device)
    if images.shape[1:] != references.shape[1:] or images.dim() != 4 or index.shape != images.shape[:1]:
        raise ValueError(
            f"images (M, 3, H, W) and references (N, 3, H, W) do not match: {images.shape}, {references.shape}"
        )
    if images.shape[0] == 0:
        return torch.zeros(0, dtype=torch.float64, device=images.device)
    # One image at a time: its float64 volumes stay in cache (3x faster than a batch here).
    return torch.cat(
        [_ssim_one(images[m : m + 1], references[n : n + 1], moments[n : n + 1]) for m, n in enumerate(index.tolist())]
    )


def ssim_volume(images: Tensor, references: Tensor) -> Tensor:
    """MATLAB's ``ssim(A, ref)`` of H x W x 3 uint8 images, batched.

    Args:
        images: (N, 3, H, W) images (uint8 values, any dtype).
        references: (N, 3, H, W) the reference images.

    Returns:
        (N,) float64 mean SSIM over all voxels (rows, columns and channels).
    """
    if images.shape != references.shape or images.dim() != 4:
        raise ValueError(f"images and references must both be (N, 3, H, W), got {images.shape} and {references.shape}")
    return ssim_against(images, references, ssim_references(references))


def _ssim_one(images: Tensor, references: Tensor, moments: SsimReferences) -> Tensor:
    taps = gaussian_taps()
    x = images.to(torch.float64)
    mu_y, yy = moments.mean, moments.square_mean
    c1 = (0.01 * DATA_RANGE) ** 2
    c2 = (0.03 * DATA_RANGE) ** 2
    if bool(((images == references) | (images == 0)).all()):
        mu_x, xx = _smooth(torch.stack([x, x * x]), taps).unbind(0)
        xy = xx
    else:
        mu_x, xx, xy = _smooth(torch.stack([x, x * x, x * references.to(torch.float64)]), taps).unbind(0)
    sigma_x = xx - mu_x**2
    sigma_y = yy - mu_y**2
    sigma_xy = xy - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (sigma_x + sigma_y + c2)
    return (numerator / denominator).flatten(1).mean(dim=1)
