"""What every explanation method returns to the evaluator, and the interface of single-map methods."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch
from torch import Tensor, nn

__all__ = ["Explanations", "MapVariant", "SingleMapMethod", "explain_two_classes"]


@dataclass(frozen=True)
class MapVariant:
    """Which explanation a map is.

    Attributes:
        method: the method's name as reported (``"gradcam"``, ``"advise"``, ``"advise-auto"``, ...).
        group: the ADVISE peak count of the map's group; None for other methods.
        units: how many units the map uses (None where that does not apply).
        also_as: other method names the same map is reported under (ADVISE's ``"advise-auto"``
            and ``"advise-confidence"`` for the groups they pick), so its metrics are computed once.
        draw: which random draw the map belongs to (ADVISE's random-groups twin); None otherwise.
    """

    method: str
    group: int | None = None
    units: int | None = None
    also_as: tuple[str, ...] = ()
    draw: int | None = None


@dataclass
class Explanations:
    """One method's maps for a batch of N images, at input resolution, about [0, 1].

    Attributes:
        maps: per image, (G_n, H, W) maps for the predicted class c1.
        second_maps: per image, (G_n, H, W) maps of the same variants for the second class c2.
        variants: per image, what each of its G_n maps is.
        seconds: wall time spent computing all of the batch's maps (both classes).
        cs_of: what the protocol's CS correlates for this method: the two ``"maps"``, or the two
            ``"masked_images"`` (LIME, as the reference scores it).
        method_seconds: the wall time of the rows reported under a method name, where it is not
            ``seconds`` (ADVISE: a rule's rows cost its groups' time plus the rule's forward
            passes; the random-groups rows cost their own draw's).
    """

    maps: list[Tensor]
    second_maps: list[Tensor]
    variants: list[list[MapVariant]]
    seconds: float
    cs_of: Literal["maps", "masked_images"] = "maps"
    method_seconds: dict[str, float] = field(default_factory=dict)

    def joined(self, other: Explanations) -> Explanations:
        """These maps and ``other``'s (of the same images) as one set; a method name's time adds up over both."""
        method_seconds = dict(self.method_seconds)
        for name, seconds in other.method_seconds.items():
            method_seconds[name] = method_seconds.get(name, 0.0) + seconds
        return Explanations(
            [torch.cat(pair) for pair in zip(self.maps, other.maps, strict=True)],
            [torch.cat(pair) for pair in zip(self.second_maps, other.second_maps, strict=True)],
            [mine + theirs for mine, theirs in zip(self.variants, other.variants, strict=True)],
            self.seconds + other.seconds,
            self.cs_of,
            method_seconds,
        )


class SingleMapMethod(Protocol):
    """A method with one map per image and class: (model, layer, inputs, targets) -> (N, H, W) in [0, 1].

    ``cs_of`` says what the protocol's CS correlates for it (see :class:`Explanations`).
    """

    name: str
    cs_of: Literal["maps", "masked_images"]

    def __call__(self, model: nn.Module, layer: nn.Module, inputs: Tensor, targets: Tensor) -> Tensor: ...


def explain_two_classes(
    method: SingleMapMethod, model: nn.Module, layer: nn.Module, inputs: Tensor, first: Tensor, second: Tensor
) -> Explanations:
    """Run a single-map method for c1 and c2 and time it."""
    start = time.perf_counter()
    first_maps = method(model, layer, inputs, first)
    second_maps = method(model, layer, inputs, second)
    seconds = time.perf_counter() - start
    return Explanations(
        maps=[maps.unsqueeze(0) for maps in first_maps],
        second_maps=[maps.unsqueeze(0) for maps in second_maps],
        variants=[[MapVariant(method.name)] for _ in range(inputs.shape[0])],
        seconds=seconds,
        cs_of=method.cs_of,
    )
