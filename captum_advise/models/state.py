"""Snapshot and restore the parts of a model that third-party explainers change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["preserved_state"]


@contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Restore every module's train/eval flag, every parameter's requires_grad and .grad on exit.

    pytorch-grad-cam, for instance, calls ``model.eval()`` and fills ``.grad`` through
    ``loss.backward()``; neither should outlive the call.
    """
    modules = list(model.modules())
    training = [module.training for module in modules]
    parameters = list(model.parameters())
    requires_grad = [parameter.requires_grad for parameter in parameters]
    grads = [parameter.grad for parameter in parameters]
    try:
        yield
    finally:
        for module, flag in zip(modules, training, strict=True):
            module.training = flag
        for parameter, flag, grad in zip(parameters, requires_grad, grads, strict=True):
            parameter.requires_grad_(flag)
            parameter.grad = grad
