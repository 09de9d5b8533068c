"""Control maps as Captum layer attributions: what a method must beat to mean anything.

``LayerRandomMap`` (i.i.d. uniform values), ``LayerCenterPrior`` (a centred Gaussian, the centre
bias of photos), ``LayerBrightness`` (the photo's own luminance: what a map earns by keeping the
bright pixels, with no model) and ``LayerSobelCam`` (pytorch-grad-cam's SobelCAM, an edge map of
the image) take
Captum's constructor ``(forward_func, layer, device_ids=None)`` and ``attribute`` arguments, as
``LayerGradCam`` does, but use nothing the model learnt: a method that scores no better than them
under a measure is not shown by that measure to explain anything. pytorch-grad-cam's ``RandomCAM``
(random channel weights over the real activations) is
:class:`~captum_advise.cams.library_cams.LayerRandomCam`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from captum._utils.common import _format_additional_forward_args, _format_tensor_into_tuples
from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import LayerAttribution
from captum.log import log_usage
from torch import Tensor, nn

from captum_advise.attr.explanation import min_max_normalize
from captum_advise.attr.layer_capture import forward_with_layer, resolve_targets
from captum_advise.attr.model_state import preserved_state
from captum_advise.attr.token_layout import ReshapeTransform, resolve_reshape_transform
from captum_advise.cams.library import sobel_maps
from captum_advise.cams.seeds import content_generator

__all__ = [
    "LayerBrightness",
    "LayerCenterPrior",
    "LayerRandomMap",
    "LayerSobelCam",
    "as_uint8_images",
    "center_prior",
    "luminance",
]


def _layer_pass(
    attribution: LayerAttribution,
    inputs: TensorOrTupleOfTensorsGeneric,
    target: TargetType,
    additional_forward_args: Any,
    attribute_to_layer_input: bool,
) -> tuple[Tensor, tuple[int, int], Tensor]:
    """One forward pass in eval mode (state restored): the first input, the layer's (U, V), the targets."""
    inputs_tuple = _format_tensor_into_tuples(inputs)
    extra = tuple(_format_additional_forward_args(additional_forward_args) or ())
    with preserved_state(attribution.forward_func, eval_mode=True):
        layer_pass = forward_with_layer(
            attribution.forward_func,
            attribution.layer,
            inputs_tuple,
            extra,
            attribute_to_layer_input,
            "logit",
            attribution.device_ids,
            attribution.reshape_transform,
        )
    activations = layer_pass.activations
    targets = resolve_targets(target, layer_pass.scores.detach())
    return inputs_tuple[0], (activations.shape[2], activations.shape[3]), targets


class _LayerControlMap(LayerAttribution):
    """A control map at the layer's resolution: one forward pass for the layer's size and the targets."""

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        reshape_transform: ReshapeTransform = None,
    ) -> None:
        super().__init__(forward_func, layer, device_ids)
        self.reshape_transform = resolve_reshape_transform(reshape_transform)

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
    ) -> Tensor:
        r"""The control's map of each example.

        Args:
            inputs: (N, ...) tensor or tuple of tensors passed to ``forward_func``.
            target: Captum's target forms for an (N, C) output (None: the predicted class).
            additional_forward_args: further arguments of ``forward_func``.
            attribute_to_layer_input: use the layer input's resolution.

        Returns:
            (N, 1, U, V) float32 tensor on the first input's device.
        """
        first, size, targets = _layer_pass(self, inputs, target, additional_forward_args, attribute_to_layer_input)
        return self._maps(first, size, targets).to(device=first.device, dtype=torch.float32)

    def _maps(self, first: Tensor, size: tuple[int, int], targets: Tensor) -> Tensor:
        raise NotImplementedError


class LayerRandomMap(_LayerControlMap):
    """I.i.d. uniform [0, 1) values at the layer's resolution: the random map a method must beat.

    Each example's map is drawn from a generator seeded with the example's first input's values,
    its target class and ``seed``, so the same image and class get the same map in every batch,
    run and shard, and the two classes of one image get different maps.
    """

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        seed: int = 0,
        reshape_transform: ReshapeTransform = None,
    ) -> None:
        r"""
        Args:
            forward_func: the model; it is run once, for the layer's size and the predicted class.
            layer: the layer whose resolution the map has.
            device_ids: as Captum's.
            seed: the run seed mixed into every example's seed.
            reshape_transform: how a token layer's output is read as (N, K, U, V)
                (:mod:`~captum_advise.attr.token_layout`); None for a convolutional layer.
        """
        super().__init__(forward_func, layer, device_ids, reshape_transform=reshape_transform)
        self.seed = seed

    def _maps(self, first: Tensor, size: tuple[int, int], targets: Tensor) -> Tensor:
        return torch.stack(
            [
                torch.rand((1, *size), generator=content_generator(first[n], int(targets[n]), self.seed))
                for n in range(first.shape[0])
            ]
        )


