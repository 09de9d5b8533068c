"""Model-parameter randomisation (Adebayo et al. 2018): cascading and independent, on copies.

Two re-initialisations. ``"scaled"`` (default) draws each parameter of a randomised layer from a
normal distribution with the trained parameter's own standard deviation: the layer keeps its
scale, so the randomised network still depends on its input at every step. ``"reset"`` calls
PyTorch's ``reset_parameters()``: with BatchNorm left trained, the spread of MobileNetV2's
``features.18`` activations across photos falls below 1% of the trained model's after 3 cascade
steps, and the later steps compare maps of a network whose output no longer depends on its input.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

RandomInit = Literal["scaled", "reset"]

__all__ = [
    "RandomInit",
    "cascading_randomization",
    "independent_randomization",
    "randomizable_layers",
    "randomize_layer",
]

RANDOMIZED_TYPES = (nn.Conv2d, nn.Linear)


def randomizable_layers(model: nn.Module) -> list[str]:
    """Names of the convolution and linear layers, from the output down (reverse definition order).

    For torchvision and timm classifiers the definition order is the forward order. BatchNorm
    layers are left trained: re-initialising their running statistics would rescale every
    activation and swamp what the test is after.
    """
    return [name for name, module in model.named_modules() if isinstance(module, RANDOMIZED_TYPES)][::-1]


def randomize_layer(model: nn.Module, name: str, seed: int, init: RandomInit = "scaled") -> None:
    """Re-initialise one layer's parameters in place from ``seed``.

    Args:
        model: the model (a copy: it is changed).
        name: the layer's name.
        seed: seed of the draw.
        init: ``"scaled"``: each parameter from N(0, std of its trained values) (a one-element
            parameter uses its absolute value); ``"reset"``: PyTorch's ``reset_parameters()``.
    """
    module = model.get_submodule(name)
    if init not in ("scaled", "reset"):
        raise ValueError(f"init must be 'scaled' or 'reset', got {init!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if init == "reset":
            module.reset_parameters()
            return
        with torch.no_grad():
            for parameter in module.parameters(recurse=False):
                scale = parameter.std() if parameter.numel() > 1 else parameter.abs().mean()
                parameter.copy_(torch.randn_like(parameter) * scale)


def cascading_randomization(
    model: nn.Module, steps: int | None = None, seed: int = 0, init: RandomInit = "scaled"
) -> Iterator[tuple[int, str, nn.Module]]:
    """Yield (k, name of the k-th layer from the top, a copy with the top k layers randomised), k = 1, 2, ...

    One deep copy is made and randomised further at each step; the caller's model is never touched.
    """
    layers = randomizable_layers(model)[:steps]
    randomized = copy.deepcopy(model)
    for step, name in enumerate(layers, start=1):
        randomize_layer(randomized, name, seed + step, init)
        yield step, name, randomized


def independent_randomization(
    model: nn.Module, steps: int | None = None, seed: int = 0, init: RandomInit = "scaled"
) -> Iterator[tuple[int, str, nn.Module]]:
    """Yield (k, name, a fresh copy with only the k-th layer from the top randomised)."""
    for step, name in enumerate(randomizable_layers(model)[:steps], start=1):
        randomized = copy.deepcopy(model)
        randomize_layer(randomized, name, seed + step, init)
        yield step, name, randomized
