"""The one binding to pytorch-grad-cam (pinned: grad-cam 1.5.7): every call into the library is made here.

:func:`library_maps` constructs the library's CAM object, calls it and releases it, and handles
the library's pitfalls: its CAM object keeps hooks on the model until released (a fresh object per
call, released in ``finally``; its context manager would swallow an IndexError); it calls
``model.eval()`` and fills parameters' ``.grad`` without restoring them (restored); it returns
all-zero maps for images beyond the targets it was given (the count is checked); an out-of-range
class fails deep inside it (checked, one-line error); it explains logits unless told otherwise
(``score="softmax"`` gives it softmax-probability targets); Score-CAM's batch size is an attribute
(set, the library's documented way); Score-CAM builds every masked copy of every image of its
batch at once (N x K x 3 x H x W floats: 7.7 GB for 8 images and 1280 units), so it is run one
image at a time (and inside :func:`shared_score_cam_forwards` its masked forward passes are shared
between the classes of an image); its and Ablation-CAM's per-image progress bars have no public switch (silenced
for the call); Ablation-CAM swaps the layer out of the model while it runs (put back on every
path); FullGrad prints a notice (swallowed); RandomCAM draws its channel weights from NumPy's
global generator (seeded per image for the call, the generator's state restored); and SobelCAM is
a function of the RGB image alone (:func:`sobel_maps`).

The maps stay at the layer's resolution, without the library's min-max scaling and OpenCV resize,
so that callers normalise and upsample them as the reference does. Three methods are run as the
library runs them, being what they are: FullGrad uses every bias layer and the input, not one
layer (its map is at the input's resolution, min-max scaled); FinerCAM explains a class against
its three nearest classes in logit; RefineCAM, a product over layers, is at one layer Grad-CAM++
min-max scaled. EigenCAM, KPCA-CAM and FEM map the layer's activations alone: the same map for
every class. The Captum layer attributions
(:mod:`captum_advise.cams.library_cams`) are built on this, and the evaluator's methods on
those. Which library class each method runs, and which methods are meta-methods, class-agnostic or
at the input's resolution, is read from the catalogue (:mod:`captum_advise.catalogue`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, redirect_stdout
from contextvars import ContextVar
from functools import cache, partial
from io import StringIO
from typing import Any, Literal

import numpy as np
import pytorch_grad_cam
import torch
from pytorch_grad_cam import AblationLayer, AblationLayerVit, GradCAMPlusPlus, LayerCAM, ScoreCAM
from pytorch_grad_cam import ablation_cam as ablation_cam_module
from pytorch_grad_cam import score_cam as score_cam_module
from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients
from pytorch_grad_cam.sobel_cam import sobel_cam
from pytorch_grad_cam.utils.find_layers import replace_layer_recursive
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection
from torch import Tensor, nn

from captum_advise.attr.model_state import preserved_state
from captum_advise.attr.smoothing import library_scaled
from captum_advise.catalogue import CATALOGUE, MethodEntry

__all__ = ["Score", "library_maps", "shared_score_cam_forwards", "sobel_maps"]

Score = Literal["softmax", "logit"]
SCORE_TARGETS = {"softmax": ClassifierOutputSoftmaxTarget, "logit": ClassifierOutputTarget}


class _Silent:
    """Stands in for the tqdm module inside Score-CAM, whose per-image progress bars would flood the output."""

    @staticmethod
    def tqdm(iterable, *args, **kwargs):
        return iterable


@contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """NumPy's global generator seeded for the call (RandomCAM draws from it), its state restored after."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


@contextmanager
def _quiet_library() -> Iterator[None]:
    """Score-CAM's and Ablation-CAM's per-image progress bars off, FullGrad's printed notice swallowed."""
    originals = score_cam_module.tqdm, ablation_cam_module.tqdm
    score_cam_module.tqdm = ablation_cam_module.tqdm = _Silent
    try:
        with redirect_stdout(StringIO()):
            yield
    finally:
        score_cam_module.tqdm, ablation_cam_module.tqdm = originals


