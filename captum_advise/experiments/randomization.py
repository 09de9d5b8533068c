"""Model-parameter randomisation (Adebayo et al. 2018): cascading and independent, on copies.

Which modules: ``"all"`` (default, as Quantus's MPRT) every module with parameters of its own,
BatchNorm's affine parameters and running statistics included; ``"conv-linear"`` only the
convolution and linear layers (BatchNorm left trained).

Two re-initialisations. ``"scaled"`` (default) draws each weight and bias of a convolution or linear
layer from a normal distribution with the trained parameter's own standard deviation, and each
parameter and floating-point buffer of any other module (BatchNorm's scale, shift, running mean
and variance) from a normal distribution with the trained values' own mean and standard deviation
(a variance as its absolute value): every module keeps its scale and offset, so the randomised
network still depends on its input at every step, but which channel gets which value is gone.
``"reset"`` calls PyTorch's ``reset_parameters()`` (BatchNorm's also resets its running
statistics); under ``"all"`` only modules that have one are randomised, as in Quantus. With
BatchNorm left trained, ``"reset"`` makes the spread of MobileNetV2's ``features.18`` activations
across photos fall below 1% of the trained model's after 3 cascade steps.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

RandomInit = Literal["scaled", "reset"]
Randomized = Literal["all", "conv-linear"]

__all__ = [
    "RANDOMIZED_MODULES",
    "RandomInit",
    "Randomized",
    "cascading_randomization",
    "independent_randomization",
    "randomizable_layers",
    "randomize_layer",
]

RANDOMIZED_MODULES = ("all", "conv-linear")
ZERO_MEAN_TYPES = (nn.Conv2d, nn.Linear)


def _is_randomized(module: nn.Module, randomize: Randomized, init: RandomInit) -> bool:
    if randomize == "conv-linear":
        return isinstance(module, ZERO_MEAN_TYPES)
    has_own = any(True for _ in module.parameters(recurse=False))
    return has_own and (init == "scaled" or hasattr(module, "reset_parameters"))


def randomizable_layers(model: nn.Module, randomize: Randomized = "all", init: RandomInit = "scaled") -> list[str]:
    """Names of the modules a randomisation changes, from the output down (reverse definition order).

    For torchvision and timm classifiers the definition order is the forward order.

    Raises:
        ValueError: an unknown ``randomize``; a model with no such module.
    """
    if randomize not in RANDOMIZED_MODULES:
        raise ValueError(f"randomize must be one of {RANDOMIZED_MODULES}, got {randomize!r}")
    names = [name for name, module in model.named_modules() if name and _is_randomized(module, randomize, init)]
    if not names:
        raise ValueError(f"the model has no module to randomise (randomize={randomize!r}): nothing to test")
    return names[::-1]


def _scaled_draw(module: nn.Module) -> None:
    zero_mean = isinstance(module, ZERO_MEAN_TYPES)
    drawn = [*module.named_parameters(recurse=False)]
    if not zero_mean:
        drawn += [(name, buffer) for name, buffer in module.named_buffers(recurse=False) if buffer.is_floating_point()]
    for name, tensor in drawn:
        one = tensor.numel() == 1
        scale = tensor.abs().mean() if one else tensor.std()
        centre = 0.0 if zero_mean or one else tensor.mean()
        values = torch.randn_like(tensor) * scale + centre
        tensor.copy_(values.abs() if name == "running_var" else values)


def randomize_layer(model: nn.Module, name: str, seed: int, init: RandomInit = "scaled") -> None:
    """Re-initialise one module's parameters (and, but for convolution and linear layers, floating-point
    buffers) in place from ``seed``.

    Args:
        model: the model (a copy: it is changed).
        name: the module's name.
        seed: seed of the draw.
        init: ``"scaled"`` (see the module's text) or ``"reset"``: PyTorch's ``reset_parameters()``.
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
            _scaled_draw(module)


def cascading_randomization(
    model: nn.Module,
    steps: int | None = None,
    seed: int = 0,
    init: RandomInit = "scaled",
    randomize: Randomized = "all",
) -> Iterator[tuple[int, str, nn.Module]]:
    """Yield (k, name of the k-th module from the top, a copy with the top k modules randomised), k = 1, 2, ...

    One deep copy is made and randomised further at each step; the caller's model is never touched.
    """
    layers = randomizable_layers(model, randomize, init)[:steps]
    randomized = copy.deepcopy(model)
    for step, name in enumerate(layers, start=1):
        randomize_layer(randomized, name, seed + step, init)
        yield step, name, randomized


def independent_randomization(
    model: nn.Module,
    steps: int | None = None,
    seed: int = 0,
    init: RandomInit = "scaled",
    randomize: Randomized = "all",
) -> Iterator[tuple[int, str, nn.Module]]:
    """Yield (k, name, a fresh copy with only the k-th module from the top randomised)."""
    for step, name in enumerate(randomizable_layers(model, randomize, init)[:steps], start=1):
        randomized = copy.deepcopy(model)
        randomize_layer(randomized, name, seed + step, init)
        yield step, name, randomized
