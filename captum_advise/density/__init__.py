"""The adaptive-bandwidth density estimate behind ADVISE's unit relevance, and its peak count."""

from captum_advise.density.adaptive_kde import KDEResult, adaptive_kde
from captum_advise.density.peaks import count_peaks

__all__ = ["KDEResult", "adaptive_kde", "count_peaks"]
