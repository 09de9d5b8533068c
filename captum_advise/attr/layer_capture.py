"""One forward pass that exposes a layer's tensor as a differentiable leaf, and its gradients.

The first link of ADVISE's data flow: inputs -> model -> (layer activations, class scores), then
gradients of chosen class scores with respect to the layer. Hooks live only inside the call and
the model's flags and parameters are never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from captum._utils.typing import TargetType
from torch import Tensor, nn

from captum_advise.attr.token_layout import feature_map

__all__ = [
    "LayerPass",
    "check_inputs_device",
    "forward_with_layer",
    "resolve_targets",
    "score_gradients",
    "target_indices",
]

ScoreKind = Literal["softmax", "logit"]


@dataclass
class LayerPass:
    """What one forward pass produced.

    Attributes:
        leaves: the layer's tensor as leaves that require grad, one per device that ran the layer
            (one unless the model is a DataParallel), in device order; values exactly as the layer
            produced them, before any in-place operation downstream.
        scores: (N, C) class scores (softmax probabilities or logits), still attached to the graph.
        transform: the layer's reshape transform (a token layer's output as a feature map), or None.
    """

    leaves: tuple[Tensor, ...]
    scores: Tensor
    transform: Callable[[Tensor], Tensor] | None = None

    def as_map(self, value: Tensor) -> Tensor:
        """A leaf (or its gradient), shaped as the layer's tensor, as the (n, K, U, V) feature map."""
        return value if self.transform is None else self.transform(value)

    @property
    def activations(self) -> Tensor:
        """(N, K, U, V) the layer's values, detached."""
        return torch.cat([self.as_map(leaf.detach()) for leaf in self.leaves], dim=0)


def _first_parameter_device(forward_func: Callable[..., Any]) -> torch.device | None:
    if not isinstance(forward_func, nn.Module):
        return None
    for tensor in forward_func.parameters():
        return tensor.device
    for tensor in forward_func.buffers():
        return tensor.device
    return None


def check_inputs_device(
    forward_func: Callable[..., Any], inputs: tuple[Tensor, ...], device_ids: Sequence[int] | None
) -> None:
    """Raise if the inputs and the model live on different devices (DataParallel scatters itself)."""
    model_device = _first_parameter_device(forward_func)
    if model_device is None or device_ids is not None or isinstance(forward_func, nn.DataParallel):
        return
    for index, tensor in enumerate(inputs):
        if tensor.device != model_device:
            raise ValueError(
                f"inputs[{index}] is on {tensor.device} but the model's parameters are on {model_device}: "
                f"move the inputs with .to({str(model_device)!r}) (or the model to the inputs' device)"
            )


def _as_leaf(value: Tensor, where: str, transform: Callable[[Tensor], Tensor] | None) -> Tensor:
    if not isinstance(value, Tensor):
        raise ValueError(f"{where} must be a tensor of shape (N, K, U, V), got {type(value).__name__}")
    if not value.is_floating_point():
        raise ValueError(f"{where} has dtype {value.dtype}; ADVISE needs floating-point activations")
    feature_map(value.detach(), transform, where)
    return value.detach().requires_grad_()


def _order_by_device(captured: list[Tensor], device_ids: Sequence[int] | None) -> list[Tensor]:
    if len(captured) == 1:
        return captured
    order = list(device_ids) if device_ids is not None else sorted({t.device.index or 0 for t in captured})
    return sorted(captured, key=lambda t: order.index(t.device.index or 0))


