"""Explanation methods by name, and one call that gives any of them as :class:`Explanations`."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from captum_advise.baselines.advise import AdviseMethod
from captum_advise.baselines.explanations import Explanations, explain_two_classes
from captum_advise.baselines.grad_cam_library import CAM_CLASSES
from captum_advise.baselines.grad_cam_method import GradCamLibraryMethod
from captum_advise.baselines.lime import LimeMethod

__all__ = ["METHOD_NAMES", "build_method", "explain_batch"]

METHOD_NAMES = ("advise", *CAM_CLASSES, "lime")


def build_method(name: str, **options: Any) -> AdviseMethod | GradCamLibraryMethod | LimeMethod:
    """A method by name (advise, gradcam, gradcampp, scorecam, layercam, lime) with its options."""
    if name == "advise":
        return AdviseMethod(**options)
    if name in CAM_CLASSES:
        return GradCamLibraryMethod(name, **options)
    if name == "lime":
        return LimeMethod(**options)
    raise ValueError(f"unknown method {name!r}: choose from {', '.join(METHOD_NAMES)}")


def explain_batch(
    method: AdviseMethod | GradCamLibraryMethod | LimeMethod,
    model: nn.Module,
    layer: nn.Module,
    inputs: Tensor,
    first: Tensor,
    second: Tensor,
    images: Tensor,
) -> Explanations:
    """Maps of one method for c1 and c2 of a batch; ``images`` are its (N, 3, H, W) uint8 originals."""
    if isinstance(method, AdviseMethod):
        return method.explain_batch(model, layer, inputs, first, second)
    if isinstance(method, LimeMethod):
        method.images = images
    return explain_two_classes(method, model, layer, inputs, first, second)
