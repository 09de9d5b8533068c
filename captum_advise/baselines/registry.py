"""Explanation methods by name, and one call that gives any of them as :class:`Explanations`."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from captum_advise.attr.token_layout import ReshapeTransform
from captum_advise.baselines.advise import AdviseMethod
from captum_advise.baselines.control_method import CONTROL_METHODS, ControlMethod
from captum_advise.baselines.explanations import Explanations, explain_two_classes
from captum_advise.baselines.grad_cam_library import CAM_CLASSES, MORE_CAM_CLASSES
from captum_advise.baselines.grad_cam_method import GradCamLibraryMethod
from captum_advise.baselines.lime import LimeMethod

__all__ = [
    "ALL_METHODS",
    "COMPARED_METHODS",
    "CONTROL_METHODS",
    "METHOD_NAMES",
    "MORE_METHODS",
    "Method",
    "build_method",
    "explain_batch",
]

# The methods compared by default, the library's other methods (``--methods all`` adds them), and
# the controls every evaluation scores beside them.
COMPARED_METHODS = ("advise", *CAM_CLASSES, "lime")
MORE_METHODS = tuple(MORE_CAM_CLASSES)
ALL_METHODS = (*COMPARED_METHODS, *MORE_METHODS)
METHOD_NAMES = (*ALL_METHODS, *CONTROL_METHODS)

Method = AdviseMethod | GradCamLibraryMethod | LimeMethod | ControlMethod


def build_method(name: str, reshape_transform: ReshapeTransform = None, **options: Any) -> Method:
    """A method by name (:data:`METHOD_NAMES`) with its options; ``reshape_transform`` (a token layer's
    layout) goes to every method that reads the layer (LIME reads only the image)."""
    if name == "lime":
        return LimeMethod(**options)
    if name == "advise":
        return AdviseMethod(reshape_transform=reshape_transform, **options)
    if name in CAM_CLASSES or name in MORE_CAM_CLASSES:
        return GradCamLibraryMethod(name, reshape_transform=reshape_transform, **options)
    if name in CONTROL_METHODS:
        return ControlMethod(name, reshape_transform=reshape_transform, **options)
    raise ValueError(f"unknown method {name!r}: choose from {', '.join(METHOD_NAMES)}")


def explain_batch(
    method: Method,
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
    if isinstance(method, LimeMethod | ControlMethod):
        method.images = images
    return explain_two_classes(method, model, layer, inputs, first, second)
