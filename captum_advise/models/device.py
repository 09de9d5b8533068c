"""The device a user asks for, checked before any work: one line naming what exists instead."""

from __future__ import annotations

import torch

__all__ = ["check_device"]


def _available() -> str:
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus = [f"cuda:{index}" for index in range(cuda)]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        gpus.append("mps")
    return ", ".join(["cpu", *gpus])


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` if this machine has it.

    Raises:
        ValueError: not a device name, or a device this machine lacks (a CUDA device without a
            driver or a CUDA build of torch, an index beyond the GPUs present), naming the devices
            that exist.
    """
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a torch device name (cpu, cuda, cuda:1, ...)") from None
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            build = "a CUDA build" if torch.version.cuda else "a CPU-only build"
            raise ValueError(
                f"device {str(device)!r} asked for, but this machine has no usable CUDA GPU (torch "
                f"{torch.__version__}, {build}); available: {_available()}"
            )
        if chosen.index is not None and chosen.index >= count:
            raise ValueError(
                f"device {str(device)!r} asked for, but only {count} CUDA GPU(s); available: {_available()}"
            )
    elif chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device 'mps' asked for, but this machine has no MPS; available: {_available()}")
    return chosen
