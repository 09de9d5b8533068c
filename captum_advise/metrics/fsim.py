"""FSIMc (Zhang et al. 2011), the chromatic feature-similarity index, through piq (spec §5).

A reference photo is compared with many masked copies of itself, so its half of the work (its
luminance, chrominance, phase congruency and gradient map) is computed once
(:func:`fsim_references`) and reused for every copy (:func:`fsim_against`). Both run piq's own
steps (``piq.fsim`` with ``data_range=255, chromatic=True``, piq 0.8.0) in the same order, and
each image's arithmetic is independent of the others in its batch, so the result is bitwise piq's
on any batch of two or more images (piq's own sum over a batch of one lands one float32 ulp away).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from piq.fsim import _construct_filters, _phase_congruency
from piq.functional import gradient_map, rgb2yiq, scharr_filter, similarity_map
from torch import Tensor

__all__ = ["FsimReferences", "fsim_against", "fsim_chromatic", "fsim_references"]

DATA_RANGE = 255.0
# Images per FFT batch: keeps the 16 complex filter responses of a batch within a few hundred MB.
CHUNK = 8
# piq's constants (FSIM's T1, T2, T3, T4 and lambda).
T1, T2, T3, T4, LAMBDA = 0.85, 160, 200, 200, 0.03


@dataclass(frozen=True)
class FsimReferences:
    """The reference half of FSIMc for N images, each (N, 1, H', W') float32 (H' = H after piq's pooling)."""

    luminance: Tensor
    i: Tensor
    q: Tensor
    phase_congruency: Tensor
    gradient: Tensor

    def __getitem__(self, index: Tensor) -> FsimReferences:
        return FsimReferences(*(getattr(self, name)[index] for name in self.__dataclass_fields__))


def _features(images: Tensor) -> FsimReferences:
    """Luminance, I, Q, phase congruency and gradient map of uint8-valued (N, 3, H, W) images, as piq computes them."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
    x = images.to(torch.float32) / DATA_RANGE * 255
    kernel_size = max(1, round(min(x.shape[-2:]) / 256))
    yiq = rgb2yiq(torch.nn.functional.avg_pool2d(x, kernel_size))
    luminance = yiq[:, :1]
    filters = _construct_filters(luminance)
    phase = torch.cat([_phase_congruency(part, filters=filters) for part in luminance.split(CHUNK)])
    scharr = scharr_filter(device=luminance.device, dtype=luminance.dtype)
    gradient = gradient_map(luminance, torch.stack([scharr, scharr.transpose(-1, -2)]))
    return FsimReferences(luminance, yiq[:, 1:2], yiq[:, 2:], phase, gradient)


def fsim_references(references: Tensor) -> FsimReferences:
    """The reference half of FSIMc, computed once for :func:`fsim_against`.

    Args:
        references: (N, 3, H, W) uint8-valued reference images.

    Returns:
        Their luminance, chrominance, phase congruency and gradient map (float32, on their device).
    """
    return _features(references)


def fsim_against(images: Tensor, references: FsimReferences, index: Tensor | None = None) -> Tensor:
    """FSIMc of each image against its reference's precomputed half.

    Args:
        images: (M, 3, H, W) uint8-valued images.
        references: :func:`fsim_references` of N reference images.
        index: (M,) which reference each image is compared with; None: image m with reference m.

    Returns:
        (M,) float64 FSIMc, bitwise ``piq.fsim(images, refs, reduction="none", data_range=255,
        chromatic=True)`` for M >= 2 (whatever the batches), computed in float32 (3x faster than
        float64 and within 1e-6 of it on uint8 images).
    """
    if index is not None:
        references = references[index]
    if images.shape[0] != references.luminance.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {references.luminance.shape[0]} references")
    scores = []
    for part in torch.arange(images.shape[0], device=images.device).split(CHUNK):
        x = _features(images[part])
        y = references[part]
        phase = similarity_map(x.phase_congruency, y.phase_congruency, T1)
        gradient = similarity_map(x.gradient, y.gradient, T2)
        pc_max = torch.where(x.phase_congruency > y.phase_congruency, x.phase_congruency, y.phase_congruency)
        score = gradient * phase * pc_max
        chroma = similarity_map(x.i, y.i, T3) * similarity_map(x.q, y.q, T4)
        score = score * torch.abs(chroma) ** LAMBDA
        scores.append(_per_image_sum(score) / _per_image_sum(pc_max))
    if not scores:
        return torch.zeros(0, dtype=torch.float64, device=images.device)
    return torch.cat(scores).to(torch.float64)


def _per_image_sum(values: Tensor) -> Tensor:
    """Each image's sum, as torch sums a batch of two or more: a batch of one is otherwise summed in
    another order (one float32 ulp apart), which would tie a score to its batch's size."""
    if values.shape[0] == 1:
        return torch.cat([values, values]).sum(dim=[1, 2, 3])[:1]
    return values.sum(dim=[1, 2, 3])


def fsim_chromatic(images: Tensor, references: Tensor) -> Tensor:
    """FSIMc of each image against its reference.

    Args:
        images: (N, 3, H, W) uint8-valued images.
        references: (N, 3, H, W) the reference images.

    Returns:
        (N,) float64 FSIMc (``piq.fsim(..., data_range=255, chromatic=True)``, which matches the
        reference's MATLAB FSIMc within about 1e-4).
    """
    if images.shape != references.shape or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images and references must both be (N, 3, H, W), got {images.shape} and {references.shape}")
    return fsim_against(images, fsim_references(references))