class _SafeRelease:
    """The library's ``__del__`` without its error when ``__init__`` never finished (a Ctrl-C inside it
    would otherwise print an AttributeError traceback); the binding releases the hooks itself."""

    def __del__(self):
        recorder = self.__dict__.get("activations_and_grads")
        if recorder is not None:
            recorder.release()


class _LayerResolutionMixin(_SafeRelease):
    """pytorch-grad-cam's CAM at the layer's resolution: 1.5.7's per-layer CAM without its min-max
    scaling and OpenCV bilinear resize. ``relu`` says whether the library's ReLU on the weighted sum stays."""

    relu: bool = True
    scale_each: bool = False

    def forward_augmentation_smoothing(self, input_tensor, targets, eigen_smooth=False):
        """The library's test-time augmentation (horizontal flip, brightness x 0.9, 1, 1.1): each
        augmentation's map min-max scaled as the library scales it (here at the layer's resolution),
        then their mean."""
        self.scale_each = True
        try:
            return super().forward_augmentation_smoothing(input_tensor, targets, eigen_smooth)
        finally:
            self.scale_each = False

    def compute_cam_per_layer(self, input_tensor, targets, eigen_smooth):
        activations = self.activations_and_grads.activations
        gradients = self.activations_and_grads.gradients
        if self.detach:  # ShapleyCAM alone keeps the graph: it differentiates the gradients again
            activations = [a.cpu().data.numpy() for a in activations]
            gradients = [g.cpu().data.numpy() for g in gradients]
        cams = []
        for index, layer in enumerate(self.target_layers):
            grads = gradients[index] if index < len(gradients) else None
            cam = self.get_cam_image(input_tensor, layer, targets, activations[index], grads, eigen_smooth)
            cams.append(np.maximum(cam, 0) if self.relu else cam)
        return cams

    def aggregate_multi_layers(self, cams):
        mean = np.mean(np.stack(cams, axis=1), axis=1)
        if self.scale_each:  # one layer's map, scaled twice as the library's forward scales it
            return library_scaled(torch.from_numpy(mean)).numpy()
        return mean


class _SignedGradientsGradCAMPlusPlus(GradCAMPlusPlus):
    """Grad-CAM++ (1.5.7's weights) without the positive part of the gradients: negative evidence kept."""

    def get_cam_weights(self, input_tensor, target_layers, target_category, activations, grads):
        spatial_axes = tuple(range(2, activations.ndim))
        sum_activations = np.sum(activations, axis=spatial_axes).reshape(
            activations.shape[:2] + (1,) * len(spatial_axes)
        )
        squared = grads**2
        alpha = squared / (2 * squared + sum_activations * squared * grads + 1e-6)
        alpha = np.where(grads != 0, alpha, 0)
        return np.sum(grads * alpha, axis=spatial_axes)  # the library: np.maximum(grads, 0) * alpha


class _SignedGradientsLayerCAM(LayerCAM):
    """Layer-CAM without the positive part of the gradients: each position weighted by its raw gradient."""

    def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
        weighted = grads * activations  # the library: np.maximum(grads, 0) * activations
        return get_2d_projection(weighted) if eigen_smooth else weighted.sum(axis=1)


# The library's classes that drop negative gradients, and the same without that ReLU.
SIGNED_GRADIENT_CLASSES = {GradCAMPlusPlus: _SignedGradientsGradCAMPlusPlus, LayerCAM: _SignedGradientsLayerCAM}


class _ScoreCamOutputs:
    """The model's outputs for the masked copies of images Score-CAM explained inside
    :func:`shared_score_cam_forwards`: per model, layer and reshape transform (the objects
    themselves, kept alive and compared by identity) and batch size, the image and its outputs, one
    (B, C) tensor per forward pass, in the library's order."""

    def __init__(self) -> None:
        self.kept: list[tuple[tuple[object, ...], Tensor, list[Tensor]]] = []

    def find(self, key: tuple[object, ...], image: Tensor) -> list[Tensor] | None:
        for kept_key, kept_image, outputs in self.kept:
            same_key = all(mine is theirs for mine, theirs in zip(kept_key[:3], key[:3], strict=True))
            same_key = same_key and kept_key[3] == key[3]
            if same_key and kept_image.shape == image.shape and torch.equal(kept_image, image):
                return outputs
        return None


