"""ADVISE as a Captum layer attribution: unit relevance, peak groups and their maps."""

from captum_advise.attr.captum_metrics import for_captum_metrics
from captum_advise.attr.explanation import ADVISEExplanation, PeakGroup, min_max_normalize, normalize_and_resize
from captum_advise.attr.group_rules import (
    GroupConfidence,
    PeakGroupMaps,
    confidence_choice,
    confidence_weighted_maps,
    explanation_confidence,
    group_confidence,
    peak_group_maps,
    score_groups,
)
from captum_advise.attr.layer_advise import LayerADVISE
from captum_advise.attr.token_layout import (
    ReshapeTransform,
    resolve_reshape_transform,
    swin_tokens_to_map,
    vit_tokens_to_map,
)
from captum_advise.attr.unit_relevance import flatten_column_major, unit_relevance

__all__ = [
    "ADVISEExplanation",
    "GroupConfidence",
    "LayerADVISE",
    "PeakGroup",
    "PeakGroupMaps",
    "ReshapeTransform",
    "confidence_choice",
    "confidence_weighted_maps",
    "explanation_confidence",
    "flatten_column_major",
    "for_captum_metrics",
    "group_confidence",
    "min_max_normalize",
    "normalize_and_resize",
    "peak_group_maps",
    "resolve_reshape_transform",
    "score_groups",
    "swin_tokens_to_map",
    "unit_relevance",
    "vit_tokens_to_map",
]
