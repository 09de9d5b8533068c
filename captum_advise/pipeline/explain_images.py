"""Explain a list of images with a loaded model: predictions, unit relevance, group maps.

The glue between the image sources, the model presets and LayerADVISE that the command line and
the figures use; it computes, it does not draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from captum_advise.attr import ADVISEExplanation, LayerADVISE, PeakGroup
from captum_advise.attr.group_rules import explanation_confidence
from captum_advise.data import ImageRecord, batches
from captum_advise.models import Geometry, LoadedModel
from captum_advise.runs.ranks import shared_progress

__all__ = ["ExplainedImage", "explain_images", "top_classes"]


@dataclass
class ExplainedImage:
    """One image as the network saw it, its top classes, and ADVISE's peak groups and maps for it.

    Attributes:
        name: the image's name.
        label: its true class, if known.
        image: (3, H, W) uint8, the image as the network sees it (after the geometry step).
        top5: the five most probable classes as (class index, class name, probability).
        target: the explained class.
        relevance: (K,) peak count of every unit of the layer.
        groups: the kept peak groups (:class:`~captum_advise.attr.PeakGroup`, on the CPU): peak
            count, units, map at the layer's resolution (after ReLU, not normalised), evidence.
        auto_peaks: the group ``peaks="auto"`` picks (None if none).
        group_maps: (G, H, W) the groups' maps, min-max normalised then resized (MATLAB's bicubic).
        grad_cam_map: (H, W) the all-units map, treated the same way.
        grad_cam_layer_map: (U, V) the all-units map at the layer's resolution.
        confidence_peaks: the group ``peaks="confidence"`` picks (None if none, or not asked for:
            it costs one forward pass per group).
    """

    name: str
    label: int | None
    image: Tensor
    top5: list[tuple[int, str, float]]
    target: int
    relevance: Tensor
    groups: list[PeakGroup]
    auto_peaks: int | None
    group_maps: Tensor
    grad_cam_map: Tensor
    grad_cam_layer_map: Tensor
    confidence_peaks: int | None = None

    @property
    def layer_maps(self) -> Tensor:
        """(G, U, V) the groups' maps at the layer's resolution, as ``LayerADVISE.explain`` returns them."""
        if not self.groups:
            return self.grad_cam_layer_map.new_zeros((0, *self.grad_cam_layer_map.shape))
        return torch.stack([group.attribution for group in self.groups])

    def only(self, peaks: int | None) -> ExplainedImage:
        """This image with only the group of ``peaks`` peaks (none if that group is absent)."""
        keep = [index for index, group in enumerate(self.groups) if group.peaks == peaks]
        return replace(self, groups=[self.groups[index] for index in keep], group_maps=self.group_maps[keep])

    def maps(self) -> dict[str, Any]:
        """The maps and what they show, for ``torch.save`` (``explain --save-maps``)."""
        return {
            "image": self.name,
            "target": self.target,
            "peaks": [group.peaks for group in self.groups],
            "auto_peaks": self.auto_peaks,
            "confidence_peaks": self.confidence_peaks,
            "layer_maps": self.layer_maps,
            "input_maps": self.group_maps,
            "grad_cam_layer_map": self.grad_cam_layer_map,
            "grad_cam_input_map": self.grad_cam_map,
        }

    def to_json(self, class_names: Sequence[str]) -> dict[str, Any]:
        """A JSON-ready summary (no maps)."""
        return {
            "image": self.name,
            "label": self.label,
            "target": self.target,
            "target_name": class_names[self.target],
            "top5": [{"class": c, "name": n, "probability": p} for c, n, p in self.top5],
            "auto_peaks": self.auto_peaks,
            "confidence_peaks": self.confidence_peaks,
            "groups": [
                {
                    "peaks": group.peaks,
                    "n_units": int(group.units.numel()),
                    "units": group.units.tolist(),
                    "evidence": group.evidence,
                }
                for group in self.groups
            ],
            "relevance": self.relevance.tolist(),
        }


def top_classes(probabilities: Tensor, class_names: Sequence[str], k: int = 5) -> list[tuple[int, str, float]]:
    """(C,) probabilities -> the k most probable as (index, name, probability)."""
    values, indices = probabilities.topk(k)
    return [(int(i), class_names[int(i)], float(v)) for v, i in zip(values, indices, strict=True)]


def explain_images(
    loaded: LoadedModel,
    records: Sequence[ImageRecord],
    layer: str | None = None,
    target: int | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: bool = True,
    geometry: Geometry = "crop",
    rules: tuple[str, ...] = (),
    **advise_options: Any,
) -> list[ExplainedImage]:
    """Run LayerADVISE on every image, a batch at a time.

    Args:
        loaded: the model (from :func:`captum_advise.models.load_model`), on ``device``.
        records: the images.
        layer: layer name (default: the preset's reference layer).
        target: the class to explain for every image (default: each image's predicted class).
        batch_size: images per forward/backward pass.
        device: where the images go (the model's device).
        progress: show a progress bar.
        geometry: photo to network input: ``"crop"`` (torchvision's convention, default here: the
            network sees the photo undistorted, as when its accuracy was measured) or ``"squash"``
            (the reference's evaluation: the whole photo resized to the input size).
        rules: the group rules besides ``"auto"`` whose choice to find: ``("confidence",)`` finds the
            group ``peaks="confidence"`` picks (one forward pass per group); ``()`` none.
        advise_options: keyword options of :class:`LayerADVISE` (value_range, density_of, ...);
            ``reshape_transform`` defaults to the preset's (a transformer's token layout).

    Returns:
        One :class:`ExplainedImage` per image, in order.

    Raises:
        ValueError: a rule other than ``"confidence"``.
    """
    if set(rules) - {"confidence"}:
        raise ValueError(f"explain_images finds the confidence rule's group only, got rules {rules}")
    preprocessor = loaded.preset.preprocessor.with_geometry(geometry)
    advise_options.setdefault("reshape_transform", loaded.reshape_transform)
    advise = LayerADVISE(loaded.model, loaded.layer(layer), **advise_options)
    size = (preprocessor.crop, preprocessor.crop)
    results: list[ExplainedImage] = []
    with shared_progress(len(records), "explain", "image", progress) as bar:
        for chunk in batches(records, batch_size):
            images = torch.stack([preprocessor.to_uint8(record.load()) for record in chunk])
            inputs = preprocessor.normalize(images).to(device)
            with torch.no_grad():
                probabilities = torch.softmax(loaded.model(inputs), dim=1).cpu()
            explanation = advise.explain(inputs, target=target)
            group_maps = explanation.interpolate(size)
            grad_cam_maps = explanation.interpolate_grad_cam(size)
            confident = (
                _confident_peaks(loaded.model, inputs, explanation) if "confidence" in rules else [None] * len(chunk)
            )
            for n, record in enumerate(chunk):
                groups = [_on_cpu(group) for group in explanation.groups[n]]
                results.append(
                    ExplainedImage(
                        name=record.name,
                        label=record.label,
                        image=images[n],
                        top5=top_classes(probabilities[n], loaded.class_names),
                        target=int(explanation.target[n]),
                        relevance=explanation.relevance[n].cpu(),
                        groups=groups,
                        auto_peaks=explanation.auto_peaks[n],
                        group_maps=group_maps[n].detach().cpu(),
                        grad_cam_map=grad_cam_maps[n].detach().cpu(),
                        grad_cam_layer_map=explanation.grad_cam[n].detach().cpu(),
                        confidence_peaks=confident[n],
                    )
                )
            bar.update(len(chunk))
    return results


def _confident_peaks(model: nn.Module, inputs: Tensor, explanation: ADVISEExplanation) -> list[int | None]:
    """For each example, the peak count of its most confident kept group (None if it has none)."""
    choice = explanation_confidence(model, inputs, explanation).choice().tolist()
    return [
        groups[index].peaks if index >= 0 else None for groups, index in zip(explanation.groups, choice, strict=True)
    ]


def _on_cpu(group: PeakGroup) -> PeakGroup:
    """A peak group detached on the CPU, without its second class's map."""
    return replace(
        group, units=group.units.cpu(), attribution=group.attribution.detach().cpu(), second_attribution=None
    )
