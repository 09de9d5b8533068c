"""The controls as single-map methods of the evaluator: scored like every method, with every run."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from captum_advise.attr import normalize_and_resize
from captum_advise.attr.explanation import min_max_normalize
from captum_advise.attr.token_layout import ReshapeTransform
from captum_advise.cams.controls import LayerBrightness, LayerCenterPrior, LayerRandomMap
from captum_advise.cams.library import Score, sobel_maps
from captum_advise.cams.library_cams import LayerRandomCam
from captum_advise.catalogue import method_names
from captum_advise.evaluation.methods.maps import ExplanationBatch, SingleMapMethod
from captum_advise.matlab import UpsampleMode

__all__ = ["ControlMethod"]


@dataclass
class ControlMethod(SingleMapMethod):
    """A control map, normalised and upsampled as the other methods' maps are.

    ``random`` (:class:`~captum_advise.cams.LayerRandomMap`), ``center``
    (:class:`~captum_advise.cams.LayerCenterPrior`) and ``randomcam``
    (:class:`~captum_advise.cams.LayerRandomCam`, ReLU'd as the library returns it) and
    ``brightness`` (:class:`~captum_advise.cams.LayerBrightness`, of the uint8 original) are
    computed at the layer's resolution, min-max normalised there and upsampled with ``upsample``;
    ``sobelcam`` (pytorch-grad-cam's SobelCAM) is an edge map of the uint8 original itself, at the
    input's resolution, min-max normalised.

    Attributes:
        name: a control of the catalogue (``random``, ``center``, ``randomcam``, ``brightness``, ``sobelcam``).
        seed: the run seed of ``random`` and ``randomcam``.
        sigma: ``center``'s standard deviation, a fraction of the layer's shorter side.
        score: what ``randomcam``'s library call explains (its map does not depend on it beyond the
            ReLU's sign: the channel weights are random).
        upsample: as for the other methods.
        reshape_transform: how a token layer's output is read as (N, K, U, V) (``"vit"``,
            ``"swin"``, a callable, or None).
    """

    name: str
    seed: int = 0
    sigma: float = 0.25
    score: Score = "softmax"
    upsample: UpsampleMode = "matlab_bicubic"
    reshape_transform: ReshapeTransform = None

    def __post_init__(self) -> None:
        controls = method_names("control")
        if self.name not in controls:
            raise ValueError(f"unknown control {self.name!r}: choose from {', '.join(controls)}")

    def class_maps(self, batch: ExplanationBatch, targets: Tensor) -> Tensor:
        """(N,) classes -> (N, H, W) float32 maps in [0, 1] on the inputs' device."""
        model, layer, inputs = batch.model, batch.layer, batch.inputs
        size = tuple(inputs.shape[-2:])
        if self.name == "sobelcam":
            return min_max_normalize(sobel_maps(batch.images)).to(inputs.device)
        if self.name == "random":
            at_layer = LayerRandomMap(model, layer, seed=self.seed, reshape_transform=self.reshape_transform).attribute(
                inputs, target=targets
            )
        elif self.name == "brightness":
            at_layer = LayerBrightness(model, layer, reshape_transform=self.reshape_transform).attribute(
                inputs, target=targets, images=batch.images
            )
        elif self.name == "center":
            at_layer = LayerCenterPrior(
                model, layer, sigma=self.sigma, reshape_transform=self.reshape_transform
            ).attribute(inputs, target=targets)
        else:
            attribution = LayerRandomCam(
                model, layer, score=self.score, seed=self.seed, reshape_transform=self.reshape_transform
            )
            at_layer = attribution.attribute(inputs, target=targets, relu_attributions=True)
        return normalize_and_resize(at_layer[:, 0], size, self.upsample).to(torch.float32)