_SCORE_CAM_OUTPUTS: ContextVar[_ScoreCamOutputs | None] = ContextVar("score_cam_outputs", default=None)


@contextmanager
def shared_score_cam_forwards() -> Iterator[None]:
    """Score-CAM's masked forward passes shared between the classes of an image inside the block.

    Score-CAM's masked copies of an image, and so the model's outputs for them, do not depend on
    the class explained; only the score read from the outputs does. Inside the block the outputs
    of each image's masked copies are kept (C floats per copy: 5 MB for 1280 copies and 1000
    classes) and read again when the same image (equal values) is explained at the same layer and
    batch size for another class: the maps are those of separate calls to the bit (the same
    batches give the same outputs), at half the forward passes for two classes. The model must not
    change inside the block.
    """
    token = _SCORE_CAM_OUTPUTS.set(_ScoreCamOutputs())
    try:
        yield
    finally:
        _SCORE_CAM_OUTPUTS.reset(token)


class _ReplayedForwards:
    """Stands in for the model inside Score-CAM's weights: the kept outputs in order, or the model's
    outputs, kept."""

    def __init__(self, model: nn.Module, outputs: list[Tensor], replay: bool):
        self.model, self.outputs, self.replay, self.calls = model, outputs, replay, 0

    def __call__(self, batch: Tensor) -> Tensor:
        if self.replay:
            output = self.outputs[self.calls]
            if output.shape[0] != batch.shape[0]:
                raise RuntimeError("Score-CAM's kept outputs do not match its masked batches")
        else:
            output = self.model(batch)
            self.outputs.append(output)
        self.calls += 1
        return output


class _SharedForwardsScoreCAM(ScoreCAM):
    """1.5.7's Score-CAM, its masked forward passes shared between classes inside :func:`shared_score_cam_forwards`."""

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        kept = _SCORE_CAM_OUTPUTS.get()
        if kept is None or input_tensor.shape[0] != 1:
            return super().get_cam_weights(input_tensor, target_layer, targets, activations, grads)
        # A Captum attribution hands the library a fresh wrapper of its forward function per call:
        # the wrapper names what it runs.
        computes = getattr(self.model, "computes", self.model)
        key = (computes, target_layer, self.activations_and_grads.reshape_transform, getattr(self, "batch_size", 16))
        outputs = kept.find(key, input_tensor)
        forwards = _ReplayedForwards(self.model, [] if outputs is None else outputs, replay=outputs is not None)
        model, self.model = self.model, forwards
        try:
            weights = super().get_cam_weights(input_tensor, target_layer, targets, activations, grads)
        finally:
            self.model = model
        if outputs is None:
            kept.kept.append((key, input_tensor.detach().clone(), forwards.outputs))
        return weights


# The library's classes the binding runs in their place.
SHARED_FORWARD_CLASSES = {ScoreCAM: _SharedForwardsScoreCAM}


def _library_entry(name: str) -> MethodEntry:
    """The catalogue row of a method the binding runs; one-line error for any other name."""
    row = CATALOGUE.get(name)
    if row is None or row.library_class is None:
        names = [known for known, entry in CATALOGUE.items() if entry.library_class is not None]
        raise ValueError(f"unknown pytorch-grad-cam method {name!r}: choose one of {', '.join(names)}")
    return row


@cache
def _cam_class(library_class: str, base: str | None, input_resolution: bool, relu: bool, gradient_relu: bool) -> Any:
    """The library class the binding constructs: at the layer's resolution, ``relu`` and ``gradient_relu``
    as asked; a meta-method around its base method's class; an input-resolution method as the library runs it."""
    library = getattr(pytorch_grad_cam, library_class)
    if input_resolution:  # FullGrad: at the input's resolution, its ReLU-free sum of absolute values
        return type(library.__name__, (_SafeRelease, library), {})
    if base is not None:  # the meta-methods run the library's own code around their base method
        base_row = _library_entry(base)
        base_class = _cam_class(base_row.library_class, None, False, relu, gradient_relu)
        return partial(library, base_method=base_class)
    library = SHARED_FORWARD_CLASSES.get(library, library)
    if not gradient_relu:
        library = SIGNED_GRADIENT_CLASSES.get(library, library)
    suffix = ("" if relu else "NoMapReLU") + ("" if gradient_relu else "NoGradientReLU")
    return type(f"{library.__name__}AtLayer{suffix}", (_LayerResolutionMixin, library), {"relu": relu})


