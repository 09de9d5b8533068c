"""The AVX protocol for a set of maps (spec §5): mask, re-classify, score, penalise; then the same at matched areas."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from captum_advise.cams.seeds import content_seed
from captum_advise.metrics import (
    PENALTIES,
    Penalty,
    Scores,
    apply_penalty,
    average_drop,
    avx,
    class_sensitivity,
    deletion_insertion_auc,
    fsim_against,
    fsim_references,
    hit,
    kept_area,
    mask_images,
    measured_where,
    normalized_mse,
    passes_check,
    recorded_cs,
    ssim_against,
    ssim_references,
    top_area_masks,
)

__all__ = [
    "AREA_METRICS",
    "DEFAULT_AREAS",
    "DEFAULT_PENALTIES",
    "ProtocolOptions",
    "area_columns",
    "score_maps",
    "scoring_columns",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
DEFAULT_AREAS = (0.1, 0.25, 0.5)
# The reference's scoring first (the records' unsuffixed columns), then every lost class scored 0.
DEFAULT_PENALTIES: tuple[Penalty, ...] = ("reference", "zero")
# What is scored again at each matched area.
AREA_METRICS = ("hit", "ad", "ssim", "fsim", "mse", "avx")


def area_columns(areas: tuple[float, ...]) -> tuple[str, ...]:
    """The records' columns of the matched areas: ``avx@0.1``, ``hit@0.1``, ... for each area."""
    return tuple(f"{metric}@{area:g}" for area in areas for metric in AREA_METRICS)


def scoring_columns(areas: tuple[float, ...], penalties: tuple[str, ...]) -> tuple[str, ...]:
    """The records' AVX columns of the scorings after the first: ``avx/zero``, ``avx@0.1/zero``, ... (the
    first scoring's are the unsuffixed ``avx``, ``avx@0.1``, ...)."""
    return tuple(
        f"avx{suffix}/{penalty}" for penalty in penalties[1:] for suffix in ("", *(f"@{area:g}" for area in areas))
    )


