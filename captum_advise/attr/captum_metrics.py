"""Layer attributions inside Captum's metrics, which follow the input attributions' convention."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import Tensor

__all__ = ["for_captum_metrics"]


def for_captum_metrics(attribute: Callable[..., Tensor]) -> Callable[..., Tensor | tuple[Tensor, ...]]:
    """Wrap a layer attribution's ``attribute`` so a tuple of inputs gives a tuple of attributions.

    ``captum.metrics.sensitivity_max`` calls its ``explanation_func`` with a tuple of inputs and
    reads the result as one attribution per input, the convention of Captum's input attributions
    (``Saliency``, ``IntegratedGradients``). Layer attributions return one tensor whatever the
    inputs (``LayerGradCam`` and :class:`LayerADVISE` alike), which ``sensitivity_max`` would
    then iterate over the batch. The wrapped method returns ``(maps,)`` for tuple inputs.

    Example:
        >>> import torch
        >>> from captum.metrics import sensitivity_max
        >>> from torch import nn
        >>> from captum_advise import LayerADVISE
        >>> from captum_advise.attr import for_captum_metrics
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
        >>> advise = LayerADVISE(net.eval(), net[0])
        >>> scores = sensitivity_max(for_captum_metrics(advise.attribute), torch.rand(2, 3, 16, 16), target=1)
        >>> scores.shape
        torch.Size([2])
    """

    @functools.wraps(attribute)
    def explanation(inputs: Any, *args: Any, **kwargs: Any) -> Tensor | tuple[Tensor, ...]:
        maps = attribute(inputs, *args, **kwargs)
        return (maps,) if isinstance(inputs, tuple) and isinstance(maps, Tensor) else maps

    return explanation
