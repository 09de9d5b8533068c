"""Hit and AD: does the masked image keep the prediction, and how much probability it loses (spec §5)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["average_drop", "hit"]


def hit(masked_probabilities: Tensor, predicted: Tensor, k: int = 5) -> Tensor:
    """(N,) bool: the predicted class c1 is among the top-k classes of the masked image (all, if fewer)."""
    top = masked_probabilities.topk(min(k, masked_probabilities.shape[1]), dim=1).indices
    return (top == predicted.view(-1, 1)).any(dim=1)


def average_drop(
    original_probabilities: Tensor,
    masked_probabilities: Tensor,
    predicted: Tensor,
    o: Literal["max", "target"] = "max",
) -> tuple[Tensor, Tensor, Tensor]:
    """AD = max(0, y - o) / y per image.

    Args:
        original_probabilities: (N, C) softmax of the original images.
        masked_probabilities: (N, C) softmax of the masked images.
        predicted: (N,) c1.
        o: ``"max"`` (reference): o is the largest probability of the masked image, any class;
            ``"target"`` (the paper's text): o is the masked image's probability of c1.

    Returns:
        (AD, y, o), each (N,) float64.
    """
    index = predicted.view(-1, 1)
    y = original_probabilities.gather(1, index).squeeze(1).to(torch.float64)
    if o == "max":
        masked = masked_probabilities.max(dim=1).values.to(torch.float64)
    elif o == "target":
        masked = masked_probabilities.gather(1, index).squeeze(1).to(torch.float64)
    else:
        raise ValueError(f"o must be 'max' or 'target', got {o!r}")
    return (y - masked).clamp(min=0) / y, y, masked
