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
    deletion_insertion_auc,
    fsim_chromatic,
    hit,
    mask_images,
    normalized_mse,
    passes_check,
    recorded_cs,
    ssim_volume,
)

__all__ = ["ProtocolOptions", "score_maps"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)


@dataclass(frozen=True)
class ProtocolOptions:
    """The protocol's named options; defaults are the reference's.

    Attributes:
        mask: ``"binary"`` (reference: the map is rounded at 0.5) or ``"soft"``.
        tau: the CS threshold of the check (reference 0.55; the paper's text 0.5).
        o: ``"max"`` (reference: the masked image's largest probability) or ``"target"`` (its c1
            probability, as the paper's text writes).
        batch_size: masked images per forward pass.
        auc_steps: steps of the deletion and insertion curves (RISE's metrics, not part of the
            reference's protocol: extra columns); 0 leaves those columns empty and costs nothing.
            Each map costs 2 x (auc_steps + 1) forward passes.
    """

    mask: Literal["binary", "soft"] = "binary"
    tau: float = 0.55
    o: Literal["max", "target"] = "max"
    batch_size: int = 32
    auc_steps: int = 32


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
    mean_colour: Tensor | None = None,
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
        mean_colour: (3,) the pixel value (0-255) of a deleted pixel in the deletion curve: the
            normalisation's mean (RISE's zero of the normalised input); None: ImageNet's mean
            colour, the normalisation of the torchvision presets (the runner passes each
            preset's own).

    Returns:
        (M,) float64 tensors: cs (NaN recorded as 0), check (decided before that), hit, y, o, ad,
        ssim, fsim, mse, avx (after the penalty), and deletion and insertion AUC for c1 (NaN
        when ``options.auc_steps`` is 0), on the CPU.
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
    deletion = insertion = torch.full_like(ad, torch.nan)
    if options.auc_steps > 0:
        if mean_colour is None:
            mean_colour = torch.tensor(IMAGENET_MEAN) * 255
        deletion, insertion = deletion_insertion_auc(
            classify, originals, maps, predicted[image_index], mean_colour, options.auc_steps, options.batch_size
        )
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
        "deletion": deletion,
        "insertion": insertion,
    }
