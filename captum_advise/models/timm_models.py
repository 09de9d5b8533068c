"""Any timm model as a network to explain: built with random weights, read for its preprocessing,
its token layout and a default layer.

timm is imported when a timm model is asked for (``pip install 'captum-advise[timm]'``); its
pretrained weights are not downloaded here: ``--weights FILE`` loads a state_dict.
"""

from __future__ import annotations

import importlib
import math
from types import ModuleType

from torch import nn

from captum_advise.models.preprocessing import ImagePreprocessor

__all__ = ["create_timm_model", "default_timm_layer", "import_timm", "timm_preprocessor", "token_layout"]

# timm's classes whose blocks give tokens, and how ADVISE reads them (captum_advise.attr.token_layout).
TOKEN_LAYOUTS = {"VisionTransformer": "vit", "VisionTransformerDistilled": "vit", "SwinTransformer": "swin"}


def import_timm() -> ModuleType:
    """timm, or a one-line ImportError saying how to install it."""
    try:
        return importlib.import_module("timm")
    except ImportError as error:
        raise ImportError("timm models need timm: pip install 'captum-advise[timm]'") from error


def create_timm_model(name: str) -> nn.Module:
    """``timm.create_model(name)`` with random weights.

    Raises:
        ValueError: timm has no model of that name.
    """
    timm = import_timm()
    try:
        return timm.create_model(name, pretrained=False)
    except RuntimeError as error:
        if "Unknown model" in str(error):
            raise ValueError(f"timm has no model {name!r} (see timm.list_models())") from None
        raise


def timm_preprocessor(model: nn.Module) -> ImagePreprocessor:
    """timm's own evaluation preprocessing of ``model`` (its pretrained config): resize the shorter side
    to floor(size / crop_pct), centre-crop, normalise with its mean and std."""
    config = import_timm().data.resolve_data_config({}, model=model)
    size = int(config["input_size"][-1])
    return ImagePreprocessor(
        resize=math.floor(size / config["crop_pct"]),
        crop=size,
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        interpolation=config["interpolation"] if config["interpolation"] in ("bilinear", "bicubic") else "bilinear",
    )


def token_layout(model: nn.Module) -> str | None:
    """``"vit"`` or ``"swin"`` for timm's transformers (their blocks give tokens), None for a CNN."""
    for cls in type(model).__mro__:
        if cls.__name__ in TOKEN_LAYOUTS:
            return TOKEN_LAYOUTS[cls.__name__]
    return None


def default_timm_layer(model: nn.Module) -> str:
    """The layer a timm model is explained at unless told otherwise.

    A ViT: the last block's first norm (``blocks.{L-1}.norm1``: the last block's output tokens get no
    gradient from the class token, as pytorch-grad-cam's tutorial notes). A Swin: the last stage's
    last block's ``norm1``. Any other model: the last stage timm reports in ``feature_info``.

    Raises:
        ValueError: a model with neither.
    """
    layout = token_layout(model)
    if layout == "vit":
        return f"blocks.{len(model.blocks) - 1}.norm1"
    if layout == "swin":
        last = len(model.layers) - 1
        return f"layers.{last}.blocks.{len(model.layers[last].blocks) - 1}.norm1"
    info = getattr(model, "feature_info", None)
    if isinstance(info, list) and info and "module" in info[-1]:
        return str(info[-1]["module"])
    raise ValueError(f"no default layer for timm model {type(model).__name__}: pass --layer")