def library_maps(
    name: str,
    model: nn.Module,
    layer: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    *,
    score: Score = "logit",
    relu: bool = True,
    gradient_relu: bool = True,
    score_cam_batch_size: int = 32,
    seeds: Sequence[int] | None = None,
    reshape_transform: Callable[[Tensor], Tensor] | None = None,
    aug_smooth: bool = False,
    eigen_smooth: bool = False,
) -> np.ndarray:
    """The library's class activation maps of ``targets`` at ``layer``, at the layer's resolution.

    Args:
        name: a catalogue method with a pytorch-grad-cam class (:mod:`captum_advise.catalogue`).
        model: the one-input module the library runs; its train/eval flags, ``requires_grad`` and
            ``.grad`` are restored on return (the library explains in eval mode), and a layer that
            Ablation-CAM swapped out is put back on every path.
        layer: the layer whose output the maps are computed from (FullGrad: unused).
        inputs: (N, ...) the model's input.
        targets: (N,) non-negative integer classes (unused by the class-agnostic methods;
            FinerCAM explains each class against the three classes closest in logit, as the
            library does when it picks the comparison classes).
        score: ``"logit"`` (the library's default) or ``"softmax"`` (the class's probability);
            FinerCAM's own target is a weighted logit difference, and the class-agnostic methods
            explain no score.
        relu: False removes the library's ReLU on the weighted sum (negative values kept).
        gradient_relu: False also removes the positive part of the gradients in Grad-CAM++'s
            weights and in Layer-CAM's position weights (Grad-CAM and Score-CAM have none).
        score_cam_batch_size: masked images per forward pass in Score-CAM and Ablation-CAM.
        seeds: N seeds of NumPy's global generator, one per image (each image then runs alone):
            RandomCAM's channel weights are drawn from it; None leaves the generator as it is.
        reshape_transform: the library's argument of that name: the layer's output (and its
            gradients) as (N, K, U, V); Ablation-CAM then ablates the output's last axis.
        aug_smooth: the library's test-time augmentation: the mean of the maps of the input flipped
            horizontally or not and multiplied by 0.9, 1 and 1.1, each min-max scaled as the library
            scales it (six times the cost; not for FinerCAM and RefineCAM, whose library classes
            have no such option).
        eigen_smooth: the library's option of that name: each map is the first principal component
            of the weighted activations instead of their sum (RefineCAM, as 1.5.7 runs it, hands it
            to its base method as that method's ``aug_smooth``).

    Returns:
        (N, U, V) float32 maps; FullGrad's are (N, H, W), at the input's resolution, min-max scaled.

    Raises:
        ValueError: an unknown method, a target count other than N, a class out of range,
            ShapleyCAM with a ``reshape_transform`` (the library's ShapleyCAM cannot run one),
            ``aug_smooth`` for FinerCAM or RefineCAM.
    """
    row = _library_entry(name)
    if targets.numel() != inputs.shape[0]:
        raise ValueError(f"{name}: {targets.numel()} targets for {inputs.shape[0]} images")
    if seeds is not None and len(seeds) != inputs.shape[0]:
        raise ValueError(f"{name}: {len(seeds)} seeds for {inputs.shape[0]} images")
    if aug_smooth and row.base is not None:
        raise ValueError(f"{name}: pytorch-grad-cam 1.5.7's {row.library_class} has no aug_smooth")
    if name == "shapleycam" and reshape_transform is not None:
        raise ValueError(
            "shapleycam: pytorch-grad-cam 1.5.7's ShapleyCAM does not apply reshape_transform to the activations "
            "it weights, so it cannot explain a token layer"
        )
    cam_class = _cam_class(row.library_class, row.base, row.input_resolution, relu, gradient_relu)
    classes = [int(c) for c in targets.flatten().tolist()]
    if any(c < 0 for c in classes):
        raise ValueError(f"target class indices must be >= 0, got {classes}")
    one_by_one = name in ("scorecam", "finercam") or seeds is not None
    step = 1 if one_by_one else max(1, inputs.shape[0])
    call = partial(
        _call,
        row,
        cam_class,
        model,
        layer,
        score=score,
        batch=score_cam_batch_size,
        reshape_transform=reshape_transform,
        smoothing={"eigen_smooth": eigen_smooth} | ({"aug_smooth": True} if aug_smooth else {}),
    )
    maps = []
    # Gradients also under torch.no_grad(), as LayerGradCam (captum.metrics calls explanations there).
    with preserved_state(model), _quiet_library(), torch.enable_grad():
        for start in range(0, inputs.shape[0], step):
            with nullcontext() if seeds is None else _numpy_seed(seeds[start]):
                maps.append(call(inputs[start : start + step], classes[start : start + step]))
    return np.concatenate(maps).astype(np.float32, copy=False)


