"""How similar two saliency maps are, with Adebayo et al.'s measures.

Each measure says what it is computed on: ``spearman_abs`` the absolute values of the raw maps,
``spearman`` the raw (signed) maps, ``ssim`` and ``hog`` the maps min-max scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from skimage.feature import hog
from skimage.metrics import structural_similarity
from torch import Tensor

__all__ = ["MEASURE_TITLES", "SIMILARITY_MEASURES", "map_similarity"]

SIMILARITY_MEASURES = ("spearman_abs", "spearman", "ssim", "hog")
MEASURE_TITLES = {
    "spearman_abs": "Spearman of |raw map|",
    "spearman": "Spearman of the raw, signed map",
    "ssim": "SSIM of min-max-scaled maps",
    "hog": "HOG similarity of min-max-scaled maps",
}


def _correlation(a: np.ndarray, b: np.ndarray, rank: bool) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(spearmanr(a, b).statistic if rank else np.corrcoef(a, b)[0, 1])


def _hog(scaled: np.ndarray) -> np.ndarray:
    cell = max(2, min(scaled.shape) // 8)  # 8 x 8 cells of a 64-pixel map, 28 x 28 of a 224-pixel one
    return hog(scaled, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2), feature_vector=True)


def map_similarity(first: Tensor, second: Tensor) -> dict[str, float]:
    """Similarity of two (H, W) maps, as in Adebayo et al. (2018).

    Returns:
        ``spearman_abs`` (rank correlation of absolute values), ``spearman`` (of signed values),
        ``ssim`` (of the maps min-max normalised to [0, 1]) and ``hog`` (Pearson correlation of
        the HOG descriptors of the normalised maps). Identical maps score 1 on all four; a
        constant map against a varying one scores 0 correlation.
    """
    a = first.detach().double().cpu().numpy()
    b = second.detach().double().cpu().numpy()
    scaled = [(m - m.min()) / np.ptp(m) if np.ptp(m) > 0 else np.zeros_like(m) for m in (a, b)]
    return {
        "spearman_abs": _correlation(np.abs(a).ravel(), np.abs(b).ravel(), rank=True),
        "spearman": _correlation(a.ravel(), b.ravel(), rank=True),
        "ssim": float(structural_similarity(scaled[0], scaled[1], data_range=1.0)),
        "hog": _correlation(_hog(scaled[0]), _hog(scaled[1]), rank=False),
    }
