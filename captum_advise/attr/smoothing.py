"""pytorch-grad-cam's two smoothing options for one map per example, computed as 1.5.7 computes them.

``eigen_smooth``: the map is the projection of the weighted units on their first principal
component (over the positions, each unit centred), instead of their sum. ``aug_smooth``: the mean
of the maps of six versions of the input (flipped horizontally or not, times 0.9, 1 and 1.1), each
map scaled as the library scales it and flipped back. The library's own code is not called:
its arithmetic is reproduced here (NumPy's SVD, float32 as the library returns), so that ADVISE's
maps follow it exactly; the tests compare with the library's Grad-CAM.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["AUGMENTATIONS", "augmentation_smoothed", "first_component", "library_scaled"]

# The library's default test-time augmentations, in its order: (flip horizontally, brightness factor).
AUGMENTATIONS = tuple((flip, factor) for flip in (False, True) for factor in (0.9, 1.0, 1.1))


def first_component(weighted: Tensor) -> Tensor:
    """(N, K, U, V) weighted units -> (N, 1, U, V) their projection on the first principal component.

    Each example's (U * V, K) matrix of positions by units is centred unit by unit, and projected on
    the first right singular vector of NumPy's SVD (its sign as NumPy gives it), in float32: as
    pytorch-grad-cam's ``get_2d_projection``. NaN values count as 0.
    """
    values = np.nan_to_num(weighted.detach().cpu().numpy(), nan=0.0)
    projections = []
    for units in values:
        positions = units.reshape(units.shape[0], -1).transpose()
        positions = positions - positions.mean(axis=0)
        _, _, right = np.linalg.svd(positions, full_matrices=True)
        projections.append((positions @ right[0, :]).reshape(units.shape[1:]))
    return torch.from_numpy(np.float32(projections)).to(weighted.device).unsqueeze(1)


def library_scaled(maps: Tensor) -> Tensor:
    """Each (U, V) map of (N, 1, U, V) scaled as pytorch-grad-cam's forward scales a one-layer map:
    ``x - min`` over ``1e-7 + max`` twice (once for the layer, once for the mean over layers)."""
    for _ in range(2):
        shifted = maps - maps.amin(dim=(-2, -1), keepdim=True)
        maps = shifted / (1e-7 + shifted.amax(dim=(-2, -1), keepdim=True))
    return maps


def augmentation_smoothed(explain: Callable[[Tensor], Tensor], inputs: Tensor) -> Tensor:
    """The mean over :data:`AUGMENTATIONS` of ``explain``'s (N, 1, U, V) maps of the augmented inputs
    (N, C, H, W), each scaled (:func:`library_scaled`) and flipped back, in float32 (the library's
    maps are ReLU'd first: ``explain``'s are as it gives them)."""
    maps = []
    for flip, factor in AUGMENTATIONS:
        augmented = (inputs.flip(-1) if flip else inputs) * factor
        scaled = library_scaled(explain(augmented).to(torch.float32))
        maps.append(scaled.flip(-1) if flip else scaled)
    return torch.stack(maps).mean(dim=0)
