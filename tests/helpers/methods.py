"""The evaluator's methods called as the evaluator calls them, through one :class:`ExplanationBatch`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from captum_advise.evaluation.methods import ExplanationBatch, SingleMapMethod


def batch_of(
    model: nn.Module, layer: nn.Module, inputs: Tensor, first: Tensor, second: Tensor, images: Tensor | None = None
) -> ExplanationBatch:
    """A batch of ``inputs`` for classes ``first`` and ``second``; ``images`` default to the inputs as uint8."""
    if images is None:
        images = (inputs.detach().clamp(0, 1) * 255).round().to(torch.uint8)
    return ExplanationBatch(model, layer, inputs, images, first, second)


def class_maps(
    method: SingleMapMethod,
    model: nn.Module,
    layer: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    images: Tensor | None = None,
) -> Tensor:
    """A single-map method's (N, H, W) maps of ``targets``."""
    return method.class_maps(batch_of(model, layer, inputs, targets, targets, images), targets)