def _construct(
    row: MethodEntry, cam_class: Callable[..., Any], model: nn.Module, layer: nn.Module, transform: Callable | None
) -> Any:
    if row.input_resolution:  # its bias layers are convolutions: no token layout to read
        return cam_class(model=model, target_layers=[])
    if row.name == "ablationcam":
        ablation = AblationLayer() if transform is None else AblationLayerVit()
        return cam_class(model=model, target_layers=[layer], reshape_transform=transform, ablation_layer=ablation)
    return cam_class(model=model, target_layers=[layer], reshape_transform=transform)


def _recorders(cam: Any) -> list[ActivationsAndGradients]:
    """The hook holders of a library object: its own, a meta-method's base's, or one per layer."""
    bases = [cam, getattr(cam, "base_cam", None), *getattr(cam, "base_cam_per_layer", ())]
    return [base.activations_and_grads for base in bases if hasattr(base, "activations_and_grads")]


def _restore_ablated_layer(cam: Any, model: nn.Module, layer: nn.Module) -> None:
    """Ablation-CAM swaps the layer for its ablation layer and back; an error in between would leave it swapped."""
    ablation = getattr(cam, "ablation_layer", None)
    if ablation is not None and any(module is ablation for module in model.modules()):
        replace_layer_recursive(model, ablation, layer)


def _call(
    row: MethodEntry,
    cam_class: Callable[..., Any],
    model: nn.Module,
    layer: nn.Module,
    inputs: Tensor,
    classes: list[int],
    *,
    score: Score,
    batch: int,
    reshape_transform: Callable | None,
    smoothing: dict[str, bool],
) -> np.ndarray:
    cam = _construct(row, cam_class, model, layer, reshape_transform)
    try:
        cam.batch_size = batch
        if row.name == "finercam":
            return cam(input_tensor=inputs, targets=None, target_idx=classes[0], **smoothing)
        return cam(input_tensor=inputs, targets=[SCORE_TARGETS[score](c) for c in classes], **smoothing)
    except IndexError:
        outputs = getattr(cam, "outputs", None)
        if outputs is None:
            with torch.no_grad():
                outputs = model(inputs)
        if max(classes) >= outputs.shape[-1]:
            raise ValueError(f"target class indices must lie in [0, {outputs.shape[-1] - 1}], got {classes}") from None
        raise
    finally:
        _restore_ablated_layer(cam, model, layer)
        for recorder in _recorders(cam):
            recorder.release()


def sobel_maps(images: Tensor) -> Tensor:
    """pytorch-grad-cam's SobelCAM: the mean of the absolute x and y Sobel responses of each image's grey levels.

    Args:
        images: (N, 3, H, W) uint8 RGB images.

    Returns:
        (N, H, W) float32 edge maps in [0, 255] (uint8 values, as the library returns them), on the
        images' device.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"SobelCAM takes (N, 3, H, W) uint8 RGB images, got {images.dtype} {tuple(images.shape)}")
    pixels = images.permute(0, 2, 3, 1).contiguous().cpu().numpy()
    edges = np.stack([sobel_cam(image) for image in pixels]).astype(np.float32)
    return torch.from_numpy(edges).to(images.device)
