"""LayerADVISE: ADVISE as a Captum layer attribution (spec §1 and §4)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from captum._utils.common import _format_additional_forward_args, _format_tensor_into_tuples
from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from torch import Tensor, nn

from captum_advise.attr.explanation import ADVISEExplanation, PeakGroup
from captum_advise.attr.group_rules import PeakGroupMaps, peak_group_maps, score_groups
from captum_advise.attr.layer_capture import (
    LayerPass,
    check_inputs_device,
    forward_with_layer,
    resolve_targets,
    score_gradients,
)
from captum_advise.attr.model_state import preserved_state
from captum_advise.attr.peak_groups import grad_cam_weights, group_maps
from captum_advise.attr.smoothing import augmentation_smoothed, first_component
from captum_advise.attr.token_layout import ReshapeTransform, resolve_reshape_transform
from captum_advise.attr.unit_relevance import unit_relevance
from captum_advise.density.adaptive_kde import BACKENDS, Backend

__all__ = ["LayerADVISE"]

PeaksArg = Literal["auto", "all", "confidence", "weighted"] | int


@dataclass
class _LayerState:
    activations: Tensor
    gradients: Tensor
    targets: Tensor
    relevance: Tensor | None
    second_gradients: Tensor | None = None
    second_targets: Tensor | None = None


class LayerADVISE(LayerAttribution, GradientAttribution):
    r"""ADVISE: Grad-CAM restricted to the units of one *peak group* of a convolutional layer.

    Every unit k of the layer gets a relevance phi_k: the number of peaks of the adaptive-bandwidth
    kernel density of its U x V activations (only the part in [0, 1] counts, as in the authors'
    code). Units with the same relevance form a peak group S_p, and each group gets its own map,
    ReLU(sum_{k in S_p} w_k A_k) with the Grad-CAM weights w_k = mean over positions of
    d score / d A_k. Scores are softmax probabilities by default, as in the reference.

    A drop-in for :class:`captum.attr.LayerGradCam`: same constructor, same ``attribute``
    conventions, (N, 1, U, V) output to upsample with :meth:`LayerAttribution.interpolate`.
    ``peaks="all"`` is exactly LayerGradCam on the same scores.

    Dtypes and devices: activations and gradients keep the model's dtype and device; the density
    estimate runs in float64 on the same device (the numba kernel on a CPU, the fused Triton kernel
    on CUDA; ``density_backend`` picks another).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from captum_advise import LayerADVISE
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
        >>> advise = LayerADVISE(net.eval(), net[0])
        >>> images = torch.rand(2, 3, 16, 16)
        >>> advise.attribute(images, target=[1, 3]).shape
        torch.Size([2, 1, 14, 14])
        >>> advise.relevance(images).shape
        torch.Size([2, 8])
    """

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        density_of: Literal["activations", "gradients"] = "activations",
        value_range: Literal["fixed", "unit"] = "fixed",
        n_bandwidths: int = 10,
        score: Literal["softmax", "logit"] = "softmax",
        density_backend: Backend = "auto",
        reshape_transform: ReshapeTransform = None,
    ) -> None:
        r"""
        Args:
            forward_func: the model (or a function of the inputs) returning (N, C) logits.
            layer: the layer to explain; its output (or input, see ``attribute``) must have
                shape (N, K, U, V), or be turned into it by ``reshape_transform``.
            device_ids: device ids of a DataParallel model, as in Captum.
            density_of: whose density gives each unit's relevance: ``"activations"`` (the
                authors' code, default) or ``"gradients"`` (the paper's text; then relevance
                depends on the target class).
            value_range: ``"fixed"`` (reference): raw values, only those in [0, 1] enter the
                density; ``"unit"``: each unit min-max scaled to [0, 1] first.
            n_bandwidths: M, candidate bandwidths of the density estimate (reference: 10).
            score: ``"softmax"`` (reference: probabilities) or ``"logit"``.
            density_backend: the density estimate's backend (``"auto"``: numba on a CPU, the
                fused Triton kernel on CUDA), as for :func:`~captum_advise.density.adaptive_kde`.
            reshape_transform: how a token layer's output becomes (N, K, U, V), as
                pytorch-grad-cam's argument: ``"vit"`` ((N, 1 + h*w, D) tokens, the class token
                and a distillation token dropped), ``"swin"`` ((N, h, w, D)), a callable, or None
                (default: the layer gives a feature map); see :mod:`~captum_advise.attr.token_layout`.
        """
        if isinstance(forward_func, nn.Module) and not any(module is layer for module in forward_func.modules()):
            raise ValueError(f"layer {type(layer).__name__} is not a submodule of the model passed as forward_func")
        _check_choice("density_of", density_of, ("activations", "gradients"))
        _check_choice("value_range", value_range, ("fixed", "unit"))
        _check_choice("score", score, ("softmax", "logit"))
        _check_choice("density_backend", density_backend, BACKENDS)
        if not isinstance(n_bandwidths, int) or n_bandwidths < 2:
            raise ValueError(f"n_bandwidths must be an integer >= 2, got {n_bandwidths!r}")
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        GradientAttribution.__init__(self, forward_func)
        self.density_of = density_of
        self.value_range = value_range
        self.n_bandwidths = n_bandwidths
        self.score = score
        self.density_backend = density_backend
        self.reshape_transform = resolve_reshape_transform(reshape_transform)
        self._warned_training = False

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = True,
        attr_dim_summation: bool = True,
        grad_kwargs: dict[str, Any] | None = None,
        *,
        peaks: PeaksArg = "auto",
        relevance: Tensor | None = None,
        eigen_smooth: bool = False,
        aug_smooth: bool = False,
    ) -> Tensor:
        r"""The map of one peak group per example, at the layer's resolution.

        The positional order is :meth:`captum.attr.LayerGradCam.attribute`'s; ADVISE's own option
        ``peaks`` is keyword-only.

        Args:
            inputs: (N, ...) tensor, or a tuple of them, passed to ``forward_func``.
            target: class to explain, as Captum's ``TargetType`` for an (N, C) output: None (the
                predicted class), an int or a 1-tuple ``(c,)``, or one per example (a list of ints
                or 1-tuples, or an integer tensor).
            additional_forward_args: further arguments of ``forward_func``, not attributed.
            attribute_to_layer_input: explain the layer's input instead of its output.
            relu_attributions: apply the ReLU of spec §4 (default, the reference; LayerGradCam's
                default is False); False keeps negative values.
            attr_dim_summation: sum the group's weighted units into one map (default), as
                LayerGradCam; False returns each unit's weighted activations w_k A_k, zero for
                units outside the group, with shape (N, K, U, V).
            grad_kwargs: passed to ``torch.autograd.grad``.
            peaks: which group: an int p, the units with exactly p peaks (an example without such
                units gets an all-zero map); ``"all"``: every unit (Grad-CAM on the same scores);
                ``"auto"`` (default): per example, the group whose signed map has the largest
                total, i.e. the group carrying the largest share of the class evidence Grad-CAM
                sees (the group maps add up to the Grad-CAM map before its ReLU). It uses only the
                model's activations and gradients for the explained class, never a score computed
                on masked images, so an evaluation that scores the maps does not select them.
                Among the groups whose map is not constant; zeros if none has positive evidence.
                ``"confidence"``: per example, the group whose map, used as Score-CAM uses a unit's
                map (upsampled bilinearly, min-max normalised, multiplied into the input), leaves
                the model most sure of the explained class (see
                :mod:`captum_advise.attr.group_rules`): one more forward pass per group, a
                single input tensor only. It uses the model's outputs on the images it builds,
                never an evaluation's masks or measures.
                ``"weighted"``: not one group but a fusion, as Score-CAM fuses units: the sum of
                every kept group's ReLU'd map, min-max normalised, weighted by that group's
                ``"confidence"`` (same forward passes, same inputs). Non-negative whatever
                ``relu_attributions`` says; needs ``attr_dim_summation=True`` (the normalisation
                has no per-unit form). The rule chosen on the design half of this project's
                study of the rules (docs/results/advise-rules.md).
            relevance: (N, K) integer peak counts to group the units by instead of estimating them
                (no density is computed), as for :meth:`explain`: e.g. :meth:`relevance` of a clean
                input, so that a perturbed input changes the maps but not the groups.
            eigen_smooth: pytorch-grad-cam's option: the map is the projection of the group's
                weighted units on their first principal component instead of their sum
                (:func:`~captum_advise.attr.smoothing.first_component`); with ``peaks="all"`` it is
                the library's Grad-CAM ``eigen_smooth``. Not for ``"weighted"`` or
                ``attr_dim_summation=False``.
            aug_smooth: pytorch-grad-cam's test-time augmentation: the mean of the maps of the first
                input flipped horizontally or not and multiplied by 0.9, 1 and 1.1, each min-max
                scaled as the library scales it and flipped back
                (:func:`~captum_advise.attr.smoothing.augmentation_smoothed`); the groups (and the
                predicted class when ``target`` is None: that of the input as given) are found
                again on every augmented input unless ``relevance`` is given. Six times the cost;
                the result lies in [0, 1].

        Returns:
            (N, 1, U, V) maps in the activations' dtype ((N, K, U, V) without
            ``attr_dim_summation``), a tensor also for tuple inputs, as LayerGradCam returns.

        Raises:
            RuntimeError: under ``torch.inference_mode()``, where no gradient can be computed.
        """
        _check_peaks(peaks)
        if peaks == "weighted" and not attr_dim_summation:
            raise ValueError(
                "peaks='weighted' fuses normalised group maps: it has no per-unit form; use attr_dim_summation=True"
            )
        if eigen_smooth and (peaks == "weighted" or not attr_dim_summation):
            raise ValueError("eigen_smooth projects one group's units: not with peaks='weighted' or per-unit maps")
        if aug_smooth:
            if not attr_dim_summation:
                raise ValueError("aug_smooth averages one map per example: use attr_dim_summation=True")
            first, *others = _format_tensor_into_tuples(inputs)
            if target is None:
                layer_pass = self._forward(inputs, additional_forward_args, attribute_to_layer_input)
                target = resolve_targets(None, layer_pass.scores.detach())

            def explain(augmented: Tensor) -> Tensor:
                return self.attribute(
                    (augmented, *others) if others else augmented,
                    target,
                    additional_forward_args,
                    attribute_to_layer_input,
                    relu_attributions,
                    True,
                    grad_kwargs,
                    peaks=peaks,
                    relevance=relevance,
                    eigen_smooth=eigen_smooth,
                )

            return augmentation_smoothed(explain, first)
        state = self._layer_state(
            inputs,
            target,
            additional_forward_args,
            attribute_to_layer_input,
            grad_kwargs,
            peaks != "all",
            given_relevance=relevance,
        )
        weights = grad_cam_weights(state.gradients)
        if peaks == "weighted":
            forward = self._masked_forward(inputs, additional_forward_args, peaks)
            return _confidence_weighted_map(forward, inputs, weights, state).to(state.activations.dtype)
        if peaks == "confidence":
            forward = self._masked_forward(inputs, additional_forward_args, peaks)
            members = _confident_members(forward, inputs, weights, state)
        else:
            members = _group_members(weights, state.relevance, peaks, state.activations)
        scaled = (weights * members).unsqueeze(-1).unsqueeze(-1) * state.activations
        if eigen_smooth:
            maps = first_component(scaled).to(scaled.dtype)
        else:
            maps = scaled.sum(dim=1, keepdim=True) if attr_dim_summation else scaled
        return torch.relu(maps) if relu_attributions else maps

    def relevance(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        target: TargetType = None,
    ) -> Tensor:
        r"""Each unit's relevance phi_k: the peak count of its density.

        Args:
            inputs: (N, ...) tensor, or a tuple of them.
            additional_forward_args: further arguments of ``forward_func``.
            attribute_to_layer_input: use the layer's input instead of its output.
            target: only used with ``density_of="gradients"`` (default: the predicted class);
                relevance from activations does not depend on the class.

        Returns:
            (N, K) ``torch.long`` peak counts (0 where a unit's density estimate fails).
        """
        layer_pass = self._forward(inputs, additional_forward_args, attribute_to_layer_input)
        if self.density_of == "activations":
            return self._relevance_of(layer_pass.activations)
        targets = resolve_targets(target, layer_pass.scores)
        return self._relevance_of(score_gradients(layer_pass, targets))

    def explain(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = True,
        grad_kwargs: dict[str, Any] | None = None,
        second_target: TargetType | Literal["runner_up"] = None,
        relevance: Tensor | None = None,
    ) -> ADVISEExplanation:
        r"""Everything ADVISE computes: unit relevance, every kept peak group and its map.

        Arguments as for :meth:`attribute`. Groups whose map is constant are dropped (spec §4 step
        5); :meth:`ADVISEExplanation.interpolate` gives the normalised input-resolution maps.
        ``second_target`` (a class as ``target``, or ``"runner_up"``: each example's second most
        probable class, the c2 of spec §4) adds each group's map for that class, for the same
        groups (one more backward pass to the layer). ``relevance``, an (N, K) integer tensor,
        groups the units by these peak counts instead of estimating them (no density is
        computed): :meth:`relevance` of another input, or
        :func:`~captum_advise.attr.random_groups.shuffled_relevance`'s random partition of the same
        group sizes (the random-groups control).

        Returns:
            :class:`ADVISEExplanation` with relevance (N, K), target (N,), and for each example its
            groups (peak count, unit indices, (U, V) map, evidence), its ``"auto"`` choice, and
            the all-units (Grad-CAM) map.
        """
        state = self._layer_state(
            inputs,
            target,
            additional_forward_args,
            attribute_to_layer_input,
            grad_kwargs,
            True,
            second_target,
            relevance,
        )
        weights = grad_cam_weights(state.gradients)
        found = peak_group_maps(state.activations, weights, state.relevance)
        peak_values, signed = found.peak_values, found.signed
        shown = torch.relu(signed) if relu_attributions else signed
        second = None
        if state.second_gradients is not None:
            second_weights = grad_cam_weights(state.second_gradients)
            second = group_maps(state.activations, second_weights, state.relevance, peak_values)
            second = torch.relu(second) if relu_attributions else second
        groups = [
            [
                PeakGroup(
                    peaks=int(peak),
                    units=(state.relevance[example] == peak).nonzero().flatten(),
                    attribution=shown[example, index],
                    evidence=float(found.evidence[example, index]),
                    second_attribution=None if second is None else second[example, index],
                )
                for index, peak in enumerate(peak_values.tolist())
                if found.kept[example, index]
            ]
            for example in range(state.activations.shape[0])
        ]
        auto_peaks = [int(peak_values[i]) if i >= 0 else None for i in found.auto.tolist()]
        grad_cam = signed.sum(dim=1)
        grad_cam = torch.relu(grad_cam) if relu_attributions else grad_cam
        return ADVISEExplanation(state.relevance, state.targets, groups, auto_peaks, grad_cam, state.second_targets)

    def _relevance_of(self, values: Tensor) -> Tensor:
        if values[0, 0].numel() < 3:
            raise ValueError(
                f"layer {self._layer_name()} gives each unit a {values.shape[2]} x {values.shape[3]} map (output "
                f"shape {tuple(values.shape)}): a unit's density needs at least 3 values; explain an earlier layer"
            )
        return unit_relevance(values, self.value_range, self.n_bandwidths, self.density_backend)

    def _layer_name(self) -> str:
        if isinstance(self.forward_func, nn.Module):
            for name, module in self.forward_func.named_modules():
                if module is self.layer:
                    return repr(name)
        return type(self.layer).__name__

    def _forward(self, inputs: Any, additional_forward_args: Any, attribute_to_layer_input: bool) -> LayerPass:
        if torch.is_inference_mode_enabled():
            raise RuntimeError(
                "LayerADVISE needs gradients, as Grad-CAM does: call it outside torch.inference_mode() "
                "(torch.no_grad() is fine)"
            )
        inputs_tuple = _format_tensor_into_tuples(inputs)
        if inputs_tuple[0].dim() == 0 or inputs_tuple[0].shape[0] == 0:
            raise ValueError(
                f"inputs hold no examples (shape {tuple(inputs_tuple[0].shape)}): pass a batch of at least one"
            )
        check_inputs_device(self.forward_func, inputs_tuple, self.device_ids)
        extra_args = tuple(_format_additional_forward_args(additional_forward_args) or ())
        with preserved_state(self.forward_func, eval_mode=True) as switched:
            layer_pass = forward_with_layer(
                self.forward_func,
                self.layer,
                inputs_tuple,
                extra_args,
                attribute_to_layer_input,
                self.score,
                self.device_ids,
                self.reshape_transform,
                f"layer {self._layer_name()}",
            )
        if switched and not self._warned_training:
            self._warned_training = True
            warnings.warn(
                "the model is in training mode: LayerADVISE explained it in eval mode (BatchNorm running "
                "statistics, no Dropout) and restored its flags; call model.eval() to silence this",
                UserWarning,
                stacklevel=3,
            )
        return layer_pass

    def _masked_forward(self, inputs: Any, additional_forward_args: Any, peaks: str) -> Callable[[Tensor], Tensor]:
        """The model on masked copies of a single input tensor, in eval mode, with the extra arguments."""
        if not isinstance(inputs, Tensor) and len(inputs) != 1:
            raise ValueError(f"peaks={peaks!r} masks the input as Score-CAM does: it needs one input tensor")
        extra_args = tuple(_format_additional_forward_args(additional_forward_args) or ())

        def forward(masked: Tensor) -> Tensor:
            with preserved_state(self.forward_func, eval_mode=True):
                return self.forward_func(masked, *extra_args)

        return forward

    def _layer_state(
        self,
        inputs: Any,
        target: TargetType,
        additional_forward_args: Any,
        attribute_to_layer_input: bool,
        grad_kwargs: dict[str, Any] | None,
        with_relevance: bool,
        second_target: TargetType | Literal["runner_up"] = None,
        given_relevance: Tensor | None = None,
    ) -> _LayerState:
        layer_pass = self._forward(inputs, additional_forward_args, attribute_to_layer_input)
        targets = resolve_targets(target, layer_pass.scores)
        second_targets = second_gradients = None
        if second_target is not None:
            runner_up = isinstance(second_target, str) and second_target == "runner_up"
            scores = layer_pass.scores.detach()
            second_targets = (
                scores.topk(2, dim=1).indices[:, 1] if runner_up else resolve_targets(second_target, scores)
            )
        gradients = score_gradients(layer_pass, targets, second_target is not None, **(grad_kwargs or {}))
        if second_targets is not None:
            second_gradients = score_gradients(layer_pass, second_targets, **(grad_kwargs or {}))
        activations = layer_pass.activations
        relevance = None
        if given_relevance is not None:
            relevance = _given_relevance(given_relevance, activations)
        elif with_relevance:
            values = activations if self.density_of == "activations" else gradients
            relevance = self._relevance_of(values)
        return _LayerState(activations, gradients, targets, relevance, second_gradients, second_targets)


def _given_relevance(relevance: Tensor, activations: Tensor) -> Tensor:
    expected = tuple(activations.shape[:2])
    if not isinstance(relevance, Tensor) or relevance.dtype.is_floating_point or relevance.dtype == torch.bool:
        raise ValueError(f"relevance must be an integer tensor of shape {expected}, got {relevance!r:.60}")
    if tuple(relevance.shape) != expected:
        raise ValueError(f"relevance must have the layer's (N, K) shape {expected}, got {tuple(relevance.shape)}")
    return relevance.to(device=activations.device, dtype=torch.long)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def _check_peaks(peaks: Any) -> None:
    if peaks in ("auto", "all", "confidence", "weighted"):
        return
    if isinstance(peaks, bool) or not isinstance(peaks, int) or peaks < 0:
        raise ValueError(f"peaks must be 'auto', 'all', 'confidence', 'weighted' or a peak count >= 0, got {peaks!r}")


def _members(relevance: Tensor, groups: PeakGroupMaps, choice: Tensor, dtype: torch.dtype) -> Tensor:
    """(N, K) 1 for the units of each example's chosen group (an index into ``groups``, -1: none), 0 elsewhere."""
    chosen = torch.where(choice >= 0, groups.peak_values[choice.clamp(min=0)], -1)
    return (relevance == chosen.unsqueeze(1)).to(dtype)


def _group_members(weights: Tensor, relevance: Tensor | None, peaks: PeaksArg, activations: Tensor) -> Tensor:
    """(N, K) 1 for the units of each example's chosen group, 0 elsewhere, in the activations' dtype."""
    if peaks == "all" or relevance is None:
        return torch.ones_like(weights, dtype=activations.dtype)
    if peaks == "auto":
        # Every possible count, present or not (a density on U*V points has at most U*V/2 peaks): the
        # choice then needs no read-back from the device, and absent groups have no evidence.
        every_count = torch.arange(activations[0, 0].numel() // 2 + 1, device=relevance.device)
        groups = peak_group_maps(activations, weights, relevance, every_count)
        return _members(relevance, groups, groups.auto, activations.dtype)
    return (relevance == peaks).to(activations.dtype)


def _confident_members(forward: Callable[[Tensor], Tensor], inputs: Any, weights: Tensor, state: _LayerState) -> Tensor:
    """(N, K) 1 for the units of each example's most confident group, 0 elsewhere."""
    image = inputs if isinstance(inputs, Tensor) else inputs[0]
    groups = peak_group_maps(state.activations, weights, state.relevance)
    choice = score_groups(forward, image, groups, state.targets).choice().to(groups.peak_values.device)
    return _members(state.relevance, groups, choice, state.activations.dtype)


def _confidence_weighted_map(
    forward: Callable[[Tensor], Tensor], inputs: Any, weights: Tensor, state: _LayerState
) -> Tensor:
    """(N, 1, U, V) the kept groups' normalised maps weighted by their confidences."""
    image = inputs if isinstance(inputs, Tensor) else inputs[0]
    groups = peak_group_maps(state.activations, weights, state.relevance)
    return score_groups(forward, image, groups, state.targets).weighted().unsqueeze(1)
