"""The penalty for a lost prediction and AVX, the harmonic mean of the four scores (spec §5)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Scores", "apply_penalty", "avx"]


@dataclass
class Scores:
    """Per-image scores of one explanation method, each (N,) float64."""

    ad: Tensor
    ssim: Tensor
    fsim: Tensor
    mse: Tensor


def apply_penalty(scores: Scores, hit: Tensor, check: Tensor, y: Tensor, o: Tensor) -> Scores:
    """Where the masked image lost the prediction (Hit = 0), penalise the scores.

    If the maps of the top two classes differ enough (``check``), AD, SSIM, FSIM and MSE are all
    multiplied by delta = ``1 - |y - o|`` (this also lowers AD and MSE, which are lower-is-better: it
    is what the paper and the authors' code do); otherwise AD = 1, SSIM = 0, FSIM = 0, MSE = 1,
    which makes AVX 0. Images with Hit = 1 keep their scores.
    """
    delta = 1 - (y - o).abs()
    scaled = ~hit & check
    failed = ~hit & ~check

    def penalise(values: Tensor, on_failure: float) -> Tensor:
        values = torch.where(scaled, values * delta, values)
        return torch.where(failed, torch.full_like(values, on_failure), values)

    return Scores(
        penalise(scores.ad, 1.0), penalise(scores.ssim, 0.0), penalise(scores.fsim, 0.0), penalise(scores.mse, 1.0)
    )


def avx(scores: Scores) -> Tensor:
    """AVX = 4 / (1/SSIM + 1/FSIM + 1/(1 - MSE) + 1/(1 - AD)); 0 where any term is infinite."""
    terms = torch.stack([1 / scores.ssim, 1 / scores.fsim, 1 / (1 - scores.mse), 1 / (1 - scores.ad)])
    finite = torch.isfinite(terms).all(dim=0)
    return torch.where(finite, 4 / terms.sum(dim=0), 0.0)
