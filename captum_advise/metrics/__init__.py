"""The AVX evaluation protocol's metrics (spec §5), and RISE's deletion and insertion AUC, one per module."""

from captum_advise.metrics.avx import PENALTIES, Penalty, Scores, apply_penalty, avx, measured_where
from captum_advise.metrics.class_sensitivity import class_sensitivity, passes_check, recorded_cs
from captum_advise.metrics.deletion_insertion import deletion_insertion_auc
from captum_advise.metrics.fsim import FsimReferences, fsim_against, fsim_chromatic, fsim_references
from captum_advise.metrics.masking import mask_images
from captum_advise.metrics.matched_area import kept_area, kept_pixel_count, top_area_masks
from captum_advise.metrics.mse import normalized_mse
from captum_advise.metrics.prediction_drop import average_drop, hit
from captum_advise.metrics.ssim_volume import SsimReferences, gaussian_taps, ssim_against, ssim_references, ssim_volume

__all__ = [
    "PENALTIES",
    "FsimReferences",
    "Penalty",
    "Scores",
    "SsimReferences",
    "apply_penalty",
    "average_drop",
    "avx",
    "class_sensitivity",
    "deletion_insertion_auc",
    "fsim_against",
    "fsim_chromatic",
    "fsim_references",
    "gaussian_taps",
    "hit",
    "kept_area",
    "kept_pixel_count",
    "mask_images",
    "measured_where",
    "normalized_mse",
    "passes_check",
    "recorded_cs",
    "ssim_against",
    "ssim_references",
    "ssim_volume",
    "top_area_masks",
]
