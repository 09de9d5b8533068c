"""The evaluator's one call to a method, ``explain(batch) -> MethodMaps``: what goes in and what comes out.

:class:`ExplanationBatch` carries everything a method may read (the model, the layer, the
normalised inputs, the uint8 originals, both classes); :class:`MethodMaps` is what every method
returns; :class:`SingleMapMethod` is the base of the methods with one map per image and class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

__all__ = ["ExplanationBatch", "MapVariant", "MethodMaps", "SingleMapMethod"]


@dataclass(frozen=True)
class ExplanationBatch:
    """A batch of N images as every evaluator method receives it.

    Attributes:
        model: the classifier; ``layer`` one of its modules.
        layer: the explained layer.
        inputs: (N, 3, H, W) the network's normalised inputs.
        images: (N, 3, H, W) uint8 RGB images the inputs were made from (LIME's superpixels and
            SobelCAM read them).
        first: (N,) the predicted class c1 of each image.
        second: (N,) the second class c2 of each image.
    """

    model: nn.Module
    layer: nn.Module
    inputs: Tensor
    images: Tensor
    first: Tensor
    second: Tensor

    def __post_init__(self) -> None:
        count = self.inputs.shape[0]
        sizes = {"images": self.images.shape[0], "first": self.first.numel(), "second": self.second.numel()}
        wrong = {name: size for name, size in sizes.items() if size != count}
        if wrong:
            raise ValueError(f"a batch of {count} inputs needs as many images and classes, got {wrong}")


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
class MethodMaps:
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

    def joined(self, other: MethodMaps) -> MethodMaps:
        """These maps and ``other``'s (of the same images) as one set; a method name's time adds up over both."""
        method_seconds = dict(self.method_seconds)
        for name, seconds in other.method_seconds.items():
            method_seconds[name] = method_seconds.get(name, 0.0) + seconds
        return MethodMaps(
            [torch.cat(pair) for pair in zip(self.maps, other.maps, strict=True)],
            [torch.cat(pair) for pair in zip(self.second_maps, other.second_maps, strict=True)],
            [mine + theirs for mine, theirs in zip(self.variants, other.variants, strict=True)],
            self.seconds + other.seconds,
            self.cs_of,
            method_seconds,
        )


class SingleMapMethod:
    """The base of a method with one map per image and class: :meth:`class_maps` gives (N, H, W) maps of
    one class, :meth:`explain` runs it for c1 and c2 and times both.

    ``cs_of`` says what the protocol's CS correlates for it (see :class:`MethodMaps`).
    """

    name: str
    cs_of: ClassVar[Literal["maps", "masked_images"]] = "maps"

    def class_maps(self, batch: ExplanationBatch, targets: Tensor) -> Tensor:
        """(N,) classes -> (N, H, W) float32 maps in [0, 1] of those classes, on the inputs' device."""
        raise NotImplementedError

    def explain(self, batch: ExplanationBatch) -> MethodMaps:
        """The maps of c1 and c2 of every image of the batch, timed."""
        start = time.perf_counter()
        first_maps = self.class_maps(batch, batch.first)
        second_maps = self.class_maps(batch, batch.second)
        seconds = time.perf_counter() - start
        return MethodMaps(
            maps=[maps.unsqueeze(0) for maps in first_maps],
            second_maps=[maps.unsqueeze(0) for maps in second_maps],
            variants=[[MapVariant(self.name)] for _ in range(batch.inputs.shape[0])],
            seconds=seconds,
            cs_of=self.cs_of,
        )
