"""pytorch-grad-cam's methods as Captum layer attributions, drop-ins beside ``LayerGradCam``.

One class per class-map method of pytorch-grad-cam 1.5.7 (``LayerGradCamLib`` is the library's own
Grad-CAM, beside Captum's ``LayerGradCam``); each names its catalogue row in ``method``, and
:func:`library_attribution` finds the class of a method name through the catalogue.
They take Captum's constructor ``(forward_func, layer, device_ids=None)`` and ``attribute``
arguments, and return the library's class activation map at the layer's resolution, (N, 1, U, V),
as Captum's layer methods do, so that ``LayerAttribution.interpolate``, ``sensitivity_max`` and
``infidelity`` apply. The map explains ``forward_func``'s raw output for the target class by
default (``score="logit"``, as ``LayerGradCam`` does), or its softmax probability
(``score="softmax"``, the reference's and the evaluator's choice). Every call goes through the one
binding to the library (:func:`~captum_advise.cams.library.library_maps`): a fresh
library object whose hooks are released on every path, and the model's train/eval flags,
``requires_grad`` and ``.grad`` left as they were (the library calls ``model.eval()``: the model is
explained in eval mode).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, ClassVar

import torch
from captum._utils.common import _format_additional_forward_args, _format_tensor_into_tuples
from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from torch import Tensor, nn

from captum_advise.attr.layer_capture import resolve_targets, target_indices
from captum_advise.attr.model_state import preserved_state
from captum_advise.attr.token_layout import ReshapeTransform, resolve_reshape_transform
from captum_advise.cams.library import Score, library_maps
from captum_advise.cams.seeds import content_seed
from captum_advise.catalogue import CATALOGUE, method_names

__all__ = [
    "LayerAblationCam",
    "LayerEigenCam",
    "LayerEigenGradCam",
    "LayerFem",
    "LayerFinerCam",
    "LayerFullGrad",
    "LayerGradCamElementWise",
    "LayerGradCamLib",
    "LayerGradCamPlusPlus",
    "LayerHiResCam",
    "LayerKpcaCam",
    "LayerLayerCam",
    "LayerRandomCam",
    "LayerRefineCam",
    "LayerScoreCam",
    "LayerShapleyCam",
    "LayerXGradCam",
    "library_attribution",
]


class _FirstInputModel(nn.Module):
    """``forward_func`` as the one-input module pytorch-grad-cam calls: the other inputs and the
    additional forward arguments are bound, so the library masks and sizes by the first input."""

    def __init__(self, forward_func: Callable[..., Tensor], others: tuple, extra: tuple) -> None:
        super().__init__()
        self.forward_func = forward_func
        self.others, self.extra = others, extra

    def forward(self, first: Tensor) -> Tensor:
        return self.forward_func(first, *self.others, *self.extra)

    @property
    def computes(self) -> object:
        """What gives its outputs: ``forward_func`` when no other input or argument is bound (two
        wrappers of it then compute the same thing), else the wrapper itself."""
        return self.forward_func if not self.others and not self.extra else self


class _LibraryLayerCam(LayerAttribution, GradientAttribution):
    method: ClassVar[str]

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        score: Score = "logit",
        gradient_relu: bool = True,
        score_cam_batch_size: int = 32,
        reshape_transform: ReshapeTransform = None,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
    ):
        r"""
        Args:
            forward_func: the model (or any callable) whose output, (N, C), is explained.
            layer: the layer whose output the map is computed from.
            device_ids: as Captum's (only a ``DataParallel`` model needs it); pytorch-grad-cam runs
                the model as given.
            score: what is explained: ``"logit"`` (default, as ``LayerGradCam``) or
                ``"softmax"`` (the class's probability, as the reference explains it).
            gradient_relu: False removes the positive part of the gradients in Grad-CAM++'s
                weights and Layer-CAM's position weights (the noise ablation's "without ReLU").
            score_cam_batch_size: masked images per forward pass in Score-CAM and Ablation-CAM.
            reshape_transform: how a token layer's output is read as (N, K, U, V): ``"vit"``,
                ``"swin"``, a callable (:mod:`~captum_advise.attr.token_layout`), or None; handed to
                the library as its ``reshape_transform``.
            aug_smooth: pytorch-grad-cam's test-time augmentation: the mean of the maps of the input
                flipped or not and scaled by 0.9, 1 and 1.1 in brightness, each min-max scaled as the
                library scales it (six times the cost; FinerCAM and RefineCAM have none).
            eigen_smooth: pytorch-grad-cam's option: the first principal component of the weighted
                activations instead of their sum.
        """
        if score not in ("softmax", "logit"):
            raise ValueError(f"score must be one of ('softmax', 'logit'), got {score!r}")
        if aug_smooth and CATALOGUE[self.method].base is not None:
            raise ValueError(f"{type(self).__name__}: pytorch-grad-cam 1.5.7's class has no aug_smooth")
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        GradientAttribution.__init__(self, forward_func)
        self.score = score
        self.gradient_relu = gradient_relu
        self.score_cam_batch_size = score_cam_batch_size
        self.reshape_transform = resolve_reshape_transform(reshape_transform)
        self.aug_smooth, self.eigen_smooth = aug_smooth, eigen_smooth

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
    ) -> Tensor:
        r"""The library's map for each example's target class, at the layer's resolution.

        Args:
            inputs: (N, ...) tensor or tuple of tensors (the library masks and sizes by the first).
            target: Captum's forms for an (N, C) output: None (the predicted class), an int or
                1-tuple, a list of N of them, or an integer tensor of 1 or N entries.
            additional_forward_args: further arguments of ``forward_func``.
            attribute_to_layer_input: not available: pytorch-grad-cam hooks the layer's output.
            relu_attributions: keep the library's ReLU on the weighted sum (its own output has it);
                False (Captum's default) keeps the negative values.

        Returns:
            (N, 1, U, V) float32 tensor on the first input's device ((N, 1, H, W), at the input's
            resolution, for :class:`LayerFullGrad`).

        Raises:
            ValueError: ``attribute_to_layer_input=True``; a target of the wrong form, count or range.
        """
        if attribute_to_layer_input:
            raise ValueError(
                f"{type(self).__name__} explains the layer's output: attribute_to_layer_input=True is not available"
            )
        first, *others = _format_tensor_into_tuples(inputs)
        extra = tuple(_format_additional_forward_args(additional_forward_args) or ())
        model = _FirstInputModel(self.forward_func, tuple(others), extra)
        with ExitStack() as stack:
            for owner in {id(m): m for m in (self.forward_func, self.layer) if isinstance(m, nn.Module)}.values():
                stack.enter_context(preserved_state(owner))
            # The library explains in eval mode; the predicted class is read in the same mode.
            model.eval()
            if target is None:
                with torch.no_grad():
                    targets = resolve_targets(target, model(first))
            else:
                targets = target_indices(target, first.shape[0], first.device)
            maps = library_maps(
                self.method,
                model,
                self.layer,
                first,
                targets,
                score=self.score,
                relu=relu_attributions,
                gradient_relu=self.gradient_relu,
                score_cam_batch_size=self.score_cam_batch_size,
                seeds=self._seeds(first, targets),
                reshape_transform=self.reshape_transform,
                aug_smooth=self.aug_smooth,
                eigen_smooth=self.eigen_smooth,
            )
        return torch.from_numpy(maps).to(device=first.device).unsqueeze(1)

    def _seeds(self, first: Tensor, targets: Tensor) -> list[int] | None:
        """Per-example seeds of the library's random draws (None: the method draws nothing)."""
        return None