def forward_with_layer(
    forward_func: Callable[..., Tensor],
    layer: nn.Module,
    inputs: tuple[Tensor, ...],
    additional_forward_args: tuple[Any, ...],
    attribute_to_layer_input: bool,
    score: ScoreKind,
    device_ids: Sequence[int] | None = None,
    reshape_transform: Callable[[Tensor], Tensor] | None = None,
    layer_name: str = "the layer",
) -> LayerPass:
    """Run the model once with the layer's output (or input) replaced by an equal leaf tensor.

    Gradients of the scores then stop at the layer: the backward pass never visits earlier layers.

    Args:
        forward_func: the model, returning (N, C) logits.
        layer: the module whose output (or, with ``attribute_to_layer_input``, whose single input)
            ADVISE explains; it must be called exactly once per forward pass (once per device under
            DataParallel).
        inputs: the model's inputs, each with batch size N.
        additional_forward_args: further positional arguments, passed unchanged.
        attribute_to_layer_input: use the layer's input instead of its output.
        score: ``"softmax"`` (reference) or ``"logit"``.
        device_ids: DataParallel device ids, to order the per-device captures.
        reshape_transform: a resolved transform (:mod:`~captum_advise.attr.token_layout`) that
            turns the layer's tensor into (N, K, U, V); None when the tensor is the feature map.
        layer_name: how messages name the layer.

    Returns:
        :class:`LayerPass`.
    """
    captured: list[Tensor] = []

    def replace_output(_module: nn.Module, _args: Any, output: Any) -> Tensor:
        leaf = _as_leaf(output, f"{layer_name}'s output", reshape_transform)
        captured.append(leaf)
        # A clone goes downstream, so an in-place op there (VGG's ReLU) cannot alter the leaf.
        return leaf.clone()

    def replace_input(_module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(args) != 1:
            raise ValueError(f"attribute_to_layer_input needs a layer called with one tensor, got {len(args)} inputs")
        leaf = _as_leaf(args[0], f"{layer_name}'s input", reshape_transform)
        captured.append(leaf)
        return (leaf.clone(),)

    if attribute_to_layer_input:
        handle = layer.register_forward_pre_hook(replace_input)
    else:
        handle = layer.register_forward_hook(replace_output)
    try:
        with torch.enable_grad():
            output = forward_func(*inputs, *additional_forward_args)
            _check_logits(output, inputs[0].shape[0])
            scores = torch.softmax(output, dim=1) if score == "softmax" else output
    finally:
        handle.remove()

    if not captured:
        raise ValueError(
            "the layer was not called during the forward pass: pass a module of the model that computes "
            "its prediction (for example model.features[28])"
        )
    expected_calls = len(device_ids) if device_ids is not None and len(device_ids) > 1 else 1
    if len(captured) > expected_calls:
        raise ValueError(
            f"the layer was called {len(captured)} times in one forward pass; ADVISE needs a layer used once "
            "(a module reused at several depths has no single feature map)"
        )
    leaves = tuple(_order_by_device(captured, device_ids))
    layer_batch = sum(leaf.shape[0] for leaf in leaves)
    if layer_batch != inputs[0].shape[0]:
        raise ValueError(f"the layer's tensor has batch size {layer_batch} but the inputs have {inputs[0].shape[0]}")
    return LayerPass(leaves=leaves, scores=scores, transform=reshape_transform)


def _check_logits(output: Any, batch_size: int) -> None:
    if not isinstance(output, Tensor) or output.dim() != 2 or output.shape[0] != batch_size:
        shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise ValueError(f"forward_func must return (N, C) class scores for N = {batch_size} inputs, got {shape}")


def _class_index(value: Any) -> int:
    """One target entry as a class index: an int, or Captum's 1-tuple ``(c,)`` indexing an (N, C) output."""
    if isinstance(value, tuple):
        if len(value) != 1:
            raise ValueError(
                f"target tuple {value!r} indexes output dimensions beyond the class; ADVISE explains (N, C) class "
                "scores, where a target tuple is (c,)"
            )
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"target class indices must be integers, got {value!r}")
    return int(value)


def target_indices(target: TargetType, batch_size: int, device: torch.device) -> Tensor:
    """Captum's target argument (not None) as one class index per example, checked but for the class count.

    Args:
        target: an int or a 1-tuple ``(c,)`` (the same class for every example), a list of N ints
            or 1-tuples, or an integer tensor with 1 or N elements.
        batch_size: N.
        device: where the result goes.

    Returns:
        (N,) long tensor of indices >= 0.
    """
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise ValueError(f"target tensor must hold integer class indices, got dtype {target.dtype}")
        targets = target.to(device=device, dtype=torch.long).flatten()
    elif isinstance(target, list):
        targets = torch.tensor([_class_index(t) for t in target], dtype=torch.long, device=device)
    else:
        targets = torch.tensor([_class_index(target)], dtype=torch.long, device=device)
    if targets.numel() == 1:
        targets = targets.expand(batch_size)
    elif targets.numel() != batch_size:
        raise ValueError(f"target has {targets.numel()} entries but the inputs hold {batch_size} examples")
    if (targets < 0).any():
        raise ValueError(f"target class indices must be >= 0, got {targets.tolist()}")
    return targets


def resolve_targets(target: TargetType, scores: Tensor) -> Tensor:
    """Captum's target argument as one class index per example; None means the predicted class.

    Args:
        target: None, or any form :func:`target_indices` takes (Captum's ``TargetType`` for an
            (N, C) output).
        scores: (N, C) scores of the forward pass.

    Returns:
        (N,) long tensor on the scores' device.
    """
    batch_size, n_classes = scores.shape
    if target is None:
        return scores.detach().argmax(dim=1)
    targets = target_indices(target, batch_size, scores.device)
    if (targets >= n_classes).any():
        raise ValueError(f"target class indices must lie in [0, {n_classes - 1}], got {targets.tolist()}")
    return targets


def score_gradients(layer_pass: LayerPass, targets: Tensor, retain_graph: bool = False, **grad_kwargs: Any) -> Tensor:
    """d score[n, targets[n]] / d activations[n], for every example n at once.

    Args:
        layer_pass: the forward pass.
        targets: (N,) class indices.
        retain_graph: keep the graph for a further call (another set of targets).
        grad_kwargs: passed to ``torch.autograd.grad``.

    Returns:
        (N, K, U, V) gradients; zeros where the score does not depend on the layer.
    """
    with torch.enable_grad():
        chosen = layer_pass.scores.gather(1, targets.view(-1, 1)).sum()
        gradients = torch.autograd.grad(
            chosen, layer_pass.leaves, retain_graph=retain_graph, allow_unused=True, **grad_kwargs
        )
    return torch.cat(
        [
            layer_pass.as_map(torch.zeros_like(leaf) if grad is None else grad)
            for leaf, grad in zip(layer_pass.leaves, gradients, strict=True)
        ]
    )
