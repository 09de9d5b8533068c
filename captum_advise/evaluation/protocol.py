"""The AVX protocol for a set of maps (spec §5): mask, re-classify, score, penalise; then the same at matched areas."""

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
    kept_area,
    mask_images,
    normalized_mse,
    passes_check,
    recorded_cs,
    ssim_volume,
    top_area_masks,
)

__all__ = ["AREA_METRICS", "DEFAULT_AREAS", "ProtocolOptions", "area_columns", "score_maps"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
DEFAULT_AREAS = (0.1, 0.25, 0.5)
# What is scored again at each matched area.
AREA_METRICS = ("hit", "ad", "ssim", "fsim", "mse", "avx")


def area_columns(areas: tuple[float, ...]) -> tuple[str, ...]:
    """The records' columns of the matched areas: ``avx@0.1``, ``hit@0.1``, ... for each area."""
    return tuple(f"{metric}@{area:g}" for area in areas for metric in AREA_METRICS)


def check_areas(areas: tuple[float, ...]) -> None:
    """One-line error for matched areas that are not distinct numbers in (0, 1]."""
    for area in areas:
        if isinstance(area, bool) or not isinstance(area, (int, float)) or not 0 < area <= 1:
            raise ValueError(f"matched areas must be numbers in (0, 1], got {area!r}")
    names = [f"{area:g}" for area in areas]
    if len(set(names)) != len(names):
        raise ValueError(f"matched areas must be distinct, got {', '.join(names)}")


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
        areas: matched areas q (not the reference's): each map is scored again with a mask that
            keeps exactly its top q of the pixels (:func:`~captum_advise.metrics.top_area_masks`),
            with the same check and penalty; each area costs one forward pass per map. () turns
            them off.
        penalty: ``"reference"`` (a lost prediction is penalised: spec §5) or ``"off"`` (the raw
            AD, SSIM, FSIM and MSE enter AVX whatever the masked image's prediction).
    """

    mask: Literal["binary", "soft"] = "binary"
    tau: float = 0.55
    o: Literal["max", "target"] = "max"
    batch_size: int = 32
    auc_steps: int = 32
    areas: tuple[float, ...] = DEFAULT_AREAS
    penalty: Literal["reference", "off"] = "reference"

    def __post_init__(self) -> None:
        check_areas(self.areas)
        if self.penalty not in ("reference", "off"):
            raise ValueError(f"penalty must be 'reference' or 'off', got {self.penalty!r}")


def _probabilities(classify: Callable[[Tensor], Tensor], images: Tensor, batch_size: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([classify(images[i : i + batch_size]) for i in range(0, images.shape[0], batch_size)])


def score_maps(
    *,
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
    """Every metric of every map (keyword arguments only).

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
        ssim, fsim, mse, avx (after the penalty), area (the share of the image the reference's
        mask keeps), deletion and insertion AUC for c1 (NaN when ``options.auc_steps`` is 0), and
        for each matched area q, ``hit@q``, ``ad@q``, ``ssim@q``, ``fsim@q``, ``mse@q``, ``avx@q``
        (:func:`area_columns`: the image masked to the map's top q of the pixels; the check is
        the one above, a property of the two maps, so it does not change with q), on the CPU.
    """
    originals = images[image_index]
    masked = mask_images(originals, maps, options.mask)
    predicted_m = predicted[image_index].cpu()
    if cs_of == "maps":
        cs = class_sensitivity(maps, second_maps).cpu()
    elif cs_of == "masked_images":
        cs = class_sensitivity(masked, mask_images(originals, second_maps, options.mask)).cpu()
    else:
        raise ValueError(f"cs_of must be 'maps' or 'masked_images', got {cs_of!r}")
    check = passes_check(cs, options.tau)
    original_probabilities = probabilities[image_index].cpu()

    def scored(masked_images: Tensor) -> dict[str, Tensor]:
        return _masked_scores(classify, masked_images, originals, original_probabilities, predicted_m, check, options)

    reference = scored(masked)
    matched = {}
    for area in options.areas:
        keep = top_area_masks(maps, area).unsqueeze(1)
        at_area = scored(torch.where(keep, originals, 0))
        matched |= {f"{metric}@{area:g}": at_area[metric] for metric in AREA_METRICS}
    deletion = insertion = torch.full_like(reference["ad"], torch.nan)
    if options.auc_steps > 0:
        if mean_colour is None:
            mean_colour = torch.tensor(IMAGENET_MEAN) * 255
        deletion, insertion = deletion_insertion_auc(
            classify, originals, maps, predicted[image_index], mean_colour, options.auc_steps, options.batch_size
        )
    return {
        "cs": recorded_cs(cs),
        "check": check.double(),
        **reference,
        "area": kept_area(maps, options.mask).cpu(),
        "deletion": deletion,
        "insertion": insertion,
        **matched,
    }


def _masked_scores(
    classify: Callable[[Tensor], Tensor],
    masked: Tensor,
    originals: Tensor,
    probabilities: Tensor,
    predicted: Tensor,
    check: Tensor,
    options: ProtocolOptions,
) -> dict[str, Tensor]:
    """hit, y, o, AD, SSIM, FSIM, MSE (penalised as ``options.penalty`` says) and AVX of masked images."""
    masked_probabilities = _probabilities(classify, masked, options.batch_size).cpu()
    hits = hit(masked_probabilities, predicted)
    ad, y, o = average_drop(probabilities, masked_probabilities, predicted, options.o)
    scores = Scores(
        ad,
        ssim_volume(masked, originals).cpu(),
        fsim_chromatic(masked, originals).cpu(),
        normalized_mse(masked, originals).cpu(),
    )
    if options.penalty == "reference":
        scores = apply_penalty(scores, hits, check, y, o)
    return {
        "hit": hits.double(),
        "y": y,
        "o": o,
        "ad": scores.ad,
        "ssim": scores.ssim,
        "fsim": scores.fsim,
        "mse": scores.mse,
        "avx": avx(scores),
    }
