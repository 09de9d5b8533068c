"""MATLAB's arithmetic where the reference's results depend on it: ``imresize`` and ``linspace``.

``imresize(..., 'bicubic')`` (spec §4 step 4, §5), exactly, as two small matrix products. The
reference upsamples every map and resizes every photo with it: Keys' cubic kernel with a = -0.5,
symmetric (mirrored) edges, weights normalised to sum 1, and, when shrinking, the kernel stretched
by 1/scale (antialiasing). torch's bicubic uses a = -0.75 and clamped edges and
never antialiases, which moves about 1% of the protocol's mask pixels. Resizing is separable, so
each axis is one (out x in) weight matrix; MATLAB resizes the axis that shrinks most first and, for
uint8 images, rounds back to uint8 after each axis.

``linspace`` (spec §2): its rounding differs from ``torch.linspace`` in the last bit, and the
density estimate's histogram edges are built from its points.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "UPSAMPLE_MODES",
    "UpsampleMode",
    "cubic",
    "imresize",
    "linspace",
    "linspace_rows",
    "resize_weights",
    "upsample_maps",
]

UpsampleMode = Literal["matlab_bicubic", "bicubic", "bilinear"]
UPSAMPLE_MODES: tuple[str, ...] = ("matlab_bicubic", "bicubic", "bilinear")
KERNEL_WIDTH = 4.0


def cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = x.abs()
    near = (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
    far = (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def resize_weights(in_length: int, out_length: int, antialias: bool = True) -> Tensor:
    """The (out_length, in_length) float64 matrix of MATLAB's bicubic ``imresize`` along one axis.

    Output pixel i (1-based) samples the input at u = i/scale + (1 - 1/scale)/2; taps falling
    outside [1, in_length] are mirrored back (…, 2, 1, 1, 2, …, n, n, n-1, …).
    """
    if in_length < 1 or out_length < 1:
        raise ValueError(f"lengths must be positive, got {in_length} -> {out_length}")
    scale = out_length / in_length
    width = KERNEL_WIDTH
    stretch = 1.0
    if scale < 1 and antialias:
        width, stretch = KERNEL_WIDTH / scale, scale
    x = torch.arange(1, out_length + 1, dtype=torch.float64).unsqueeze(1)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = left + torch.arange(math.ceil(width) + 2, dtype=torch.float64)
    weights = stretch * cubic(stretch * (u - taps))
    weights = weights / weights.sum(dim=1, keepdim=True)
    mirror = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    columns = mirror[(taps.long() - 1) % (2 * in_length)]
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    return matrix.scatter_add_(1, columns, weights)


def _resize_axis(values: Tensor, matrix: Tensor, dim: int, integer: bool) -> Tensor:
    moved = values.movedim(dim, -1)
    resized = (moved @ matrix.T.to(moved.device)).movedim(-1, dim)
    # MATLAB rounds half away from zero and saturates when the image is uint8, after every axis.
    return torch.floor(resized + 0.5).clamp(0, 255) if integer else resized


def imresize(images: Tensor, size: tuple[int, int], antialias: bool = True) -> Tensor:
    """MATLAB's ``imresize(images, size, 'bicubic')`` of the last two axes.

    Args:
        images: (..., H, W) tensor; uint8 (an image: rounded back to uint8 after each axis, as
            MATLAB does) or floating point (a map: computed in float64, values may overshoot).
        size: (h, w), the output's spatial size.
        antialias: stretch the kernel when shrinking (MATLAB's default).

    Returns:
        (..., h, w), uint8 for uint8 input, else float64.
    """
    if images.dim() < 2:
        raise ValueError(f"images must have at least two axes (..., H, W), got shape {tuple(images.shape)}")
    height, width = images.shape[-2:]
    integer = images.dtype == torch.uint8
    if not integer and not images.is_floating_point():
        raise ValueError(f"images must be uint8 or floating point, got {images.dtype}")
    values = images.to(torch.float64)
    scales = {-2: size[0] / height, -1: size[1] / width}
    # The axis with the smaller scale first (MATLAB's dimension order; rows first on a tie).
    for dim in sorted(scales, key=lambda d: (scales[d], d)):
        if values.shape[dim] != size[dim + 2]:
            matrix = resize_weights(values.shape[dim], size[dim + 2], antialias)
            values = _resize_axis(values, matrix, dim, integer)
    return values.to(torch.uint8) if integer else values


def upsample_maps(maps: Tensor, size: tuple[int, int], mode: UpsampleMode = "matlab_bicubic") -> Tensor:
    """(G, U, V) maps -> (G, H, W) in the maps' dtype: MATLAB's bicubic (reference) or torch's.

    ``"bicubic"`` and ``"bilinear"`` are ``torch.nn.functional.interpolate`` (a = -0.75 and
    clamped edges for bicubic), as Captum's ``LayerAttribution.interpolate`` uses.
    """
    if mode == "matlab_bicubic":
        return imresize(maps, size).to(maps.dtype)
    if mode in ("bicubic", "bilinear"):
        return torch.nn.functional.interpolate(maps.unsqueeze(1), size, mode=mode)[:, 0]
    raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {mode!r}")


def linspace(start: float, stop: float, num: int, *, device: torch.device) -> Tensor:
    """MATLAB's ``linspace``: ``start + (0:num-1) * step`` with the last point set to ``stop``, float64."""
    if num == 1:
        return torch.tensor([stop], dtype=torch.float64, device=device)
    points = start + torch.arange(num, dtype=torch.float64, device=device) * ((stop - start) / (num - 1))
    points[-1] = stop
    return points


def linspace_rows(start: float, stop: float, lengths: Tensor, n_columns: int) -> Tensor:
    """Row ``u``: MATLAB ``linspace(start, stop, lengths[u])`` in its first ``lengths[u]`` of ``n_columns`` columns."""
    columns = torch.arange(n_columns, dtype=torch.float64, device=lengths.device)
    step = (stop - start) / (lengths.clamp(min=2) - 1).to(torch.float64)
    points = start + columns * step[:, None]
    return torch.where(columns == (lengths[:, None] - 1), stop, points)
