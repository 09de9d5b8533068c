"""ADVISE for the evaluator: every kept peak group of each image, and the ``"auto"`` group."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from captum_advise.attr import LayerADVISE
from captum_advise.baselines.explanations import Explanations, MapVariant
from captum_advise.imresize import UpsampleMode

__all__ = ["AdviseMethod"]


@dataclass
class AdviseMethod:
    """ADVISE's group maps (min-max normalised at layer resolution, then bicubic, spec §4).

    Attributes:
        value_range, density_of, score, n_bandwidths: options of :class:`LayerADVISE`.
        relu_attributions: False keeps the groups' negative values (the noise ablation).
        upsample: ``"matlab_bicubic"`` (reference) or torch's ``"bicubic"`` / ``"bilinear"``.
    """

    name: str = "advise"
    value_range: Literal["fixed", "unit"] = "fixed"
    density_of: Literal["activations", "gradients"] = "activations"
    score: Literal["softmax", "logit"] = "softmax"
    n_bandwidths: int = 10
    relu_attributions: bool = True
    upsample: UpsampleMode = "matlab_bicubic"

    def explain_batch(
        self, model: nn.Module, layer: nn.Module, inputs: Tensor, first: Tensor, second: Tensor
    ) -> Explanations:
        """Maps of every kept group for c1 and c2, plus the auto group's (method ``advise-auto``)."""
        start = time.perf_counter()
        advise = LayerADVISE(
            model,
            layer,
            density_of=self.density_of,
            value_range=self.value_range,
            n_bandwidths=self.n_bandwidths,
            score=self.score,
        )
        explanation = advise.explain(
            inputs, target=first, second_target=second, relu_attributions=self.relu_attributions
        )
        size = tuple(inputs.shape[-2:])
        first_maps = explanation.interpolate(size, self.upsample)
        second_maps = explanation.interpolate(size, self.upsample, second=True)
        seconds = time.perf_counter() - start

        maps, seconds_maps, variants = [], [], []
        auto_name = f"{self.name}-auto"
        for n, groups in enumerate(explanation.groups):
            auto = explanation.auto_peaks[n]
            labels = [
                MapVariant(self.name, group.peaks, int(group.units.numel()), auto_name if group.peaks == auto else None)
                for group in groups
            ]
            first_n, second_n = first_maps[n], second_maps[n]
            if not groups:
                # No group has a non-constant map: the explanation is an all-zero map.
                first_n = second_n = torch.zeros((1, *size), device=inputs.device)
                labels = [MapVariant(self.name)]
            if auto is None:
                # peaks="auto" found no group with positive evidence: its map is all zeros.
                zeros = torch.zeros((1, *size), device=inputs.device)
                first_n, second_n = torch.cat([first_n, zeros]), torch.cat([second_n, zeros])
                labels.append(MapVariant(auto_name))
            maps.append(first_n)
            seconds_maps.append(second_n)
            variants.append(labels)
        return Explanations(maps, seconds_maps, variants, seconds)
