"""The AVX protocol for a set of maps (spec §5): mask, re-classify, score, penalise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from captum_advise.metrics import (
    Scores,
    apply_penalty,
    average_drop,
    avx,
    class_sensitivity,
    fsim_chromatic,
    hit,
    mask_images,
    normalized_mse,
    passes_check,
    recorded_cs,
    ssim_volume,
)

__all__ = ["ProtocolOptions", "score_maps"]


@dataclass(frozen=True)
class ProtocolOptions:
    """The protocol's named options; defaults are the reference's.

    Attributes:
        mask: ``"binary"`` (reference: the map is rounded at 0.5) or ``"soft"``.
        tau: the CS threshold of the check (reference 0.55; the paper's text 0.5).
        o: ``"max"`` (reference: the masked image's largest probability) or ``"target"`` (its c1
            probability, as the paper's text writes).
        batch_size: masked images per forward pass.
    """

    mask: Literal["binary", "soft"] = "binary"
    tau: float = 0.55
    o: Literal["max", "target"] = "max"
    batch_size: int = 32


def _probabilities(classify: Callable[[Tensor], Tensor], images: Tensor, batch_size: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([classify(images[i : i + batch_size]) for i in range(0, images.shape[0], batch_size)])


def score_maps(
    classify: Callable[[Tensor], Tensor],
    images: Tensor,
    probabilities: Tensor,
    predicted: Tensor,
    image_index: Tensor,
    maps: Tensor,
    second_maps: Tensor,
    options: ProtocolOptions = ProtocolOptions(),
    cs_of: Literal["maps", "masked_images"] = "maps",
) -> dict[str, Tensor]:
    """Every metric of every map.

    Args:
        classify: uint8 images (M, 3, H, W) -> softmax probabilities (M, C); it must preprocess
            exactly as for the original images.
        images: (N, 3, H, W) uint8 originals at the network's input size.
        probabilities: (N, C) softmax of the originals.
        predicted: (N,) c1.
        image_index: (M,) which image each map explains.
        maps: (M, H, W) maps for c1.
        second_maps: (M, H, W) maps for c2 (for CS).
        options: protocol options.
        cs_of: what CS correlates: the two ``"maps"`` (CAM methods, ADVISE) or the two
            ``"masked_images"`` (LIME in the reference: the RGB images restricted to each class's
            superpixels).

    Returns:
        (M,) float64 tensors: cs (NaN recorded as 0), check (decided before that), hit, y, o, ad,
        ssim, fsim, mse, avx (after the penalty), on the CPU.
    """
    originals = images[image_index]
    masked = mask_images(originals, maps, options.mask)
    masked_probabilities = _probabilities(classify, masked, options.batch_size).cpu()
    predicted_m = predicted[image_index].cpu()
    if cs_of == "maps":
        cs = class_sensitivity(maps, second_maps).cpu()
    elif cs_of == "masked_images":
        cs = class_sensitivity(masked, mask_images(originals, second_maps, options.mask)).cpu()
    else:
        raise ValueError(f"cs_of must be 'maps' or 'masked_images', got {cs_of!r}")
    check = passes_check(cs, options.tau)
    hits = hit(masked_probabilities, predicted_m)
    ad, y, o = average_drop(probabilities[image_index].cpu(), masked_probabilities, predicted_m, options.o)
    raw = Scores(
        ad,
        ssim_volume(masked, originals).cpu(),
        fsim_chromatic(masked, originals).cpu(),
        normalized_mse(masked, originals).cpu(),
    )
    scores = apply_penalty(raw, hits, check, y, o)
    return {
        "cs": recorded_cs(cs),
        "check": check.double(),
        "hit": hits.double(),
        "y": y,
        "o": o,
        "ad": scores.ad,
        "ssim": scores.ssim,
        "fsim": scores.fsim,
        "mse": scores.mse,
        "avx": avx(scores),
    }
