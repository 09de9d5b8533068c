"""Grad-CAM, Grad-CAM++, Score-CAM and Layer-CAM from pytorch-grad-cam (pinned: grad-cam 1.5.7), made safe.

pytorch-grad-cam's pitfalls, each handled here: its CAM object keeps hooks on the model until
released (a fresh object per call, released in ``finally``; its context manager would swallow an
IndexError); it calls ``model.eval()`` and fills parameters' ``.grad`` without restoring them
(restored); it returns all-zero maps for images beyond the targets it was given (the count is
checked); it explains logits unless told otherwise (softmax-probability targets in reference mode);
Score-CAM's batch size is an attribute (exposed); Score-CAM also builds every masked copy of every
image of its batch at once (N x K x 3 x H x W floats: 7.7 GB for 8 images and 1280 units), so it
is run one image at a time.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM
from pytorch_grad_cam import score_cam as score_cam_module
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget
from torch import Tensor, nn

from captum_advise.attr import normalize_and_resize
from captum_advise.imresize import UpsampleMode
from captum_advise.models import preserved_state

__all__ = ["CAM_CLASSES", "GRADIENT_RELU_METHODS", "LAYER_CAM_CLASSES", "GradCamLibraryMethod"]

CAM_CLASSES = {"gradcam": GradCAM, "gradcampp": GradCAMPlusPlus, "scorecam": ScoreCAM, "layercam": LayerCAM}


class _Silent:
    """Stands in for the tqdm module inside Score-CAM, whose per-image progress bars would flood the output."""

    @staticmethod
    def tqdm(iterable, *args, **kwargs):
        return iterable


@contextmanager
def quiet_score_cam():
    original = score_cam_module.tqdm
    score_cam_module.tqdm = _Silent
    try:
        yield
    finally:
        score_cam_module.tqdm = original


class _LayerResolutionMixin:
    """pytorch-grad-cam's CAM at the layer's resolution: 1.5.7's per-layer CAM without its min-max
    scaling and OpenCV bilinear resize, so the maps are normalised and upsampled as the reference
    does (``upsample_maps``). ``relu`` says whether the library's ReLU on the weighted sum stays."""

    relu: bool = True

    def compute_cam_per_layer(self, input_tensor, targets, eigen_smooth):
        activations = [a.cpu().data.numpy() for a in self.activations_and_grads.activations]
        gradients = [g.cpu().data.numpy() for g in self.activations_and_grads.gradients]
        cams = []
        for index, layer in enumerate(self.target_layers):
            grads = gradients[index] if index < len(gradients) else None
            cam = self.get_cam_image(input_tensor, layer, targets, activations[index], grads, eigen_smooth)
            cams.append(np.maximum(cam, 0) if self.relu else cam)
        return cams

    def aggregate_multi_layers(self, cams):
        return np.mean(np.stack(cams, axis=1), axis=1)


class _SignedGradientsGradCAMPlusPlus(GradCAMPlusPlus):
    """Grad-CAM++ (1.5.7's weights) without the positive part of the gradients: negative evidence kept."""

    def get_cam_weights(self, input_tensor, target_layers, target_category, activations, grads):
        spatial_axes = tuple(range(2, activations.ndim))
        sum_activations = np.sum(activations, axis=spatial_axes).reshape(
            activations.shape[:2] + (1,) * len(spatial_axes)
        )
        squared = grads**2
        alpha = squared / (2 * squared + sum_activations * squared * grads + 1e-6)
        alpha = np.where(grads != 0, alpha, 0)
        return np.sum(grads * alpha, axis=spatial_axes)  # the library: np.maximum(grads, 0) * alpha


class _SignedGradientsLayerCAM(LayerCAM):
    """Layer-CAM without the positive part of the gradients: each position weighted by its raw gradient."""

    def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
        return (grads * activations).sum(axis=1)  # the library: np.maximum(grads, 0) * activations


SIGNED_GRADIENT_CLASSES = {"gradcampp": _SignedGradientsGradCAMPlusPlus, "layercam": _SignedGradientsLayerCAM}
GRADIENT_RELU_METHODS = tuple(SIGNED_GRADIENT_CLASSES)


def _cam_class(name: str, relu: bool, gradient_relu: bool) -> type:
    base = CAM_CLASSES[name] if gradient_relu else SIGNED_GRADIENT_CLASSES.get(name, CAM_CLASSES[name])
    suffix = ("" if relu else "NoMapReLU") + ("" if gradient_relu else "NoGradientReLU")
    return type(f"{base.__name__}AtLayer{suffix}", (_LayerResolutionMixin, base), {"relu": relu})


LAYER_CAM_CLASSES = {
    (name, relu, gradient_relu): _cam_class(name, relu, gradient_relu)
    for name in CAM_CLASSES
    for relu in (True, False)
    for gradient_relu in (True, False)
}


@dataclass
class GradCamLibraryMethod:
    """One pytorch-grad-cam method as a single-map method.

    Attributes:
        name: ``"gradcam"``, ``"gradcampp"``, ``"scorecam"`` or ``"layercam"``.
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
    """

    name: str
    score: Literal["softmax", "logit"] = "softmax"
    score_cam_batch_size: int = 32
    relu: bool = True
    gradient_relu: bool = True
    upsample: UpsampleMode = "matlab_bicubic"
    cs_of: ClassVar[str] = "maps"

    def __post_init__(self) -> None:
        if self.name not in CAM_CLASSES:
            raise ValueError(f"unknown pytorch-grad-cam method {self.name!r}: choose one of {', '.join(CAM_CLASSES)}")

    def __call__(self, model: nn.Module, layer: nn.Module, inputs: Tensor, targets: Tensor) -> Tensor:
        """(N, 3, H, W) inputs, (N,) classes -> (N, H, W) float32 maps in [0, 1] on the inputs' device."""
        if targets.numel() != inputs.shape[0]:
            raise ValueError(f"{self.name}: {targets.numel()} targets for {inputs.shape[0]} images")
        target_type = ClassifierOutputSoftmaxTarget if self.score == "softmax" else ClassifierOutputTarget
        cam_targets = [target_type(int(c)) for c in targets]
        step = 1 if self.name == "scorecam" else inputs.shape[0]
        maps = [
            self._run(model, layer, inputs[start : start + step], cam_targets[start : start + step])
            for start in range(0, inputs.shape[0], step)
        ]
        at_layer = torch.from_numpy(np.concatenate(maps)).to(inputs.device)
        return normalize_and_resize(at_layer, tuple(inputs.shape[-2:]), self.upsample).to(torch.float32)

    def _run(self, model: nn.Module, layer: nn.Module, inputs: Tensor, targets: list) -> np.ndarray:
        with preserved_state(model), quiet_score_cam():
            cam = LAYER_CAM_CLASSES[(self.name, self.relu, self.gradient_relu)](model=model, target_layers=[layer])
            try:
                if self.name == "scorecam":
                    cam.batch_size = self.score_cam_batch_size
                return cam(input_tensor=inputs, targets=targets)
            finally:
                cam.activations_and_grads.release()
