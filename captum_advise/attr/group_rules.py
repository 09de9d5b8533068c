"""ADVISE's rules for choosing among a layer's peak groups, in one place, with named results.

* ``"auto"``: the kept group whose signed map has the largest total, i.e. the largest share of the
  class evidence Grad-CAM sees (the group maps add up to the Grad-CAM map before its ReLU). It uses
  only the model's activations and gradients.
* ``"confidence"``: the group whose map, used as Score-CAM uses a unit's map (upsampled bilinearly
  to the input size, min-max normalised to [0, 1], multiplied into the normalised input), leaves
  the model surest of the explained class: the group's *confidence* is the model's softmax
  probability of that class on that input. One forward pass per group and example.
* ``"weighted"``: not one group but a fusion, as Score-CAM fuses units: every kept group's
  normalised map weighted by its confidence.

No rule looks at an evaluation's masks or measures: an evaluation masks the raw image with its own
rule and scores it with its own measures. :class:`~captum_advise.attr.LayerADVISE`, the
evaluator's ADVISE method and the command line's pipeline all choose through this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from captum_advise.attr.explanation import ADVISEExplanation, min_max_normalize
from captum_advise.attr.peak_groups import group_evidence, group_maps, maps_vary

__all__ = [
    "GroupConfidence",
    "PeakGroupMaps",
    "confidence_choice",
    "confidence_weighted_maps",
    "explanation_confidence",
    "group_confidence",
    "peak_group_maps",
    "score_groups",
]


@dataclass(frozen=True)
class PeakGroupMaps:
    """Every peak group's map for a batch of N examples, and the ``"auto"`` choice among them.

    Attributes:
        peak_values: (P,) the peak counts p of the groups.
        signed: (N, P, U, V) each group's Grad-CAM map before any ReLU (zeros where example n has
            no unit with p peaks).
        evidence: (N, P) each signed map's total.
        kept: (N, P) bool, True where the ReLU'd map is not constant (spec §4 step 5).
        auto: (N,) index into P of the ``"auto"`` group, -1 where no kept group has positive evidence.
    """

    peak_values: Tensor
    signed: Tensor
    evidence: Tensor
    kept: Tensor
    auto: Tensor


@dataclass(frozen=True)
class GroupConfidence:
    """The confidence rule's scores of N examples' groups.

    Attributes:
        maps: (N, P, U, V) the scored groups' maps at layer resolution (ReLU applied), zero-padded.
        confidence: (N, P) float64 p(target | input x normalised upsampled map); -inf where a
            group was not scored (absent, or a constant map).
    """

    maps: Tensor
    confidence: Tensor

    def choice(self) -> Tensor:
        """(N,) index of each example's most confident group, -1 where none was scored."""
        return confidence_choice(self.confidence)

    def weighted(self) -> Tensor:
        """(N, U, V) the ``"weighted"`` fusion: normalised maps weighted by their confidences."""
        return confidence_weighted_maps(self.maps, self.confidence)


def _auto_choice(evidence: Tensor, kept: Tensor) -> Tensor:
    candidates = torch.where(kept & (evidence > 0), evidence, -torch.inf)
    best = candidates.argmax(dim=1)
    return torch.where(torch.isfinite(candidates.gather(1, best.unsqueeze(1)).squeeze(1)), best, -1)


def peak_group_maps(
    activations: Tensor, weights: Tensor, relevance: Tensor, peak_values: Tensor | None = None
) -> PeakGroupMaps:
    """The groups of ``peak_values`` (default: the counts present, read back from the device) and their maps.

    Args:
        activations: (N, K, U, V) layer activations A.
        weights: (N, K) Grad-CAM weights w.
        relevance: (N, K) peak count of each unit.
        peak_values: (P,) the peak counts wanted.
    """
    if peak_values is None:
        peak_values = relevance.unique()
    signed = group_maps(activations, weights, relevance, peak_values)
    evidence = group_evidence(signed)
    kept = maps_vary(torch.relu(signed))
    return PeakGroupMaps(peak_values, signed, evidence, kept, _auto_choice(evidence, kept))


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


def score_groups(
    forward: Callable[[Tensor], Tensor], inputs: Tensor, groups: PeakGroupMaps, targets: Tensor
) -> GroupConfidence:
    """The confidence of every kept group of :func:`peak_group_maps` (ReLU'd maps), for ``targets``."""
    maps = torch.relu(groups.signed)
    return GroupConfidence(maps, group_confidence(forward, inputs, maps, groups.kept, targets))


def explanation_confidence(
    forward: Callable[[Tensor], Tensor], inputs: Tensor, explanation: ADVISEExplanation, second: bool = False
) -> GroupConfidence:
    """The confidence of every group an :class:`ADVISEExplanation` kept, its maps as ``explain`` gave them.

    Args:
        forward: (B, C, H, W) inputs -> (B, classes) logits (the model, in eval mode).
        inputs: (N, C, H, W) the inputs ``explanation`` explains.
        explanation: from :meth:`LayerADVISE.explain` on ``inputs``.
        second: score the groups' maps for the second target (``second_target`` of ``explain``).

    Returns:
        :class:`GroupConfidence` whose group index ``i`` of example ``n`` is ``explanation.groups[n][i]``.
    """
    shape = explanation.grad_cam.shape[-2:]
    counts = [len(groups) for groups in explanation.groups]
    maps = explanation.grad_cam.new_zeros((len(counts), max(counts, default=0), *shape))
    for n, groups in enumerate(explanation.groups):
        for index, group in enumerate(groups):
            maps[n, index] = group.second_attribution if second else group.attribution
    kept = torch.arange(maps.shape[1]).unsqueeze(0) < torch.tensor(counts).unsqueeze(1)
    targets = explanation.second_target if second else explanation.target
    return GroupConfidence(maps, group_confidence(forward, inputs, maps, kept, targets))
