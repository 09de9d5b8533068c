"""pytorch-grad-cam's methods for the evaluator: the Captum layer attribution, normalised and upsampled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from captum_advise.attr import normalize_and_resize
from captum_advise.attr.token_layout import ReshapeTransform
from captum_advise.baselines.captum_layer_cams import LAYER_ATTRIBUTIONS
from captum_advise.baselines.grad_cam_library import Score
from captum_advise.matlab import UpsampleMode

__all__ = ["GradCamLibraryMethod"]


@dataclass
class GradCamLibraryMethod:
    """One pytorch-grad-cam method as a single-map method of the evaluator.

    The map is the method's Captum layer attribution
    (:mod:`captum_advise.baselines.captum_layer_cams`), so it is computed the same way in
    ``evaluate``, ``robustness``, ``sanity`` and a user's own Captum code, then min-max normalised
    at the layer's resolution and upsampled as the reference does.

    Attributes:
        name: a pytorch-grad-cam method (a key of
            :data:`~captum_advise.baselines.captum_layer_cams.LAYER_ATTRIBUTIONS`).
        score: ``"softmax"`` (reference: explain probabilities) or ``"logit"``.
        score_cam_batch_size: masked images per forward pass in Score-CAM.
        relu: False removes the library's ReLU on the weighted sum (the map's negative values kept).
        gradient_relu: False also removes what Grad-CAM++ and Layer-CAM use to drop negative
            gradients (Grad-CAM++: the positive part of the gradients in its weights; Layer-CAM:
            the positive part of the gradients that weight each position); Grad-CAM and Score-CAM
            have no such ReLU. The noise ablation's "without ReLU" turns both off.
        upsample: how the layer-resolution map, min-max normalised, reaches the input's size:
            ``"matlab_bicubic"`` (reference: MATLAB's ``imresize``), ``"bicubic"`` or
            ``"bilinear"`` (torch; pytorch-grad-cam itself resizes bilinearly with OpenCV).
            FullGrad's map is already at the input's resolution: it is only min-max normalised.
        reshape_transform: how a token layer's output is read as (N, K, U, V) (``"vit"``,
            ``"swin"``, a callable, or None).
    """

    name: str
    score: Score = "softmax"
    score_cam_batch_size: int = 32
    relu: bool = True
    gradient_relu: bool = True
    upsample: UpsampleMode = "matlab_bicubic"
    reshape_transform: ReshapeTransform = None
    cs_of: ClassVar[str] = "maps"

    def __post_init__(self) -> None:
        if self.name not in LAYER_ATTRIBUTIONS:
            raise ValueError(
                f"unknown pytorch-grad-cam method {self.name!r}: choose one of {', '.join(LAYER_ATTRIBUTIONS)}"
            )

    def __call__(self, model: nn.Module, layer: nn.Module, inputs: Tensor, targets: Tensor) -> Tensor:
        """(N, 3, H, W) inputs, (N,) classes -> (N, H, W) float32 maps in [0, 1] on the inputs' device."""
        attribution = LAYER_ATTRIBUTIONS[self.name](
            model,
            layer,
            score=self.score,
            gradient_relu=self.gradient_relu,
            score_cam_batch_size=self.score_cam_batch_size,
            reshape_transform=self.reshape_transform,
        )
        at_layer = attribution.attribute(inputs, target=targets, relu_attributions=self.relu)[:, 0]
        return normalize_and_resize(at_layer, tuple(inputs.shape[-2:]), self.upsample).to(torch.float32)
