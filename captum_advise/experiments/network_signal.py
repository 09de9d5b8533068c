"""Does a randomised network still depend on its input? The spread of its outputs across photos.

A sanity check compares maps of a randomised network with the trained one's; that means something
only while the randomised network's output still varies with the photo. The spread of a tensor
across photos is the mean, over its values, of their standard deviation across the photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["ALIVE_FRACTION", "NetworkSignal", "network_signal"]

ALIVE_FRACTION = 0.01


@dataclass(frozen=True)
class NetworkSignal:
    """How much a network's explained layer and logits vary across a batch of photos.

    Attributes:
        activation_spread: spread of the explained layer's values across the photos.
        logit_spread: spread of the logits across the photos.
        distinct_predictions: how many different classes the photos are predicted as.
    """

    activation_spread: float
    logit_spread: float
    distinct_predictions: int

    def relative_to(self, trained: NetworkSignal) -> tuple[float, float]:
        """(activation spread, logit spread) as fractions of the trained network's."""
        return self.activation_spread / trained.activation_spread, self.logit_spread / trained.logit_spread

    def alive(self, trained: NetworkSignal) -> bool:
        """Both spreads at least ``ALIVE_FRACTION`` (1%) of the trained network's."""
        return min(self.relative_to(trained)) >= ALIVE_FRACTION


def _spread(values: Tensor) -> float:
    return float(values.double().std(dim=0).mean())


def network_signal(model: nn.Module, layer: nn.Module, inputs: Tensor) -> NetworkSignal:
    """The signal of ``model`` on (N >= 2) ``inputs``, read at ``layer`` and at the logits."""
    captured: list[Tensor] = []
    handle = layer.register_forward_hook(lambda _module, _args, output: captured.append(output.detach()))
    try:
        with torch.no_grad():
            logits = model(inputs)
    finally:
        handle.remove()
    return NetworkSignal(_spread(captured[0]), _spread(logits), len(set(logits.argmax(dim=1).tolist())))
