"""captum-advise: ADVISE (adaptive feature relevance and visual explanations for CNNs) for Captum."""

from captum_advise.attr import ADVISEExplanation, LayerADVISE, PeakGroup, unit_relevance
from captum_advise.density import KDEResult, adaptive_kde, count_peaks

__all__ = [
    "ADVISEExplanation",
    "KDEResult",
    "LayerADVISE",
    "PeakGroup",
    "adaptive_kde",
    "count_peaks",
    "unit_relevance",
]
__version__ = "0.1.0"
