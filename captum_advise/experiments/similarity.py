"""How similar two saliency maps are: Spearman rank correlation (absolute and signed) and SSIM."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from torch import Tensor

__all__ = ["map_similarity"]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(spearmanr(a, b).statistic)


def map_similarity(first: Tensor, second: Tensor) -> dict[str, float]:
    """Similarity of two (H, W) maps, as in Adebayo et al.

    Returns:
        ``spearman_abs`` (rank correlation of absolute values), ``spearman`` (of signed values) and
        ``ssim`` (of the maps min-max normalised to [0, 1]). Identical maps score 1 on all three;
        a constant map against a varying one scores 0 rank correlation.
    """
    a = first.detach().double().cpu().numpy()
    b = second.detach().double().cpu().numpy()
    scaled = [(m - m.min()) / np.ptp(m) if np.ptp(m) > 0 else np.zeros_like(m) for m in (a, b)]
    return {
        "spearman_abs": _spearman(np.abs(a).ravel(), np.abs(b).ravel()),
        "spearman": _spearman(a.ravel(), b.ravel()),
        "ssim": float(structural_similarity(scaled[0], scaled[1], data_range=1.0)),
    }
