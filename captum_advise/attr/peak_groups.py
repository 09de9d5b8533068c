"""Peak groups and their Grad-CAM maps (spec §4 step 3), batched over examples and groups.

A peak group S_p holds the units whose density has exactly p peaks; its map is Grad-CAM restricted
to those units: sum_{k in S_p} w_k A_k, with w_k the spatial mean of unit k's gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["grad_cam_weights", "group_evidence", "group_maps", "maps_vary"]


def grad_cam_weights(gradients: Tensor) -> Tensor:
    """(N, K, U, V) gradients -> (N, K) Grad-CAM weights (mean over the U x V positions)."""
    return gradients.mean(dim=(2, 3))


def group_maps(activations: Tensor, weights: Tensor, relevance: Tensor, peak_values: Tensor) -> Tensor:
    """Signed Grad-CAM map of each peak group, before any ReLU.

    Args:
        activations: (N, K, U, V) layer activations A.
        weights: (N, K) Grad-CAM weights w.
        relevance: (N, K) peak count of each unit.
        peak_values: (P,) the peak counts p whose groups are wanted.

    Returns:
        (N, P, U, V): entry [n, i] is sum over units k with relevance[n, k] == peak_values[i] of
        weights[n, k] * activations[n, k]; all zeros where example n has no such unit.
    """
    membership = (relevance.unsqueeze(-1) == peak_values.to(relevance.device)).to(activations.dtype)
    return torch.einsum("nk,nkp,nkuv->npuv", weights.to(activations.dtype), membership, activations)


def group_evidence(maps: Tensor) -> Tensor:
    """(N, P, U, V) signed group maps -> (N, P) each group's share of the Grad-CAM map's total.

    The Grad-CAM map (before ReLU) is the sum of the group maps, so these numbers add up to its
    total: a group's evidence is how much of the class evidence that Grad-CAM sees it carries.
    """
    return maps.sum(dim=(2, 3))


def maps_vary(maps: Tensor) -> Tensor:
    """(..., U, V) -> (...) bool: True where a map is not constant.

    A constant map min-max normalises to all zeros, which spec §4 step 5 drops.
    """
    flat = maps.flatten(start_dim=-2)
    return flat.amax(dim=-1) > flat.amin(dim=-1)
