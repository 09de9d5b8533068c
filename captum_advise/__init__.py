"""captum-advise: ADVISE (adaptive feature relevance and visual explanations for CNNs) for Captum."""

from captum_advise.density import KDEResult, adaptive_kde, count_peaks

__all__ = ["KDEResult", "adaptive_kde", "count_peaks"]
__version__ = "0.1.0"
