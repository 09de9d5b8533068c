"""ADVISE for the evaluator: every kept peak group of each image, the groups (or fusion) each rule picks,
and the same for random groups of the same sizes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from captum_advise.attr import LayerADVISE
from captum_advise.attr.explanation import ADVISEExplanation, normalize_and_resize
from captum_advise.attr.group_rules import explanation_confidence
from captum_advise.attr.random_groups import shuffled_relevance
from captum_advise.attr.token_layout import ReshapeTransform
from captum_advise.cams.seeds import content_generator
from captum_advise.catalogue import ADVISE_RULES
from captum_advise.evaluation.methods.maps import ExplanationBatch, MapVariant, MethodMaps
from captum_advise.matlab import UpsampleMode

__all__ = ["AdviseMethod"]


@dataclass
class AdviseMethod:
    """ADVISE's group maps (min-max normalised at layer resolution, then bicubic, spec §4).

    Attributes:
        value_range, density_of, score, n_bandwidths: options of :class:`LayerADVISE`.
        relu_attributions: False keeps the groups' negative values (the noise ablation).
        upsample: ``"matlab_bicubic"`` (reference) or torch's ``"bicubic"`` / ``"bilinear"``.
        rules: which choices besides ``"auto"`` get their own rows: ``"confidence"`` (the group
            whose Score-CAM-masked input the model is most sure of: method ``advise-confidence``)
            and ``"weighted"`` (every group's normalised map weighted by that confidence:
            ``advise-weighted``, ``LayerADVISE.attribute(peaks="weighted")``), both by default. Together
            they cost one forward pass per group for c1, and ``weighted`` one more per group for c2.
        random_group_draws: how many random-groups twins (method ``advise-random-groups``, with
            its ``-auto``, ``-confidence`` and ``-weighted`` rows): the units of each image
            partitioned at random into groups of its own peak groups' sizes
            (:func:`~captum_advise.attr.random_groups.shuffled_relevance`), then the same maps and
            rules; each draw is a ``draw`` of the records. 0: none. Each draw costs a forward and
            two backward passes and the rules' forward passes, no density estimate.
        seed: the run seed of the draws (each image's draw d is seeded from its input values, d
            and this seed).
        reshape_transform: how a token layer's output is read as (N, K, U, V) (``"vit"``,
            ``"swin"``, a callable, or None), as for :class:`LayerADVISE`.
    """

    name: str = "advise"
    value_range: Literal["fixed", "unit"] = "fixed"
    density_of: Literal["activations", "gradients"] = "activations"
    score: Literal["softmax", "logit"] = "softmax"
    n_bandwidths: int = 10
    relu_attributions: bool = True
    upsample: UpsampleMode = "matlab_bicubic"
    rules: tuple[str, ...] = ADVISE_RULES
    random_group_draws: int = 2
    seed: int = 0
    reshape_transform: ReshapeTransform = None

    def explain(self, batch: ExplanationBatch) -> MethodMaps:
        """Maps of every kept group for c1 and c2, the groups (or fusions) of ``auto`` and ``rules``,
        and the same for each random-groups draw."""
        model, inputs, first, second = batch.model, batch.inputs, batch.first, batch.second
        layer = batch.layer
        unknown = set(self.rules) - set(ADVISE_RULES)
        if unknown:
            raise ValueError(f"unknown ADVISE rule(s) {sorted(unknown)}: choose from {ADVISE_RULES}")
        if not isinstance(self.random_group_draws, int) or self.random_group_draws < 0:
            raise ValueError(f"random_group_draws must be an integer >= 0, got {self.random_group_draws!r}")
        start = time.perf_counter()
        advise = LayerADVISE(
            model,
            layer,
            density_of=self.density_of,
            value_range=self.value_range,
            n_bandwidths=self.n_bandwidths,
            score=self.score,
            reshape_transform=self.reshape_transform,
        )
        explanation = advise.explain(
            inputs, target=first, second_target=second, relu_attributions=self.relu_attributions
        )
        result = self._rows_of(model, inputs, explanation, self.name, None, start)
        twin = f"{self.name}-random-groups"
        for draw in range(self.random_group_draws):
            start = time.perf_counter()
            generators = [content_generator(inputs[n], draw, self.seed) for n in range(inputs.shape[0])]
            shuffled = advise.explain(
                inputs,
                target=first,
                second_target=second,
                relu_attributions=self.relu_attributions,
                relevance=shuffled_relevance(explanation.relevance, generators),
            )
            result = result.joined(self._rows_of(model, inputs, shuffled, twin, draw, start))
        return result

    def _rows_of(
        self,
        model: nn.Module,
        inputs: Tensor,
        explanation: ADVISEExplanation,
        name: str,
        draw: int | None,
        start: float,
    ) -> MethodMaps:
        """One explanation's group maps and rule maps, reported under ``name`` (and ``draw``)."""
        size = tuple(inputs.shape[-2:])
        first_maps = explanation.interpolate(size, self.upsample)
        second_maps = explanation.interpolate(size, self.upsample, second=True)
        seconds = time.perf_counter() - start
        chosen, weighted, rule_seconds = self._rule_maps(model, inputs, explanation, size, name)

        maps, seconds_maps, variants = [], [], []
        auto_name = f"{name}-auto"
        for n, groups in enumerate(explanation.groups):
            auto = explanation.auto_peaks[n]
            labels = [
                MapVariant(
                    name,
                    group.peaks,
                    int(group.units.numel()),
                    (auto_name,) * (group.peaks == auto) + (f"{name}-confidence",) * (index == chosen.get(n)),
                    draw,
                )
                for index, group in enumerate(groups)
            ]
            first_n, second_n = first_maps[n], second_maps[n]
            if not groups:
                # No group has a non-constant map: the explanation is an all-zero map.
                first_n = second_n = torch.zeros((1, *size), device=inputs.device)
                labels = [MapVariant(name, draw=draw)]
            if auto is None:
                # peaks="auto" found no group with positive evidence: its map is all zeros.
                zeros = torch.zeros((1, *size), device=inputs.device)
                first_n, second_n = torch.cat([first_n, zeros]), torch.cat([second_n, zeros])
                labels.append(MapVariant(auto_name, draw=draw))
            if n in weighted:
                first_n, second_n = torch.cat([first_n, weighted[n][0]]), torch.cat([second_n, weighted[n][1]])
                units = int(sum(g.units.numel() for g in groups))
                labels.append(MapVariant(f"{name}-weighted", units=units, draw=draw))
            maps.append(first_n)
            seconds_maps.append(second_n)
            variants.append(labels)
        method_seconds = {name: seconds, auto_name: seconds}
        method_seconds |= {method: seconds + extra for method, extra in rule_seconds.items()}
        return MethodMaps(maps, seconds_maps, variants, seconds, method_seconds=method_seconds)

    def _rule_maps(
        self,
        model: nn.Module,
        inputs: Tensor,
        explanation: ADVISEExplanation,
        size: tuple[int, int],
        name: str,
    ) -> tuple[dict[int, int], dict[int, tuple[Tensor, Tensor]], dict[str, float]]:
        """The confidence rule's group index per image, the weighted rule's (1, H, W) maps for c1 and c2,
        and the seconds each rule's rows cost beyond the group maps (both need the c1 confidences)."""
        if not self.rules:
            return {}, {}, {}
        start = time.perf_counter()
        counts = [len(groups) for groups in explanation.groups]
        first_scores = explanation_confidence(model, inputs, explanation)
        shared = time.perf_counter() - start
        chosen, rule_seconds = {}, {}
        if "confidence" in self.rules:
            start = time.perf_counter()
            chosen = {n: int(index) for n, index in enumerate(first_scores.choice().tolist()) if index >= 0}
            rule_seconds[f"{name}-confidence"] = shared + time.perf_counter() - start
        weighted = {}
        if "weighted" in self.rules:
            start = time.perf_counter()
            second_scores = explanation_confidence(model, inputs, explanation, second=True)
            fused = [first_scores.weighted(), second_scores.weighted()]
            resized = [normalize_and_resize(maps, size, self.upsample) for maps in fused]
            weighted = {n: (resized[0][n : n + 1], resized[1][n : n + 1]) for n in range(len(counts)) if counts[n]}
            rule_seconds[f"{name}-weighted"] = shared + time.perf_counter() - start
        return chosen, weighted, rule_seconds
