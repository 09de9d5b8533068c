"""Model presets (the paper's networks, MobileNetV2 and EfficientNet-Lite0), their layers and preprocessing."""

from captum_advise.models.device import check_device
from captum_advise.models.layers import resolve_layer
from captum_advise.models.preprocessing import GEOMETRIES, Geometry, ImagePreprocessor
from captum_advise.models.presets import (
    PRESETS,
    LoadedModel,
    ModelPreset,
    WeightsUnavailableError,
    imagenet_class_names,
    load_model,
)
from captum_advise.models.state import preserved_state

__all__ = [
    "GEOMETRIES",
    "PRESETS",
    "Geometry",
    "ImagePreprocessor",
    "LoadedModel",
    "ModelPreset",
    "WeightsUnavailableError",
    "check_device",
    "imagenet_class_names",
    "load_model",
    "preserved_state",
    "resolve_layer",
]
