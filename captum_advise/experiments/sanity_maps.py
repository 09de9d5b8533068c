"""Signed saliency maps at input resolution for the sanity checks, one method at a time."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from captum_advise.attr import LayerADVISE
from captum_advise.baselines import CAM_CLASSES, GradCamLibraryMethod
from captum_advise.matlab import upsample_maps

__all__ = ["SANITY_METHODS", "sanity_maps"]

SANITY_METHODS = ("advise", "gradcam", "gradcampp", "layercam")


def sanity_maps(method: str, model: nn.Module, layer: nn.Module, inputs: Tensor, targets: Tensor) -> Tensor:
    """(N, H, W) maps without the final ReLU, at input resolution.

    ADVISE gives its ``"auto"`` group's raw signed map (resized with MATLAB's bicubic, not
    normalised), so the absolute and signed rank correlations differ. The others come from
    pytorch-grad-cam with its ReLU removed, min-max scaled (so for them the sign is gone and the
    two rank correlations coincide) and resized the same way.
    """
    size = tuple(inputs.shape[-2:])
    if method == "advise":
        maps = LayerADVISE(model, layer).attribute(inputs, target=targets, peaks="auto", relu_attributions=False)
        return upsample_maps(maps.detach()[:, 0], size)
    if method in CAM_CLASSES:
        with torch.enable_grad():
            return GradCamLibraryMethod(method, relu=False)(model, layer, inputs, targets)
    raise ValueError(f"no sanity maps for method {method!r}: choose from {', '.join(SANITY_METHODS)}")
