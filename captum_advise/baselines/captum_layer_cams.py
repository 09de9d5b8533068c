"""pytorch-grad-cam's methods as Captum layer attributions, drop-ins beside ``LayerGradCam``.

``LayerGradCamPlusPlus``, ``LayerScoreCam``, ``LayerLayerCam`` and ``LayerGradCamLib`` (the library's
own Grad-CAM) take Captum's constructor ``(forward_func, layer, device_ids=None)`` and ``attribute``
arguments, and return the library's class activation map at the layer's resolution, (N, 1, U, V),
as Captum's layer methods do, so that ``LayerAttribution.interpolate``, ``sensitivity_max`` and
``infidelity`` apply. The map explains ``forward_func``'s raw output for the target class by
default (``score="logit"``, as ``LayerGradCam`` does), or its softmax probability
(``score="softmax"``, the reference's and the evaluator's choice). Every call goes through the one
binding to the library (:func:`~captum_advise.baselines.grad_cam_library.library_maps`): a fresh
library object whose hooks are released on every path, and the model's train/eval flags,
``requires_grad`` and ``.grad`` left as they were (the library calls ``model.eval()``: the model is
explained in eval mode).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, ClassVar

import torch
from captum._utils.common import _format_additional_forward_args, _format_tensor_into_tuples
from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from torch import Tensor, nn

from captum_advise.attr.layer_capture import resolve_targets, target_indices
from captum_advise.baselines.grad_cam_library import Score, library_maps
from captum_advise.baselines.seeds import content_seed
from captum_advise.models import preserved_state

__all__ = [
    "LAYER_ATTRIBUTIONS",
    "LayerGradCamLib",
    "LayerGradCamPlusPlus",
    "LayerLayerCam",
    "LayerRandomCam",
    "LayerScoreCam",
]


class _FirstInputModel(nn.Module):
    """``forward_func`` as the one-input module pytorch-grad-cam calls: the other inputs and the
    additional forward arguments are bound, so the library masks and sizes by the first input."""

    def __init__(self, forward_func: Callable[..., Tensor], others: tuple, extra: tuple) -> None:
        super().__init__()
        self.forward_func = forward_func
        self.others, self.extra = others, extra

    def forward(self, first: Tensor) -> Tensor:
        return self.forward_func(first, *self.others, *self.extra)


class _LibraryLayerCam(LayerAttribution, GradientAttribution):
    method: ClassVar[str]

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        score: Score = "logit",
        gradient_relu: bool = True,
        score_cam_batch_size: int = 32,
    ):
        r"""
        Args:
            forward_func: the model (or any callable) whose output, (N, C), is explained.
            layer: the layer whose output the map is computed from.
            device_ids: as Captum's (only a ``DataParallel`` model needs it); pytorch-grad-cam runs
                the model as given.
            score: what is explained: ``"logit"`` (default, as ``LayerGradCam``) or
                ``"softmax"`` (the class's probability, as the reference explains it).
            gradient_relu: False removes the positive part of the gradients in Grad-CAM++'s
                weights and Layer-CAM's position weights (the noise ablation's "without ReLU").
            score_cam_batch_size: masked images per forward pass in Score-CAM.
        """
        if score not in ("softmax", "logit"):
            raise ValueError(f"score must be one of ('softmax', 'logit'), got {score!r}")
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        GradientAttribution.__init__(self, forward_func)
        self.score = score
        self.gradient_relu = gradient_relu
        self.score_cam_batch_size = score_cam_batch_size

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
    ) -> Tensor:
        r"""The library's map for each example's target class, at the layer's resolution.

        Args:
            inputs: (N, ...) tensor or tuple of tensors (the library masks and sizes by the first).
            target: Captum's forms for an (N, C) output: None (the predicted class), an int or
                1-tuple, a list of N of them, or an integer tensor of 1 or N entries.
            additional_forward_args: further arguments of ``forward_func``.
            attribute_to_layer_input: not available: pytorch-grad-cam hooks the layer's output.
            relu_attributions: keep the library's ReLU on the weighted sum (its own output has it);
                False (Captum's default) keeps the negative values.

        Returns:
            (N, 1, U, V) float32 tensor on the first input's device.

        Raises:
            ValueError: ``attribute_to_layer_input=True``; a target of the wrong form, count or range.
        """
        if attribute_to_layer_input:
            raise ValueError(
                f"{type(self).__name__} explains the layer's output: attribute_to_layer_input=True is not available"
            )
        first, *others = _format_tensor_into_tuples(inputs)
        extra = tuple(_format_additional_forward_args(additional_forward_args) or ())
        model = _FirstInputModel(self.forward_func, tuple(others), extra)
        with ExitStack() as stack:
            for owner in {id(m): m for m in (self.forward_func, self.layer) if isinstance(m, nn.Module)}.values():
                stack.enter_context(preserved_state(owner))
            # The library explains in eval mode; the predicted class is read in the same mode.
            model.eval()
            if target is None:
                with torch.no_grad():
                    targets = resolve_targets(target, model(first))
            else:
                targets = target_indices(target, first.shape[0], first.device)
            maps = library_maps(
                self.method,
                model,
                self.layer,
                first,
                targets,
                score=self.score,
                relu=relu_attributions,
                gradient_relu=self.gradient_relu,
                score_cam_batch_size=self.score_cam_batch_size,
                seeds=self._seeds(first, targets),
            )
        return torch.from_numpy(maps).to(device=first.device).unsqueeze(1)

    def _seeds(self, first: Tensor, targets: Tensor) -> list[int] | None:
        """Per-example seeds of the library's random draws (None: the method draws nothing)."""
        return None


class LayerGradCamLib(_LibraryLayerCam):
    """pytorch-grad-cam's ``GradCAM`` as a Captum layer attribution (beside Captum's ``LayerGradCam``)."""

    method = "gradcam"


class LayerGradCamPlusPlus(_LibraryLayerCam):
    """pytorch-grad-cam's ``GradCAMPlusPlus`` as a Captum layer attribution."""

    method = "gradcampp"


class LayerScoreCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``ScoreCAM`` as a Captum layer attribution (one image per library call,
    ``score_cam_batch_size`` masked images per forward pass)."""

    method = "scorecam"


class LayerLayerCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``LayerCAM`` as a Captum layer attribution."""

    method = "layercam"


class LayerRandomCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``RandomCAM`` as a Captum layer attribution: uniform [-1, 1) channel weights over
    the real activations, a random linear combination of the layer's units (a control).

    The weights of each example are drawn with a seed from its input values, its target class and
    ``seed``, so the same image and class get the same map in every batch and run (the library
    draws from NumPy's global generator; its state is restored after the call).
    """

    method = "randomcam"

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        score: Score = "logit",
        seed: int = 0,
    ):
        r"""
        Args:
            forward_func, layer, device_ids, score: as for :class:`LayerGradCamLib`.
            seed: the run seed mixed into every example's seed.
        """
        super().__init__(forward_func, layer, device_ids, score=score)
        self.seed = seed

    def _seeds(self, first: Tensor, targets: Tensor) -> list[int]:
        return [content_seed(first[n], int(targets[n]), self.seed) for n in range(first.shape[0])]


# The Captum attribution of each pytorch-grad-cam method, by the evaluator's method name.
LAYER_ATTRIBUTIONS: dict[str, type[_LibraryLayerCam]] = {
    cls.method: cls for cls in (LayerGradCamLib, LayerGradCamPlusPlus, LayerScoreCam, LayerLayerCam)
}
