"""Deletion and insertion AUC (Petsiuk et al., RISE, BMVC 2018): faithfulness without AVX's masks.

Deletion removes the pixels in the map's order, most salient first, and records the class
probability after each step; a faithful map makes it fall fast (low area under the curve).
Insertion starts from a blurred image and puts the original pixels back in the same order; a
faithful map makes the probability rise fast (high area). As in RISE's code, removed pixels take
the value 0 of the *normalised* input (the dataset's mean colour), insertion starts from the image
blurred by RISE's ``gkern(11, 5)`` (scipy's Gaussian of sigma 5 applied to an 11 x 11 delta, its
tails reflected back into the 11 taps; zero padding of the normalised input, i.e. the mean colour
beyond the edges), and the area is the trapezoid rule over the fraction of
pixels changed, in [0, 1]. RISE changes 224 pixels per step; ``steps`` sets how many steps cover
the image (the curve's resolution), and ties in a map are taken in raster order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["BLUR_SIGMA", "BLUR_TAPS", "blurred", "deletion_insertion_auc", "pixel_order", "rise_kernel"]

BLUR_TAPS = 11
BLUR_SIGMA = 5.0


def rise_kernel(taps: int = BLUR_TAPS, sigma: float = BLUR_SIGMA) -> Tensor:
    """One axis of RISE's ``gkern(taps, sigma)`` (its 2-D kernel is the outer product), float64."""
    from scipy.ndimage import gaussian_filter1d

    delta = np.zeros(taps)
    delta[taps // 2] = 1.0
    return torch.from_numpy(gaussian_filter1d(delta, sigma))


def blurred(images: Tensor, fill: Tensor, taps: int = BLUR_TAPS, sigma: float = BLUR_SIGMA) -> Tensor:
    """(N, 3, H, W) images blurred by RISE's kernel, ``fill`` (3,) beyond the edges, in float32."""
    kernel = rise_kernel(taps, sigma).to(device=images.device, dtype=torch.float32)
    channels = images.shape[1]
    offset = fill.to(device=images.device, dtype=torch.float32).view(1, channels, 1, 1)
    padded = torch.nn.functional.pad(images.to(torch.float32) - offset, (taps // 2,) * 4)
    rows = torch.nn.functional.conv2d(padded, kernel.view(1, 1, 1, taps).expand(channels, 1, 1, taps), groups=channels)
    columns = kernel.view(1, 1, taps, 1).expand(channels, 1, taps, 1)
    return torch.nn.functional.conv2d(rows, columns, groups=channels) + offset


def pixel_order(maps: Tensor) -> Tensor:
    """(N, H, W) maps -> (N, H*W) each pixel's rank, 0 for the most salient; ties in raster order."""
    flat = maps.flatten(start_dim=1)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=maps.device).expand_as(order))
    return ranks


def _area(curve: Tensor) -> Tensor:
    """(N, S+1) probabilities at 0, 1/S, ..., 1 of the pixels changed -> (N,) trapezoid area."""
    steps = curve.shape[1] - 1
    return (curve.sum(dim=1) - (curve[:, 0] + curve[:, -1]) / 2) / steps


def _curves(
    classify: Callable[[Tensor], Tensor],
    start: Tensor,
    end: Tensor,
    ranks: Tensor,
    targets: Tensor,
    steps: int,
    batch_size: int,
) -> Tensor:
    """Probability of each target as pixels go from ``start`` to ``end`` in rank order: (N, steps + 1)."""
    count, _, height, width = start.shape
    changed = torch.round(torch.arange(steps + 1, device=start.device) * (height * width / steps)).long()
    jobs = [(n, s) for n in range(count) for s in range(steps + 1)]
    probabilities = torch.empty(count, steps + 1, dtype=torch.float64)
    for first in range(0, len(jobs), batch_size):
        chunk = torch.tensor(jobs[first : first + batch_size], device=start.device)
        image, step = chunk[:, 0], chunk[:, 1]
        swap = (ranks[image] < changed[step].unsqueeze(1)).view(-1, 1, height, width)
        with torch.inference_mode():
            scores = classify(torch.where(swap, end[image], start[image]))
        picked = scores.gather(1, targets[image].unsqueeze(1)).squeeze(1)
        probabilities[image.cpu(), step.cpu()] = picked.double().cpu()
    return probabilities


def deletion_insertion_auc(
    classify: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: Tensor,
    targets: Tensor,
    removed: Tensor,
    steps: int = 32,
    batch_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """Deletion and insertion AUC of each map, batched on the images' device.

    Args:
        classify: (B, 3, H, W) images (pixel values 0-255, any float or uint8 dtype) -> (B, C)
            class probabilities.
        images: (N, 3, H, W) originals at the network's input size.
        maps: (N, H, W) saliency maps (only their order matters).
        targets: (N,) the class whose probability is followed.
        removed: (3,) the pixel value a deleted pixel takes (RISE: the normalisation's mean).
        steps: the curve has ``steps + 1`` points, from no pixel to every pixel changed.
        batch_size: images per forward pass.

    Returns:
        (N,) deletion AUC (lower is better) and (N,) insertion AUC (higher is better), float64 on the CPU.
    """
    if maps.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"maps must have shape {(images.shape[0], *images.shape[2:])}, got {tuple(maps.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    originals = images.to(torch.float32)
    ranks = pixel_order(maps)
    grey = removed.to(originals).view(1, 3, 1, 1).expand_as(originals)
    deletion = _curves(classify, originals, grey, ranks, targets, steps, batch_size)
    insertion = _curves(classify, blurred(originals, removed), originals, ranks, targets, steps, batch_size)
    return _area(deletion), _area(insertion)