def check_penalties(penalties: tuple[str, ...]) -> None:
    """One-line error for scorings that are not distinct names of :data:`~captum_advise.metrics.PENALTIES`."""
    if not penalties:
        raise ValueError(f"at least one penalty is needed: choose from {', '.join(PENALTIES)}")
    unknown = [penalty for penalty in penalties if penalty not in PENALTIES]
    if unknown:
        raise ValueError(f"penalty must be one of {', '.join(PENALTIES)}, got {', '.join(map(repr, unknown))}")
    if len(set(penalties)) != len(penalties):
        raise ValueError(f"penalties must be distinct, got {', '.join(penalties)}")


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
        penalty: how a lost prediction (Hit = 0) is scored, one or more of
            :data:`~captum_advise.metrics.PENALTIES` (a name or a tuple of names), all computed
            from the same masked images: ``"reference"`` (spec §5: scaled by delta where the maps
            pass the CS check, AVX 0 where they fail it), ``"delta"`` (every lost prediction
            scaled by delta), ``"zero"`` (every lost prediction scores AVX 0), ``"off"`` (the raw
            AD, SSIM, FSIM and MSE). The first gives the records' AD, SSIM, FSIM, MSE and AVX
            columns; each further one adds its AVX columns (:func:`scoring_columns`). Default:
            the reference's, then ``"zero"``.
        ties: how the matched areas break ties between pixels of equal value: ``"random"`` (a
            random order seeded by the map's and the photo's values, so the same map of the same
            photo keeps the same pixels in every run and batch) or ``"row_major"`` (the top rows
            first: how records written before the random order were scored).
    """

    mask: Literal["binary", "soft"] = "binary"
    tau: float = 0.55
    o: Literal["max", "target"] = "max"
    batch_size: int = 32
    auc_steps: int = 32
    areas: tuple[float, ...] = DEFAULT_AREAS
    penalty: Penalty | tuple[Penalty, ...] = DEFAULT_PENALTIES
    ties: Literal["random", "row_major"] = "random"

    def __post_init__(self) -> None:
        check_areas(self.areas)
        penalties = (self.penalty,) if isinstance(self.penalty, str) else tuple(self.penalty)
        check_penalties(penalties)
        object.__setattr__(self, "penalty", penalties)
        if self.ties not in ("random", "row_major"):
            raise ValueError(f"ties must be 'random' or 'row_major', got {self.ties!r}")

    @property
    def penalties(self) -> tuple[Penalty, ...]:
        """The scorings, the records' main one first."""
        return self.penalty  # type: ignore[return-value]


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
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Tensor]:
    """Every metric of every map (keyword arguments only).

    The masked images of every map, under the reference's mask and at every matched area, are
    built batch by batch and classified in shared forward passes of ``options.batch_size``; each
    photo's half of SSIM and FSIM is computed once for all its masked copies. A masked image's
    probabilities depend on which others share its forward pass only through the backend's
    arithmetic (about 1e-7 on a CPU); everything else is computed image by image.

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
        progress: called after each forward batch with (masked images scored, all of them).

    Returns:
        (M,) float64 tensors: cs (NaN recorded as 0), check (decided before that), hit, y, o, ad,
        ssim, fsim, mse, avx (after the penalty), area (the share of the image the reference's
        mask keeps), deletion and insertion AUC for c1 (NaN when ``options.auc_steps`` is 0), and
        for each matched area q, ``hit@q``, ``ad@q``, ``ssim@q``, ``fsim@q``, ``mse@q``, ``avx@q``
        (:func:`area_columns`: the image masked to the map's top q of the pixels; the check is
        the one above, a property of the two maps, so it does not change with q), all under the
        first of ``options.penalties``; then for each further penalty P, ``avx/P`` and ``avx@q/P``
        (:func:`scoring_columns`); on the CPU.
    """
    if cs_of == "maps":
        cs = class_sensitivity(maps, second_maps).cpu()
    elif cs_of == "masked_images":
        originals = images[image_index]
        cs = class_sensitivity(
            mask_images(originals, maps, options.mask), mask_images(originals, second_maps, options.mask)
        ).cpu()
    else:
        raise ValueError(f"cs_of must be 'maps' or 'masked_images', got {cs_of!r}")
    check = passes_check(cs, options.tau)
    predicted_m = predicted[image_index].cpu()
    seeds = _tie_seeds(images, image_index, maps) if options.ties == "random" and options.areas else None
    raw = _masked_image_scores(classify, images, image_index, maps, predicted_m, check, options, seeds, progress)
    original_probabilities = probabilities[image_index].cpu()
    count = maps.shape[0]

    def scored(variant: int, penalty: Penalty) -> dict[str, Tensor]:
        part = {name: values[variant * count : (variant + 1) * count] for name, values in raw.items()}
        return _penalised(part, original_probabilities, predicted_m, check, options, penalty)

    main, *others = options.penalties
    reference = scored(0, main)
    matched = {}
    for variant, area in enumerate(options.areas, start=1):
        at_area = scored(variant, main)
        matched |= {f"{metric}@{area:g}": at_area[metric] for metric in AREA_METRICS}
    for penalty in others:
        matched[f"avx/{penalty}"] = scored(0, penalty)["avx"]
        for variant, area in enumerate(options.areas, start=1):
            matched[f"avx@{area:g}/{penalty}"] = scored(variant, penalty)["avx"]
    deletion = insertion = torch.full_like(reference["ad"], torch.nan)
    if options.auc_steps > 0:
        if mean_colour is None:
            mean_colour = torch.tensor(IMAGENET_MEAN) * 255
        deletion, insertion = deletion_insertion_auc(
            classify,
            images[image_index],
            maps,
            predicted[image_index],
            mean_colour,
            options.auc_steps,
            options.batch_size,
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


def _masked_image_scores(
    classify: Callable[[Tensor], Tensor],
    images: Tensor,
    image_index: Tensor,
    maps: Tensor,
    predicted: Tensor,
    check: Tensor,
    options: ProtocolOptions,
    seeds: list[int] | None,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Tensor]:
    """Probabilities, SSIM, FSIM and MSE of every masked image: the reference's mask of every map,
    then each matched area's, in that order ((1 + len(areas)) x M rows, on the CPU).

    A masked image that every asked penalty scores AVX 0 (a lost class under ``"zero"``, or under
    ``"reference"`` where the maps fail the check) scores SSIM = FSIM = 0 and MSE = 1 whatever it
    looks like: its SSIM, FSIM and MSE are not computed (NaN here, replaced by the penalty).
    """
    count = maps.shape[0]
    total = count * (1 + len(options.areas))
    ssim_moments = ssim_references(images)
    fsim_features = fsim_references(images)
    parts: dict[str, list[Tensor]] = {"probabilities": [], "ssim": [], "fsim": [], "mse": []}
    for jobs in torch.arange(total).split(options.batch_size):
        variants, rows = jobs // count, jobs % count
        masked = torch.cat(
            [
                _masked(images, image_index, maps, rows[variants == v], options, v, seeds)
                for v in variants.unique().tolist()
            ]
        )
        index = image_index[rows.to(image_index.device)]
        with torch.inference_mode():
            masked_probabilities = classify(masked).cpu()
        parts["probabilities"].append(masked_probabilities)
        hits = hit(masked_probabilities, predicted[rows])
        needed = torch.zeros(len(jobs), dtype=torch.bool)
        for penalty in options.penalties:
            needed |= measured_where(hits, check[rows], penalty)
        kept, at = masked[needed.to(masked.device)], index[needed.to(index.device)]
        for name, values in (
            ("ssim", ssim_against(kept, images, ssim_moments, at)),
            ("fsim", fsim_against(kept, fsim_features, at)),
            ("mse", normalized_mse(kept, images[at])),
        ):
            parts[name].append(
                torch.full((len(jobs),), torch.nan, dtype=torch.float64).masked_scatter(needed, values.cpu())
            )
        if progress is not None:
            progress(int(jobs[-1]) + 1, total)
    return {name: torch.cat(values) for name, values in parts.items()}


def _tie_seeds(images: Tensor, image_index: Tensor, maps: Tensor) -> list[int]:
    """Each map's seed of its matched areas' random tie order: from its own values and its photo's."""
    photo_seeds = {int(n): content_seed(images[n]) for n in image_index.unique().tolist()}
    return [content_seed(maps[m], photo_seeds[int(image_index[m])]) for m in range(maps.shape[0])]


def _masked(
    images: Tensor,
    image_index: Tensor,
    maps: Tensor,
    rows: Tensor,
    options: ProtocolOptions,
    variant: int,
    seeds: list[int] | None,
) -> Tensor:
    """The masked images of ``maps[rows]``: the reference's mask (variant 0) or matched area ``variant``."""
    rows = rows.to(maps.device)
    originals = images[image_index[rows]]
    if variant == 0:
        return mask_images(originals, maps[rows], options.mask)
    row_seeds = None if seeds is None else [seeds[int(m)] for m in rows.tolist()]
    keep = top_area_masks(maps[rows], options.areas[variant - 1], row_seeds).unsqueeze(1)
    return torch.where(keep, originals, 0)


def _penalised(
    raw: dict[str, Tensor],
    probabilities: Tensor,
    predicted: Tensor,
    check: Tensor,
    options: ProtocolOptions,
    penalty: Penalty,
) -> dict[str, Tensor]:
    """hit, y, o, AD, SSIM, FSIM, MSE (penalised as ``penalty`` says) and AVX of masked images."""
    hits = hit(raw["probabilities"], predicted)
    ad, y, o = average_drop(probabilities, raw["probabilities"], predicted, options.o)
    scores = Scores(ad, raw["ssim"], raw["fsim"], raw["mse"])
    if penalty != "off":
        scores = apply_penalty(scores, hits, check, y, o, penalty)
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
