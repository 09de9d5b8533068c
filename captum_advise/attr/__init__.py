"""ADVISE as a Captum layer attribution: unit relevance, peak groups and their maps."""

from captum_advise.attr.captum_metrics import for_captum_metrics
from captum_advise.attr.explanation import ADVISEExplanation, PeakGroup, min_max_normalize, normalize_and_resize
from captum_advise.attr.layer_advise import LayerADVISE
from captum_advise.attr.token_layout import ReshapeTransform, swin_tokens_to_map, vit_tokens_to_map
from captum_advise.attr.unit_relevance import flatten_column_major, unit_relevance

__all__ = [
    "ADVISEExplanation",
    "LayerADVISE",
    "PeakGroup",
    "ReshapeTransform",
    "flatten_column_major",
    "for_captum_metrics",
    "min_max_normalize",
    "normalize_and_resize",
    "swin_tokens_to_map",
    "unit_relevance",
    "vit_tokens_to_map",
]
