"""The explanations the robustness experiment perturbs, every one a Captum layer attribution of one score.

ADVISE gives five rows, so that the table separates the causes of its instability:

* ``advise``: the ``"auto"`` group, its peak counts estimated again on every perturbed input;
* ``advise-confidence`` and ``advise-weighted``: the other rules, likewise;
* ``advise-all``: every unit (Grad-CAM through ADVISE's own code: equal to ``gradcam`` on the same
  score, a check of the like-for-like comparison);
* ``advise-frozen``: the ``"auto"`` rule with the units' peak counts estimated once, on the clean
  input: a perturbation changes the activations and gradients, never the groups. ``advise`` minus
  ``advise-frozen`` is what the peak counts' changes add.

The pytorch-grad-cam methods come through their Captum wrappers. Every method explains the same
``score`` of the same class (``"softmax"``, the evaluator's choice, or ``"logit"``), with the ReLU on
its map.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import Tensor, nn

from captum_advise.attr import LayerADVISE
from captum_advise.attr.token_layout import ReshapeTransform
from captum_advise.cams.library import Score
from captum_advise.cams.library_cams import library_attribution
from captum_advise.catalogue import ADVISE_ROBUSTNESS_ROWS, method_names, robustness_methods

__all__ = ["robustness_explanation"]

# Each ADVISE row's ``peaks`` rule.
ADVISE_ROWS = dict(zip(ADVISE_ROBUSTNESS_ROWS, ("auto", "confidence", "weighted", "all", "auto"), strict=True))


def robustness_explanation(
    name: str,
    model: nn.Module,
    layer: nn.Module,
    score: Score,
    clean_inputs: Tensor,
    reshape_transform: ReshapeTransform = None,
) -> Callable[..., Tensor]:
    """``attribute(inputs, target=...)`` of one robustness method, (N, 1, U, V) maps with their ReLU.

    Args:
        name: one of :func:`~captum_advise.catalogue.robustness_methods`.
        model: the model; ``layer`` one of its modules.
        layer: the explained layer.
        score: the explained score, the same for every method.
        clean_inputs: (1, ...) the unperturbed input; ``advise-frozen`` estimates its groups on it.
        reshape_transform: how a token layer is read (``"vit"``, ``"swin"``, a callable, or None).
    """
    if name in method_names("library"):
        attribution = library_attribution(name)(model, layer, score=score, reshape_transform=reshape_transform)
        return partial(attribution.attribute, relu_attributions=True)
    if name not in ADVISE_ROWS:
        raise ValueError(f"unknown robustness method {name!r}: choose from {', '.join(robustness_methods())}")
    advise = LayerADVISE(model, layer, score=score, reshape_transform=reshape_transform)
    explain = partial(advise.attribute, relu_attributions=True, peaks=ADVISE_ROWS[name])
    if name != "advise-frozen":
        return explain
    clean = advise.relevance(clean_inputs)

    def with_clean_groups(inputs: Tensor | tuple[Tensor, ...], *args: Any, **kwargs: Any) -> Tensor:
        count = (inputs[0] if isinstance(inputs, tuple) else inputs).shape[0]
        return explain(inputs, *args, relevance=clean.expand(count, -1), **kwargs)

    return with_clean_groups
