"""Raw, signed saliency maps at input resolution for the sanity checks, one method at a time."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from captum_advise.attr import LayerADVISE
from captum_advise.attr.token_layout import ReshapeTransform
from captum_advise.cams.library_cams import library_attribution
from captum_advise.catalogue import sanity_methods
from captum_advise.matlab import upsample_maps

__all__ = ["sanity_maps"]


def sanity_maps(
    method: str,
    model: nn.Module,
    layer: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    reshape_transform: ReshapeTransform = None,
) -> Tensor:
    """(N, H, W) maps without the final ReLU and without any scaling, at input resolution.

    Every method is treated alike: ADVISE's ``"auto"`` group and the pytorch-grad-cam methods (their
    Captum attributions) explain the class's softmax probability, keep the negative values of the
    weighted sum, and are resized with MATLAB's bicubic. The comparison then makes the absolute and
    the signed form of each map the same way (:func:`~captum_advise.experiments.map_similarity`).
    ``reshape_transform`` reads a token layer (``"vit"``, ``"swin"``, a callable, or None).
    """
    size = tuple(inputs.shape[-2:])
    if method == "advise":
        advise = LayerADVISE(model, layer, reshape_transform=reshape_transform)
        maps = advise.attribute(inputs, target=targets, peaks="auto", relu_attributions=False)
    elif method in sanity_methods():
        attribution = library_attribution(method)(model, layer, score="softmax", reshape_transform=reshape_transform)
        with torch.enable_grad():
            maps = attribution.attribute(inputs, target=targets, relu_attributions=False)
    else:
        raise ValueError(f"no sanity maps for method {method!r}: choose from {', '.join(sanity_methods())}")
    return upsample_maps(maps.detach()[:, 0], size)
