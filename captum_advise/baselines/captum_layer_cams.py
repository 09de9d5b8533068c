"""pytorch-grad-cam's methods as Captum layer attributions, drop-ins beside ``LayerGradCam``.

``LayerGradCamPlusPlus``, ``LayerScoreCam``, ``LayerLayerCam`` and ``LayerGradCamLib`` (the library's
own Grad-CAM) take Captum's constructor ``(forward_func, layer, device_ids=None)`` and ``attribute``
arguments, and return the library's class activation map at the layer's resolution, (N, 1, U, V),
as Captum's layer methods do, so that ``LayerAttribution.interpolate``, ``sensitivity_max`` and
``infidelity`` apply. The map explains ``forward_func``'s raw output for the target class (as
``LayerGradCam`` does). Every call uses a fresh library object whose hooks are released on every
path, and leaves the model's train/eval flags, ``requires_grad`` and ``.grad`` as it found them
(the library calls ``model.eval()``: the model is explained in eval mode).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, ClassVar

import numpy as np
import torch
from captum._utils.common import _format_additional_forward_args, _format_tensor_into_tuples
from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import Tensor, nn

from captum_advise.attr.layer_capture import resolve_targets
from captum_advise.baselines.grad_cam_library import LAYER_CAM_CLASSES, quiet_score_cam
from captum_advise.models import preserved_state

__all__ = ["LayerGradCamLib", "LayerGradCamPlusPlus", "LayerLayerCam", "LayerScoreCam"]


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

    def __init__(self, forward_func: Callable[..., Tensor], layer: nn.Module, device_ids: list[int] | None = None):
        r"""
        Args:
            forward_func: the model (or any callable) whose output, (N, C), is explained.
            layer: the layer whose output the map is computed from.
            device_ids: as Captum's (only a ``DataParallel`` model needs it); pytorch-grad-cam runs
                the model as given.
        """
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        GradientAttribution.__init__(self, forward_func)

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
            ValueError: ``attribute_to_layer_input=True``; a target out of range.
        """
        if attribute_to_layer_input:
            raise ValueError(
                f"{type(self).__name__} explains the layer's output: attribute_to_layer_input=True is not available"
            )
        first, *others = _format_tensor_into_tuples(inputs)
        extra = tuple(_format_additional_forward_args(additional_forward_args) or ())
        model = _FirstInputModel(self.forward_func, tuple(others), extra)
        cam_class = LAYER_CAM_CLASSES[(self.method, relu_attributions, True)]
        with ExitStack() as stack:
            for owner in {id(m): m for m in (self.forward_func, self.layer) if isinstance(m, nn.Module)}.values():
                stack.enter_context(preserved_state(owner))
            # The library explains in eval mode; the predicted class is read in the same mode.
            model.eval()
            with torch.no_grad():
                targets = resolve_targets(target, model(first))
            # Score-CAM builds every masked copy of every image of its batch at once: one image at a time.
            step = 1 if self.method == "scorecam" else first.shape[0]
            maps = [
                _library_maps(cam_class, model, self.layer, first[start : start + step], targets[start : start + step])
                for start in range(0, first.shape[0], step)
            ]
        return torch.from_numpy(np.concatenate(maps)).to(device=first.device, dtype=torch.float32).unsqueeze(1)


def _library_maps(cam_class: type, model: nn.Module, layer: nn.Module, inputs: Tensor, targets: Tensor) -> np.ndarray:
    # Gradients also under torch.no_grad(), as LayerGradCam (captum.metrics calls explanations there).
    with quiet_score_cam(), torch.enable_grad():
        cam = cam_class(model=model, target_layers=[layer])
        try:
            return cam(input_tensor=inputs, targets=[ClassifierOutputTarget(int(c)) for c in targets])
        finally:
            cam.activations_and_grads.release()


class LayerGradCamLib(_LibraryLayerCam):
    """pytorch-grad-cam's ``GradCAM`` as a Captum layer attribution (beside Captum's ``LayerGradCam``)."""

    method = "gradcam"


class LayerGradCamPlusPlus(_LibraryLayerCam):
    """pytorch-grad-cam's ``GradCAMPlusPlus`` as a Captum layer attribution."""

    method = "gradcampp"


class LayerScoreCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``ScoreCAM`` as a Captum layer attribution (one image per library call; its
    batch of masked images is the library's default, 32)."""

    method = "scorecam"


class LayerLayerCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``LayerCAM`` as a Captum layer attribution."""

    method = "layercam"
