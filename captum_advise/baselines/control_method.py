"""The controls as single-map methods of the evaluator: scored like every method, with every run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from captum_advise.attr import normalize_and_resize
from captum_advise.attr.explanation import min_max_normalize
from captum_advise.attr.token_layout import ReshapeTransform
from captum_advise.baselines.captum_layer_cams import LayerRandomCam
from captum_advise.baselines.control_attributions import LayerCenterPrior, LayerRandomMap
from captum_advise.baselines.grad_cam_library import Score, sobel_maps
from captum_advise.matlab import UpsampleMode

__all__ = ["CONTROL_METHODS", "ControlMethod"]

CONTROL_METHODS = ("random", "center", "randomcam", "sobelcam")


@dataclass
class ControlMethod:
    """A control map, normalised and upsampled as the other methods' maps are.

    ``random`` (:class:`~captum_advise.baselines.LayerRandomMap`), ``center``
    (:class:`~captum_advise.baselines.LayerCenterPrior`) and ``randomcam``
    (:class:`~captum_advise.baselines.LayerRandomCam`, ReLU'd as the library returns it) are
    computed at the layer's resolution, min-max normalised there and upsampled with ``upsample``;
    ``sobelcam`` (pytorch-grad-cam's SobelCAM) is an edge map of the uint8 original itself, at the
    input's resolution, min-max normalised.

    Attributes:
        name: one of :data:`CONTROL_METHODS`.
        seed: the run seed of ``random`` and ``randomcam``.
        sigma: ``center``'s standard deviation, a fraction of the layer's shorter side.
        score: what ``randomcam``'s library call explains (its map does not depend on it beyond the
            ReLU's sign: the channel weights are random).
        upsample: as for the other methods.
        images: (N, 3, H, W) uint8 originals of the batch (set by the evaluator; ``sobelcam`` uses them).
        reshape_transform: how a token layer's output is read as (N, K, U, V) (``"vit"``,
            ``"swin"``, a callable, or None).
    """

    name: str
    seed: int = 0
    sigma: float = 0.25
    score: Score = "softmax"
    upsample: UpsampleMode = "matlab_bicubic"
    images: Tensor | None = None
    reshape_transform: ReshapeTransform = None
    cs_of: ClassVar[str] = "maps"

    def __post_init__(self) -> None:
        if self.name not in CONTROL_METHODS:
            raise ValueError(f"unknown control {self.name!r}: choose from {', '.join(CONTROL_METHODS)}")

    def __call__(self, model: nn.Module, layer: nn.Module, inputs: Tensor, targets: Tensor) -> Tensor:
        """(N, 3, H, W) inputs, (N,) classes -> (N, H, W) float32 maps in [0, 1] on the inputs' device."""
        size = tuple(inputs.shape[-2:])
        if self.name == "sobelcam":
            if self.images is None or self.images.shape[0] != inputs.shape[0]:
                raise ValueError("sobelcam needs the batch's uint8 originals in .images")
            return min_max_normalize(sobel_maps(self.images)).to(inputs.device)
        if self.name == "random":
            at_layer = LayerRandomMap(model, layer, seed=self.seed, reshape_transform=self.reshape_transform).attribute(
                inputs, target=targets
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
