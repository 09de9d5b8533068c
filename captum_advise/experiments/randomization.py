"""Model-parameter randomisation (Adebayo et al. 2018): cascading and independent, on copies."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["cascading_randomization", "independent_randomization", "randomizable_layers", "randomize_layer"]

RANDOMIZED_TYPES = (nn.Conv2d, nn.Linear)


def randomizable_layers(model: nn.Module) -> list[str]:
    """Names of the convolution and linear layers, from the output down (reverse definition order).

    For torchvision and timm classifiers the definition order is the forward order. BatchNorm
    layers are left trained: re-initialising their running statistics would rescale every
    activation and swamp what the test is after.
    """
    return [name for name, module in model.named_modules() if isinstance(module, RANDOMIZED_TYPES)][::-1]


def randomize_layer(model: nn.Module, name: str, seed: int) -> None:
    """Re-initialise one layer's parameters in place, as PyTorch initialises a new layer, from ``seed``."""
    module = model.get_submodule(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module.reset_parameters()


def cascading_randomization(
    model: nn.Module, steps: int | None = None, seed: int = 0
) -> Iterator[tuple[int, str, nn.Module]]:
    """Yield (k, name of the k-th layer from the top, a copy with the top k layers randomised), k = 1, 2, ...

    One deep copy is made and randomised further at each step; the caller's model is never touched.
    """
    layers = randomizable_layers(model)[:steps]
    randomized = copy.deepcopy(model)
    for step, name in enumerate(layers, start=1):
        randomize_layer(randomized, name, seed + step)
        yield step, name, randomized


def independent_randomization(
    model: nn.Module, steps: int | None = None, seed: int = 0
) -> Iterator[tuple[int, str, nn.Module]]:
    """Yield (k, name, a fresh copy with only the k-th layer from the top randomised)."""
    for step, name in enumerate(randomizable_layers(model)[:steps], start=1):
        randomized = copy.deepcopy(model)
        randomize_layer(randomized, name, seed + step)
        yield step, name, randomized
