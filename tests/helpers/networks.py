"""The tiny networks the tests explain (random weights, seeded: code paths, not explanations), and the
model state every call must leave as it found it."""

from __future__ import annotations

import torch
from torch import nn


def tiny_cnn() -> nn.Sequential:
    """Conv -> Sigmoid (the explained layer: values in (0, 1), many peak counts) -> pool -> linear."""
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 12, 3, padding=1),
        nn.Sigmoid(),
        nn.Conv2d(12, 6, 3, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 5),
    ).eval()


def tiny_images(n: int = 3) -> torch.Tensor:
    torch.manual_seed(11)
    return torch.rand(n, 3, 14, 14) * 4 - 2


def model_state(model: nn.Module) -> tuple:
    return (
        [module.training for module in model.modules()],
        [parameter.requires_grad for parameter in model.parameters()],
        [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
        [parameter.grad is None for parameter in model.parameters()],
    )


def pooled_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 5),
    ).eval()


def small_cnn() -> nn.Sequential:
    torch.manual_seed(5)
    return nn.Sequential(
        nn.Conv2d(3, 12, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(12, 8, 3, stride=2),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    ).eval()


def same_size_cnn() -> nn.Sequential:
    """A CNN whose explained layer keeps the input's 8 x 8 size, so pytorch-grad-cam's resize is the identity."""
    torch.manual_seed(5)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4)
    ).eval()


def batch_norm_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.Sigmoid(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )
