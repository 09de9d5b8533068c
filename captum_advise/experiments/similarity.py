"""How similar two saliency maps are, with Adebayo et al.'s measures, every map in the same compared forms.

Every method's map enters raw and signed; the comparison makes two forms of it, the same way for
every method: the absolute form |map| and the signed form map, each min-max scaled to [0, 1].
Rank correlation, SSIM and HOG similarity are computed on each form: ``spearman_abs``,
``ssim_abs`` and ``hog_abs`` on the absolute form, ``spearman``, ``ssim`` and ``hog`` on the signed
one. (A min-max scaling does not change ranks: the Spearman measures are computed on |map| and
map themselves, so that two different constant maps do not become equal.) A non-negative map
has equal forms, so its ``_abs`` and signed measures coincide.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr
from skimage.feature import hog
from skimage.metrics import structural_similarity
from torch import Tensor

from captum_advise.attr.explanation import min_max_normalize

__all__ = ["MEASURE_TITLES", "SIMILARITY_MEASURES", "map_similarity"]

SIMILARITY_MEASURES = ("spearman_abs", "spearman", "ssim_abs", "ssim", "hog_abs", "hog")
MEASURE_TITLES = {
    "spearman_abs": "Spearman of |map|",
    "spearman": "Spearman of the signed map",
    "ssim_abs": "SSIM of |map|, min-max scaled",
    "ssim": "SSIM of the signed map, min-max scaled",
    "hog_abs": "HOG similarity of |map|, min-max scaled",
    "hog": "HOG similarity of the signed map, min-max scaled",
}


def _correlation(a: np.ndarray, b: np.ndarray, rank: bool) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(spearmanr(a, b).statistic if rank else np.corrcoef(a, b)[0, 1])


def _hog(scaled: np.ndarray) -> np.ndarray:
    cell = max(2, min(scaled.shape) // 8)  # 8 x 8 cells of a 64-pixel map, 28 x 28 of a 224-pixel one
    return hog(scaled, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2), feature_vector=True)


def _scaled(values: np.ndarray) -> np.ndarray:
    return min_max_normalize(torch.from_numpy(values)).numpy()


def map_similarity(first: Tensor, second: Tensor) -> dict[str, float]:
    """Similarity of two (H, W) raw, signed maps, as in Adebayo et al. (2018), on both compared forms.

    Returns:
        For the absolute form (``_abs``) and the signed form: ``spearman`` (rank correlation),
        ``ssim`` (of the form min-max scaled to [0, 1]) and ``hog`` (Pearson correlation of the
        HOG descriptors of the scaled form). Identical maps score 1 on all six; a constant map
        against a varying one scores 0 correlation.
    """
    a = first.detach().double().cpu().numpy()
    b = second.detach().double().cpu().numpy()
    measures = {}
    for suffix, form in (("_abs", np.abs), ("", np.asarray)):
        # Ranks of the unscaled form: two different constant maps are not made equal by the scaling.
        measures[f"spearman{suffix}"] = _correlation(form(a).ravel(), form(b).ravel(), rank=True)
        x, y = _scaled(form(a)), _scaled(form(b))
        measures[f"ssim{suffix}"] = float(structural_similarity(x, y, data_range=1.0))
        measures[f"hog{suffix}"] = _correlation(_hog(x), _hog(y), rank=False)
    return {name: measures[name] for name in SIMILARITY_MEASURES}
