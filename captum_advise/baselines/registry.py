"""Explanation methods by name, and one call that gives any of them as :class:`Explanations`."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from captum_advise.baselines.advise import AdviseMethod
from captum_advise.baselines.control_method import CONTROL_METHODS, ControlMethod
from captum_advise.baselines.explanations import Explanations, explain_two_classes
from captum_advise.baselines.grad_cam_library import CAM_CLASSES
from captum_advise.baselines.grad_cam_method import GradCamLibraryMethod
from captum_advise.baselines.lime import LimeMethod

__all__ = ["COMPARED_METHODS", "CONTROL_METHODS", "METHOD_NAMES", "Method", "build_method", "explain_batch"]

# The methods compared, and the controls every evaluation scores beside them.
COMPARED_METHODS = ("advise", *CAM_CLASSES, "lime")
METHOD_NAMES = (*COMPARED_METHODS, *CONTROL_METHODS)

Method = AdviseMethod | GradCamLibraryMethod | LimeMethod | ControlMethod


def build_method(name: str, **options: Any) -> Method:
    """A method by name (:data:`METHOD_NAMES`) with its options."""
    if name == "advise":
        return AdviseMethod(**options)
    if name in CAM_CLASSES:
        return GradCamLibraryMethod(name, **options)
    if name == "lime":
        return LimeMethod(**options)
    if name in CONTROL_METHODS:
        return ControlMethod(name, **options)
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
