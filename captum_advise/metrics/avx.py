"""The penalty for a lost prediction and AVX, the harmonic mean of the four scores (spec §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = ["PENALTIES", "Penalty", "Scores", "apply_penalty", "avx", "measured_where"]

Penalty = Literal["reference", "delta", "zero", "off"]
# Every scoring of a lost prediction: the reference's (decided by the CS check), then the three
# that treat every map alike whatever its CS.
PENALTIES: tuple[Penalty, ...] = ("reference", "delta", "zero", "off")


@dataclass
class Scores:
    """Per-image scores of one explanation method, each (N,) float64."""

    ad: Tensor
    ssim: Tensor
    fsim: Tensor
    mse: Tensor


def _lost(hit: Tensor, check: Tensor, penalty: Penalty) -> tuple[Tensor, Tensor]:
    """(scaled, failed): the masked images whose scores ``penalty`` scales by delta, and those it sets to AVX 0."""
    lost = ~hit
    if penalty == "reference":
        return lost & check, lost & ~check
    if penalty == "delta":
        return lost, torch.zeros_like(lost)
    if penalty == "zero":
        return torch.zeros_like(lost), lost
    if penalty == "off":
        return torch.zeros_like(lost), torch.zeros_like(lost)
    raise ValueError(f"penalty must be one of {', '.join(PENALTIES)}, got {penalty!r}")


def measured_where(hit: Tensor, check: Tensor, penalty: Penalty) -> Tensor:
    """Where ``penalty`` needs a masked image's SSIM, FSIM and MSE: everywhere but where it sets AVX to 0."""
    return ~_lost(hit, check, penalty)[1]


def apply_penalty(
    scores: Scores, hit: Tensor, check: Tensor, y: Tensor, o: Tensor, penalty: Penalty = "reference"
) -> Scores:
    """Where the masked image lost the prediction (Hit = 0), penalise the scores.

    ``"reference"`` (the paper and the authors' code): if the maps of the top two classes differ
    enough (``check``), AD, SSIM, FSIM and MSE are all multiplied by delta = ``1 - |y - o|`` (this
    also lowers AD and MSE, which are lower-is-better); otherwise AD = 1, SSIM = 0, FSIM = 0,
    MSE = 1, which makes AVX 0. The CS check, a property of the two class maps, thus decides the
    penalty of every masked image of a map. ``"delta"``: every lost prediction is scaled by delta,
    whatever the check; ``"zero"``: every lost prediction scores AVX 0; ``"off"``: no penalty.
    Images with Hit = 1 keep their scores.
    """
    delta = 1 - (y - o).abs()
    scaled, failed = _lost(hit, check, penalty)

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
