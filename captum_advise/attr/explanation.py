"""ADVISE's full result for a batch: unit relevance, peak groups and their maps (spec §4 step 6)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from captum_advise.matlab import UpsampleMode, upsample_maps

__all__ = ["ADVISEExplanation", "PeakGroup", "min_max_normalize", "normalize_and_resize"]


def min_max_normalize(maps: Tensor) -> Tensor:
    """Rescale each (U, V) map of a (..., U, V) tensor to [0, 1]; a constant map becomes all zeros."""
    flat = maps.flatten(start_dim=-2)
    low = flat.amin(dim=-1, keepdim=True)
    span = flat.amax(dim=-1, keepdim=True) - low
    scaled = torch.where(span > 0, (flat - low) / torch.where(span > 0, span, 1), 0)
    return scaled.view_as(maps)


@dataclass(frozen=True)
class PeakGroup:
    """One peak group of one example.

    Attributes:
        peaks: p, the number of peaks every unit of the group has.
        units: (``|S_p|``,) long indices of the group's units in the layer.
        attribution: (U, V) the group's map at layer resolution (Grad-CAM restricted to the group;
            ReLU applied unless ``relu_attributions=False``).
        evidence: the sum of the group's signed map: its share of the Grad-CAM map's total.
        second_attribution: (U, V) the same group's map for the second target, when one was
            asked for (spec §4 step 6: map for c2), else None.
    """

    peaks: int
    units: Tensor
    attribution: Tensor
    evidence: float
    second_attribution: Tensor | None = None


@dataclass(frozen=True)
class ADVISEExplanation:
    """ADVISE's explanation of N examples.

    Attributes:
        relevance: (N, K) long, each unit's peak count phi_k.
        target: (N,) long, the explained class of each example.
        groups: for each example, its kept peak groups (non-constant map, spec §4 step 5) in
            increasing peak count.
        auto_peaks: for each example, the peak count ``peaks="auto"`` picks (None when no group
            carries positive evidence).
        grad_cam: (N, U, V) the map of all units together (Grad-CAM on the same scores, ReLU
            applied unless ``relu_attributions=False``).
        second_target: (N,) long, the second explained class, or None.
    """

    relevance: Tensor
    target: Tensor
    groups: list[list[PeakGroup]]
    auto_peaks: list[int | None]
    grad_cam: Tensor
    second_target: Tensor | None = None

    @property
    def peak_counts(self) -> list[list[int]]:
        """For each example, the peak counts of its kept groups."""
        return [[group.peaks for group in groups] for groups in self.groups]

    def group(self, example: int, peaks: int) -> PeakGroup:
        """The kept group of ``example`` whose units have ``peaks`` peaks (KeyError if none)."""
        for group in self.groups[example]:
            if group.peaks == peaks:
                return group
        raise KeyError(f"example {example} has no kept group with {peaks} peaks; it has {self.peak_counts[example]}")

    def interpolate(
        self, size: tuple[int, int], interpolate_mode: UpsampleMode = "matlab_bicubic", second: bool = False
    ) -> list[Tensor]:
        """Each example's group maps, min-max normalised, then resized to the input's size (spec §4 step 4).

        Args:
            size: (H, W), the input's spatial size.
            interpolate_mode: ``"matlab_bicubic"`` (the reference: MATLAB's ``imresize``, Keys'
                a = -0.5, mirrored edges), or torch's ``"bicubic"`` / ``"bilinear"`` (as
                ``LayerAttribution.interpolate``); bicubic values may overshoot [0, 1] slightly.
            second: the maps for the second target instead (``explain(second_target=...)``).

        Returns:
            One (G_n, H, W) tensor per example, its groups in the order of ``groups[n]``
            (G_n may be 0).
        """
        resized = []
        for groups in self.groups:
            if not groups:
                resized.append(torch.zeros((0, *size), device=self.target.device))
                continue
            if second and groups[0].second_attribution is None:
                raise ValueError("no second-target maps: call explain(..., second_target=...)")
            maps = [group.second_attribution if second else group.attribution for group in groups]
            resized.append(normalize_and_resize(torch.stack(maps), size, interpolate_mode))
        return resized

    def interpolate_grad_cam(self, size: tuple[int, int], interpolate_mode: UpsampleMode = "matlab_bicubic") -> Tensor:
        """(N, H, W) the all-units maps, normalised and resized as :meth:`interpolate` does."""
        return normalize_and_resize(self.grad_cam, size, interpolate_mode)


def normalize_and_resize(
    maps: Tensor, size: tuple[int, int], interpolate_mode: UpsampleMode = "matlab_bicubic"
) -> Tensor:
    """(G, U, V) maps -> (G, H, W): min-max normalised at layer resolution, then resized (spec §4 step 4)."""
    return upsample_maps(min_max_normalize(maps), size, interpolate_mode)
