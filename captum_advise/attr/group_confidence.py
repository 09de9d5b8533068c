"""Choosing among ADVISE's peak groups by what the model says of each group's masked input, as Score-CAM weighs units.

Each kept group's map (ReLU applied) is upsampled bilinearly to the input size, min-max normalised
to [0, 1] and multiplied into the (normalised) input, exactly as Score-CAM builds its masked
inputs; the group's *confidence* is the model's softmax probability of the explained class on
that input. One forward pass per group and example; no evaluation metric is involved (an
evaluation masks the raw image with its own rule and scores it with its own measures).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from captum_advise.attr.explanation import ADVISEExplanation, min_max_normalize

__all__ = ["confidence_choice", "confidence_weighted_maps", "confident_peaks", "group_confidence", "padded_group_maps"]


def group_confidence(
    forward: Callable[[Tensor], Tensor],
    inputs: Tensor,
    maps: Tensor,
    kept: Tensor,
    targets: Tensor,
    batch_size: int = 32,
) -> Tensor:
    """Each group's confidence: p(target | input x normalised upsampled group map).

    Args:
        forward: (B, C, H, W) inputs -> (B, classes) logits (the model, in eval mode).
        inputs: (N, C, H, W) the model's inputs.
        maps: (N, P, U, V) group maps at layer resolution (ReLU applied).
        kept: (N, P) bool, the groups to score (a constant map has nothing to show); others get -inf.
        targets: (N,) the explained class.
        batch_size: masked inputs per forward pass.

    Returns:
        (N, P) float64 probabilities, -inf where not kept.
    """
    count, groups = kept.shape
    confidence = torch.full((count, groups), -torch.inf, dtype=torch.float64)
    pairs = kept.nonzero().tolist()
    size = tuple(inputs.shape[-2:])
    for first in range(0, len(pairs), batch_size):
        chunk = torch.tensor(pairs[first : first + batch_size], device=inputs.device)
        example, group = chunk[:, 0], chunk[:, 1]
        upsampled = torch.nn.functional.interpolate(
            maps[example, group].unsqueeze(1).to(inputs.dtype), size=size, mode="bilinear", align_corners=True
        )
        with torch.no_grad():
            scores = torch.softmax(forward(inputs[example] * min_max_normalize(upsampled)), dim=1)
        picked = scores.gather(1, targets[example].unsqueeze(1)).squeeze(1)
        confidence[example.cpu(), group.cpu()] = picked.double().cpu()
    return confidence


def confidence_choice(confidence: Tensor) -> Tensor:
    """(N, P) confidences -> (N,) index of the most confident group, -1 where no group was scored."""
    best = confidence.argmax(dim=1)
    return torch.where(torch.isfinite(confidence.gather(1, best.unsqueeze(1)).squeeze(1)), best, -1)


def confidence_weighted_maps(maps: Tensor, confidence: Tensor) -> Tensor:
    """(N, P, U, V) group maps and (N, P) confidences -> (N, U, V) sum of the normalised maps weighted by confidence.

    Score-CAM's fusion, with groups in place of units; groups that were not scored weigh nothing.
    """
    weights = torch.where(torch.isfinite(confidence), confidence, 0).to(maps.device, maps.dtype)
    return torch.einsum("np,npuv->nuv", weights, min_max_normalize(maps))


def padded_group_maps(explanation: ADVISEExplanation, second: bool = False) -> tuple[Tensor, Tensor]:
    """Each example's kept group maps side by side, for :func:`group_confidence`.

    Returns:
        (N, P_max, U, V) the maps (ReLU applied as ``explain`` applied it), zero-padded, and
        (N, P_max) bool, True where a group is present. ``second`` takes the second target's maps.
    """
    shape = explanation.grad_cam.shape[-2:]
    counts = [len(groups) for groups in explanation.groups]
    padded = explanation.grad_cam.new_zeros((len(counts), max(counts, default=0), *shape))
    for n, groups in enumerate(explanation.groups):
        for index, group in enumerate(groups):
            padded[n, index] = group.second_attribution if second else group.attribution
    kept = torch.arange(padded.shape[1]).unsqueeze(0) < torch.tensor(counts).unsqueeze(1)
    return padded, kept


def confident_peaks(
    forward: Callable[[Tensor], Tensor], inputs: Tensor, explanation: ADVISEExplanation
) -> list[int | None]:
    """For each example, the peak count of its most confident kept group (None if it has none).

    Args:
        forward: (B, C, H, W) inputs -> (B, classes) logits (the model, in eval mode).
        inputs: (N, C, H, W) the inputs ``explanation`` explains.
        explanation: from :meth:`LayerADVISE.explain` on ``inputs``.
    """
    maps, kept = padded_group_maps(explanation)
    choice = confidence_choice(group_confidence(forward, inputs, maps, kept, explanation.target)).tolist()
    chosen = zip(explanation.groups, choice, strict=True)
    return [groups[index].peaks if index >= 0 else None for groups, index in chosen]