def center_prior(height: int, width: int, sigma: float = 0.25) -> Tensor:
    """(height, width) float64 ``exp(-d^2 / (2 s^2))``: d the distance of each cell from the grid's centre
    ``((height - 1) / 2, (width - 1) / 2)`` in cells, s = ``sigma`` x min(height, width)."""
    spread = sigma * min(height, width)
    rows = torch.arange(height, dtype=torch.float64) - (height - 1) / 2
    columns = torch.arange(width, dtype=torch.float64) - (width - 1) / 2
    squared = rows.unsqueeze(1) ** 2 + columns.unsqueeze(0) ** 2
    return torch.exp(-squared / (2 * spread**2))


class LayerCenterPrior(_LayerControlMap):
    """A centred isotropic Gaussian at the layer's resolution (:func:`center_prior`), the same for
    every example and class (``target`` is checked, then unused): the centre-bias prior of photos."""

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        sigma: float = 0.25,
        reshape_transform: ReshapeTransform = None,
    ) -> None:
        r"""
        Args:
            forward_func: the model; it is run once, for the layer's size.
            layer: the layer whose resolution the map has.
            device_ids: as Captum's.
            sigma: the Gaussian's standard deviation as a fraction of the layer's shorter side.
            reshape_transform: how a token layer's output is read as (N, K, U, V)
                (:mod:`~captum_advise.attr.token_layout`); None for a convolutional layer.
        """
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a positive number, got {sigma!r}")
        super().__init__(forward_func, layer, device_ids, reshape_transform=reshape_transform)
        self.sigma = float(sigma)

    def _maps(self, first: Tensor, size: tuple[int, int], targets: Tensor) -> Tensor:
        return center_prior(*size, self.sigma).expand(first.shape[0], 1, *size)


def luminance(images: Tensor, size: tuple[int, int]) -> Tensor:
    """(N, 3, H, W) uint8 RGB images -> (N, 1, U, V) float64 luma (ITU-R BT.601: 0.299 R + 0.587 G +
    0.114 B, in 0-255) averaged over the cells of a U x V grid (``adaptive_avg_pool2d``: exact blocks
    where U divides H and V divides W, as 7 divides 224)."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"luminance takes (N, 3, H, W) uint8 RGB images, got {images.dtype} {tuple(images.shape)}")
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64, device=images.device).view(1, 3, 1, 1)
    luma = (images.double() * weights).sum(dim=1, keepdim=True)
    return torch.nn.functional.adaptive_avg_pool2d(luma, size)


class LayerBrightness(_LayerControlMap):
    """The photo's luminance at the layer's resolution: a map of where the photo is bright, the same
    for every class (``target`` is checked, then unused) and computed with no model beyond the one
    forward pass that gives the layer's size.

    A map that keeps the bright pixels keeps the pixels that SSIM, FSIM and MSE (three of AVX's four
    terms, which compare the masked photo with the photo and never ask the model) lose most by
    blacking out; this control shows what a map earns from that alone.

    ``attribute`` takes the uint8 RGB photos as ``images``; without them the first input is read as
    the photo (uint8 as given; a float input is mapped to 0-255 by each example's minimum and maximum
    over all channels, which only approximates the photo when the input is normalised per channel).
    """

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        images: Tensor | None = None,
    ) -> Tensor:
        r"""The luminance of each example's photo, at the layer's resolution.

        Args:
            inputs: (N, ...) tensor or tuple of tensors passed to ``forward_func``.
            target: Captum's target forms for an (N, C) output (checked, unused).
            additional_forward_args: further arguments of ``forward_func``.
            attribute_to_layer_input: use the layer input's resolution.
            images: (N, 3, H, W) uint8 RGB photos the inputs were made from (None: read from the
                first input, see the class).

        Returns:
            (N, 1, U, V) float32 tensor of luma values in [0, 255], on the first input's device.
        """
        first, size, _ = _layer_pass(self, inputs, target, additional_forward_args, attribute_to_layer_input)
        photos = as_uint8_images(first) if images is None else images
        if photos.shape[0] != first.shape[0]:
            raise ValueError(f"{photos.shape[0]} images for {first.shape[0]} inputs")
        return luminance(photos, size).to(device=first.device, dtype=torch.float32)


class LayerSobelCam(LayerAttribution):
    """pytorch-grad-cam's SobelCAM: an edge map of the input image, at the input's resolution.

    No model is run and ``layer`` and ``target`` are not used: the map is the same for every class.
    A uint8 (N, 3, H, W) input is taken as the RGB image; a float one is first mapped to 0-255 by
    each example's minimum and maximum over all channels (a normalised image, up to the per-channel
    scaling of its normalisation).
    """

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
    ) -> Tensor:
        r"""The edge map of each example's first input.

        Returns:
            (N, 1, H, W) float32 tensor with values in [0, 255], on the first input's device.
        """
        first = _format_tensor_into_tuples(inputs)[0]
        return sobel_maps(as_uint8_images(first)).unsqueeze(1)


def as_uint8_images(images: Tensor) -> Tensor:
    """(N, 3, H, W) images as uint8: uint8 as given; floats scaled by each example's min and max to 0-255."""
    if images.dtype == torch.uint8:
        return images
    # Each example's values as one (1, C * H * W) map: scaled over all its channels together.
    scaled = min_max_normalize(images.detach().double().reshape(images.shape[0], 1, -1))
    return (scaled * 255).round().to(torch.uint8).view_as(images)
