"""Model presets (the paper's networks, MobileNetV2, EfficientNet-Lite0, three timm transformers; any timm model
as ``timm:NAME``), their layers and preprocessing."""

from captum_advise.models.device import check_device
from captum_advise.models.layers import resolve_layer
from captum_advise.models.preprocessing import GEOMETRIES, Geometry, ImagePreprocessor
from captum_advise.models.presets import (
    PRESETS,
    TIMM_PREFIX,
    LoadedModel,
    ModelPreset,
    WeightsUnavailableError,
    imagenet_class_names,
    load_model,
    timm_model_preset,
)

__all__ = [
    "GEOMETRIES",
    "PRESETS",
    "TIMM_PREFIX",
    "Geometry",
    "ImagePreprocessor",
    "LoadedModel",
    "ModelPreset",
    "WeightsUnavailableError",
    "check_device",
    "imagenet_class_names",
    "load_model",
    "resolve_layer",
    "timm_model_preset",
]