class LayerGradCamLib(_LibraryLayerCam):
    """pytorch-grad-cam's ``GradCAM`` as a Captum layer attribution (beside Captum's ``LayerGradCam``)."""

    method = "gradcam"


class LayerGradCamPlusPlus(_LibraryLayerCam):
    """pytorch-grad-cam's ``GradCAMPlusPlus`` as a Captum layer attribution."""

    method = "gradcampp"


class LayerScoreCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``ScoreCAM`` as a Captum layer attribution (one image per library call,
    ``score_cam_batch_size`` masked images per forward pass)."""

    method = "scorecam"


class LayerLayerCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``LayerCAM`` as a Captum layer attribution."""

    method = "layercam"


class LayerRandomCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``RandomCAM`` as a Captum layer attribution: uniform [-1, 1) channel weights over
    the real activations, a random linear combination of the layer's units (a control).

    The weights of each example are drawn with a seed from its input values, its target class and
    ``seed``, so the same image and class get the same map in every batch and run (the library
    draws from NumPy's global generator; its state is restored after the call).
    """

    method = "randomcam"

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        device_ids: list[int] | None = None,
        *,
        score: Score = "logit",
        seed: int = 0,
        reshape_transform: ReshapeTransform = None,
    ):
        r"""
        Args:
            forward_func, layer, device_ids, score, reshape_transform: as for :class:`LayerGradCamLib`.
            seed: the run seed mixed into every example's seed.
        """
        super().__init__(forward_func, layer, device_ids, score=score, reshape_transform=reshape_transform)
        self.seed = seed

    def _seeds(self, first: Tensor, targets: Tensor) -> list[int]:
        return [content_seed(first[n], int(targets[n]), self.seed) for n in range(first.shape[0])]


class LayerHiResCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``HiResCAM`` as a Captum layer attribution: gradient times activation, summed over units."""

    method = "hirescam"


class LayerXGradCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``XGradCAM`` as a Captum layer attribution: Grad-CAM with activation-normalised weights."""

    method = "xgradcam"


class LayerGradCamElementWise(_LibraryLayerCam):
    """pytorch-grad-cam's ``GradCAMElementWise`` as a Captum layer attribution: the ReLU of gradient times
    activation, summed over units."""

    method = "gradcamelementwise"


class LayerEigenCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``EigenCAM`` as a Captum layer attribution: the activations' first principal
    component. It uses no gradient: the map is the same for every class."""

    method = "eigencam"


class LayerEigenGradCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``EigenGradCAM`` as a Captum layer attribution: the first principal component
    of gradient times activation."""

    method = "eigengradcam"


class LayerAblationCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``AblationCAM`` as a Captum layer attribution: each unit weighted by the score's
    relative drop when it is ablated (one forward pass per unit, ``score_cam_batch_size`` at a time;
    the layer is swapped for the library's ablation layer while it runs, and always put back)."""

    method = "ablationcam"


class LayerFullGrad(_LibraryLayerCam):
    """pytorch-grad-cam's ``FullGrad`` as a Captum attribution: gradient x input plus gradient x bias of
    every Conv2d and BatchNorm2d with a bias, as the library runs it. ``layer`` is not used (FullGrad has
    no one layer), and the map is at the input's resolution, min-max scaled by the library: (N, 1, H, W)."""

    method = "fullgrad"


class LayerKpcaCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``KPCA_CAM`` as a Captum layer attribution: the activations' first kernel principal
    component (the library's sigmoid kernel). It uses no gradient: the map is the same for every class."""

    method = "kpcacam"


class LayerFem(_LibraryLayerCam):
    """pytorch-grad-cam's ``FEM`` as a Captum layer attribution: each unit weighted by the share of its
    positions above its mean plus two standard deviations. It uses no gradient: the same map for every class."""

    method = "fem"


class LayerShapleyCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``ShapleyCAM`` as a Captum layer attribution: weights from the gradient and a
    Hessian-vector product (a second backward pass). The library cannot run it through
    ``reshape_transform``: a one-line error says so."""

    method = "shapleycam"


class LayerFinerCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``FinerCAM`` as a Captum layer attribution: Grad-CAM of the target's logit minus
    the logits of its three nearest classes, weighted by their probabilities (the library's own choice
    of comparison classes; ``score`` does not apply). One image per library call."""

    method = "finercam"


class LayerRefineCam(_LibraryLayerCam):
    """pytorch-grad-cam's ``RefineCAM`` as a Captum layer attribution: the product of its base method's
    (Grad-CAM++) maps over the given layers, min-max scaled; at one layer, Grad-CAM++ min-max scaled."""

    method = "refinecam"


def library_attribution(name: str) -> type[_LibraryLayerCam]:
    """The Captum attribution class of a pytorch-grad-cam method of the catalogue (``"gradcampp"`` ->
    :class:`LayerGradCamPlusPlus`); a one-line error for a name that is not one."""
    row = CATALOGUE.get(name)
    if row is None or row.kind != "library":
        known = ", ".join(method_names("library"))
        raise ValueError(f"unknown pytorch-grad-cam method {name!r}: choose one of {known}")
    return getattr(importlib.import_module(row.home), row.captum_class)
