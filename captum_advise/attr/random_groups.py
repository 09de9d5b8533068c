"""The random-groups control: the units partitioned at random into groups of ADVISE's own sizes.

If ADVISE's peak counts make its groups good, its maps should beat maps of groups that have the
same sizes but whose units were drawn at random; everything else (Grad-CAM weights, maps, rules,
evaluation) stays the same. Shuffling a unit's peak count among the units does exactly that: every
peak count keeps its number of units.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["shuffled_relevance"]


def shuffled_relevance(relevance: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
    """Each example's peak counts permuted over its units by its own generator.

    Args:
        relevance: (N, K) integer peak counts (:meth:`LayerADVISE.relevance`).
        generators: N CPU generators, one per example.

    Returns:
        (N, K) on ``relevance``'s device: row n is a random permutation of ``relevance[n]``, so each
        peak count labels as many units as before (a layer with one unit, or an example whose units
        all have one peak count, is left as it is: there is one partition of those sizes).
    """
    if relevance.dim() != 2:
        raise ValueError(f"relevance must be (N, K), got shape {tuple(relevance.shape)}")
    if len(generators) != relevance.shape[0]:
        raise ValueError(f"{len(generators)} generators for {relevance.shape[0]} examples")
    units = relevance.shape[1]
    orders = torch.stack([torch.randperm(units, generator=generator) for generator in generators])
    return relevance.gather(1, orders.to(relevance.device))
