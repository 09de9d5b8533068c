"""pytorch-grad-cam's methods for the evaluator: the Captum layer attribution, normalised and upsampled."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from captum_advise.attr import normalize_and_resize
from captum_advise.attr.token_layout import ReshapeTransform
from captum_advise.cams.library import Score, shared_score_cam_forwards
from captum_advise.cams.library_cams import library_attribution
from captum_advise.evaluation.methods.maps import ExplanationBatch, MethodMaps, SingleMapMethod
from captum_advise.matlab import UpsampleMode

__all__ = ["GradCamLibraryMethod"]


@dataclass
class GradCamLibraryMethod(SingleMapMethod):
    """One pytorch-grad-cam method as a single-map method of the evaluator.

    The map is the method's Captum layer attribution
    (:mod:`captum_advise.cams.library_cams`), so it is computed the same way in
    ``evaluate``, ``robustness``, ``sanity`` and a user's own Captum code, then min-max normalised
    at the layer's resolution and upsampled as the reference does.

    Attributes:
        name: a pytorch-grad-cam method of the catalogue (:mod:`captum_advise.catalogue`).
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
        aug_smooth, eigen_smooth: pytorch-grad-cam's options of those names (see
            :class:`~captum_advise.cams.library_cams.LayerGradCamLib`).
    """

    name: str
    score: Score = "softmax"
    score_cam_batch_size: int = 32
    relu: bool = True
    gradient_relu: bool = True
    upsample: UpsampleMode = "matlab_bicubic"
    reshape_transform: ReshapeTransform = None
    aug_smooth: bool = False
    eigen_smooth: bool = False

    def __post_init__(self) -> None:
        library_attribution(self.name)  # a one-line error for a name that is not a library method

    def class_maps(self, batch: ExplanationBatch, targets: Tensor) -> Tensor:
        """(N,) classes -> (N, H, W) float32 maps in [0, 1] on the inputs' device."""
        inputs = batch.inputs
        attribution = library_attribution(self.name)(
            batch.model,
            batch.layer,
            score=self.score,
            gradient_relu=self.gradient_relu,
            score_cam_batch_size=self.score_cam_batch_size,
            reshape_transform=self.reshape_transform,
            aug_smooth=self.aug_smooth,
            eigen_smooth=self.eigen_smooth,
        )
        at_layer = attribution.attribute(inputs, target=targets, relu_attributions=self.relu)[:, 0]
        return normalize_and_resize(at_layer, tuple(inputs.shape[-2:]), self.upsample).to(torch.float32)

    def explain(self, batch: ExplanationBatch) -> MethodMaps:
        """The maps of c1 and c2, timed; Score-CAM forwards each image's masked copies once for both classes."""
        with shared_score_cam_forwards():
            return super().explain(batch)
