"""Seeds drawn from what an example is, so a random map is the same in every run, batch and shard."""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

__all__ = ["content_generator", "content_seed"]


def content_seed(values: Tensor, *salt: int) -> int:
    """A 63-bit seed from a tensor's dtype, shape and bytes, and integers such as a class and a run seed.

    The same example (the same input tensor) gets the same seed wherever it is computed, so a
    control's random map depends on the image, the class and the seed only, not on its batch.
    """
    digest = hashlib.sha256()
    digest.update(f"{values.dtype}{tuple(values.shape)}{salt}".encode())
    digest.update(values.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return int.from_bytes(digest.digest()[:8], "little") >> 1


def content_generator(values: Tensor, *salt: int) -> torch.Generator:
    """A CPU generator seeded with :func:`content_seed`."""
    return torch.Generator().manual_seed(content_seed(values, *salt))
