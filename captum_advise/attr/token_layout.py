"""A token layer's output as a feature map: (N, D, h, w), the layout every later step of ADVISE reads.

A vision transformer's layer gives tokens, not a feature map. Its D channels are the units and
its h x w patch tokens are each unit's values (196 for a 224-pixel ViT-B/16, as many as VGG16's
conv5_3 has positions). ``reshape_transform`` says how to read them, as pytorch-grad-cam's
argument of that name does (the same callable is handed to the library):

- ``"vit"``: (N, P + h*w, D) tokens, the P prefix tokens dropped: the class token (P = 1), and
  the distillation token too where the count says so (P = 2, DeiT's distilled models);
- ``"swin"``: Swin's (N, h, w, D) channels-last map, or its flattened (N, h*w, D) tokens;
- a callable: any function of the layer's output that returns (N, D, h, w).

The transform must only select and reorder values (as these do): the gradients of the layer's
output are transformed the same way, which is what pytorch-grad-cam does and is exact for such
functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from torch import Tensor

__all__ = ["ReshapeTransform", "feature_map", "resolve_reshape_transform", "swin_tokens_to_map", "vit_tokens_to_map"]

ReshapeTransform = Callable[[Tensor], Tensor] | Literal["vit", "swin"] | None
NAMED_TRANSFORMS = ("vit", "swin")


def _square_side(count: int) -> int | None:
    side = math.isqrt(count)
    return side if side * side == count and side > 0 else None


def _tokens_shape_error(tokens: Tensor, what: str) -> ValueError:
    return ValueError(f"reshape_transform {what} takes (N, tokens, D) tokens, got shape {tuple(tokens.shape)}")


def vit_tokens_to_map(tokens: Tensor) -> Tensor:
    """(N, P + h*w, D) ViT tokens -> (N, D, h, w), the P = 1 class token (or P = 2 with a distillation token) dropped.

    Raises:
        ValueError: not 3-D, or neither 1 nor 2 prefix tokens leave a square grid of patches.
    """
    if tokens.dim() != 3:
        raise _tokens_shape_error(tokens, "'vit'")
    count = tokens.shape[1]
    for prefix in (1, 2):
        side = _square_side(count - prefix)
        if side is not None:
            grid = tokens[:, prefix:, :].reshape(tokens.shape[0], side, side, tokens.shape[2])
            return grid.permute(0, 3, 1, 2)
    raise ValueError(
        f"reshape_transform 'vit': {count} tokens (shape {tuple(tokens.shape)}) are not a class token (and a "
        "distillation token) plus a square grid of patches; pass a callable for this layout"
    )


def swin_tokens_to_map(tokens: Tensor) -> Tensor:
    """Swin's (N, h, w, D) channels-last map, or (N, h*w, D) tokens, -> (N, D, h, w).

    Raises:
        ValueError: neither layout, or a token count that is not a square.
    """
    if tokens.dim() == 4:
        return tokens.permute(0, 3, 1, 2)
    if tokens.dim() != 3:
        raise _tokens_shape_error(tokens, "'swin'")
    side = _square_side(tokens.shape[1])
    if side is None:
        raise ValueError(
            f"reshape_transform 'swin': {tokens.shape[1]} tokens (shape {tuple(tokens.shape)}) are not a square "
            "grid; pass a callable for this layout"
        )
    return tokens.reshape(tokens.shape[0], side, side, tokens.shape[2]).permute(0, 3, 1, 2)


def resolve_reshape_transform(reshape_transform: ReshapeTransform) -> Callable[[Tensor], Tensor] | None:
    """``"vit"``, ``"swin"``, a callable or None as the function to apply (None: the output is the map).

    Raises:
        ValueError: another string, or a value that is not callable.
    """
    if reshape_transform is None:
        return None
    if isinstance(reshape_transform, str):
        named = {"vit": vit_tokens_to_map, "swin": swin_tokens_to_map}
        if reshape_transform not in named:
            raise ValueError(f"reshape_transform must be 'vit', 'swin', a callable or None, got {reshape_transform!r}")
        return named[reshape_transform]
    if not callable(reshape_transform):
        raise ValueError(f"reshape_transform must be 'vit', 'swin', a callable or None, got {reshape_transform!r}")
    return reshape_transform


def feature_map(value: Tensor, transform: Callable[[Tensor], Tensor] | None, where: str) -> Tensor:
    """The layer's tensor as (N, K, U, V), through ``transform`` when one is given.

    Args:
        value: the layer's output or input.
        transform: a resolved reshape transform, or None.
        where: names the layer and the tensor in messages, e.g. "layer 'blocks.11.norm1''s output".

    Raises:
        ValueError: the result is not a 4-D tensor; the message names ``reshape_transform``.
    """
    result = value if transform is None else transform(value)
    if isinstance(result, Tensor) and result.dim() == 4:
        return result
    shape = tuple(result.shape) if isinstance(result, Tensor) else type(result).__name__
    if transform is None:
        raise ValueError(
            f"{where} has shape {shape}; ADVISE needs a convolutional feature map of shape (N, K, U, V) (batch, "
            "units, height, width): for a token layer pass reshape_transform ('vit', 'swin' or a callable)"
        )
    raise ValueError(
        f"reshape_transform turned {where} of shape {tuple(value.shape)} into {shape}; it must return "
        "(N, K, U, V) (batch, units, height, width)"
    )
