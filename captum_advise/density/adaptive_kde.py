"""The locally adaptive kernel density estimate that ADVISE runs on every unit (spec §2).

Shimazaki & Shinomoto's estimator ("ssvkernel": Gaussian window, no bootstrap), reproduced the way
the ADVISE authors' code runs it, quirks included, and batched over units. This module checks the
input, lays every unit out on its working grid (steps 1-4, :mod:`~captum_advise.density.padded_units`),
hands the units to one backend for steps 5-9 (:mod:`~captum_advise.density.backends`) and
interpolates the result onto the evaluation grid (step 10).
"""

from __future__ import annotations

import importlib
import math
import os
from typing import Literal, NamedTuple

import torch

from captum_advise.density.padded_units import PaddedUnits, pad_units
from captum_advise.matlab import linspace

__all__ = ["BACKENDS", "KDEResult", "adaptive_kde"]

BACKENDS = ("auto", "triton", "triton-no-spill", "numba", "torch")
# Each backend's module (in captum_advise.density.backends) and the keyword arguments of its search.
_SEARCHES = {
    "triton": ("triton_backend", {"kernel": "v1"}),
    "triton-no-spill": ("triton_backend", {"kernel": "no-spill"}),
    "numba": ("numba_backend", {}),
    "torch": ("torch_backend", {}),
}
# The fused kernels keep (M x G) tiles in registers: beyond these they would spill, and the tensor path is used.
FUSED_MAX_BANDWIDTHS = 32
FUSED_MAX_GRID = 1024
Backend = Literal["auto", "triton", "triton-no-spill", "numba", "torch"]


class KDEResult(NamedTuple):
    """Result of :func:`adaptive_kde`.

    Attributes:
        density: (K, G) float64 density of each unit on the evaluation grid; NaN rows where
            ``valid`` is False, and where the reference's own result is NaN (its normalisation
            divides 0 by 0 when all kernel mass lies beyond the grid, e.g. two values just below
            1 and the rest above it). Such rows count 0 peaks.
        bandwidth: (K, G) float64 local kernel bandwidths on the grid; NaN rows where ``valid`` is
            False.
        valid: (K,) bool, False where the reference's estimate is empty (fewer than two samples in
            the grid's range, or a working grid of a single point).
    """

    density: torch.Tensor
    bandwidth: torch.Tensor
    valid: torch.Tensor


def _check_samples(samples: torch.Tensor) -> None:
    if not isinstance(samples, torch.Tensor):
        raise TypeError(f"samples must be a torch.Tensor, got {type(samples).__name__}")
    if samples.dim() != 2:
        raise ValueError(f"samples must have shape (K, n) (units x values per unit), got shape {tuple(samples.shape)}")
    if samples.shape[1] < 3:
        raise ValueError(f"each unit needs at least 3 values (n >= 3), got n = {samples.shape[1]}")
    if samples.is_complex() or samples.dtype == torch.bool:
        raise TypeError(f"samples must be real numbers, got dtype {samples.dtype}")
    if not torch.isfinite(samples).all():
        bad = (~torch.isfinite(samples)).any(dim=1).nonzero().flatten()
        raise ValueError(
            f"samples contain NaN or Inf values (units {bad[:10].tolist()}{'...' if len(bad) > 10 else ''})"
        )


def _check_grid(grid: torch.Tensor) -> None:
    if grid.dim() != 1 or grid.numel() < 2:
        raise ValueError(f"grid must be a 1-D tensor of at least 2 points, got shape {tuple(grid.shape)}")
    if not torch.isfinite(grid).all():
        raise ValueError("grid contains NaN or Inf values")
    steps = grid.diff()
    if not (steps > 0).all():
        raise ValueError("grid must be strictly increasing")
    if (steps.max() - steps.min()) > 1e-5 * steps.mean():
        raise ValueError("grid must be evenly spaced: the estimator's Gaussian smoothing assumes a uniform grid")


def _scale_to_unit(samples: torch.Tensor) -> torch.Tensor:
    low = samples.min(dim=1, keepdim=True).values
    span = samples.max(dim=1, keepdim=True).values - low
    # A constant unit has no scale: it becomes all zeros, like a dead unit.
    return torch.where(span > 0, (samples - low) / torch.where(span > 0, span, 1.0), 0.0)


def _interpolate_rows(grid: torch.Tensor, points: torch.Tensor, lengths: torch.Tensor, values: torch.Tensor):
    """Step 10, MATLAB ``interp1``: row u's values at its first ``lengths[u]`` ``points``, onto ``grid``."""
    queries = grid.expand(points.shape[0], -1).contiguous()
    index = torch.searchsorted(points, queries, right=True) - 1
    index = torch.minimum(index.clamp(min=0), (lengths[:, None] - 2).clamp(min=0).long())
    left, right = points.gather(1, index), points.gather(1, index + 1)
    lo, hi = values.gather(1, index), values.gather(1, index + 1)
    return lo + (grid - left) * (hi - lo) / (right - left)


def _triton_available(device: torch.device) -> bool:
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return device.type in ("cuda", "cpu")


def _choose_backend(backend: str, device: torch.device, n_bandwidths: int, n_grid: int) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend.startswith("triton") and not _triton_available(device):
        raise ValueError(
            f"backend={backend!r} needs samples on a CUDA device with Triton installed (got device {device}); "
            "on a CPU it runs only under TRITON_INTERPRET=1"
        )
    if backend == "numba" and device.type != "cpu":
        raise ValueError(f"backend='numba' runs on the CPU; the samples are on {device}")
    if backend != "auto":
        return backend
    if device.type == "cpu":
        return "numba"
    fits = n_bandwidths <= FUSED_MAX_BANDWIDTHS and n_grid <= FUSED_MAX_GRID
    return "triton" if fits and device.type == "cuda" and _triton_available(device) else "torch"


def _search(backend: str, units: PaddedUnits) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 5-9 of every unit on ``backend``, imported only now (Triton may not be installed)."""
    module, options = _SEARCHES[backend]
    return importlib.import_module(f"captum_advise.density.backends.{module}").search(units, **options)


def adaptive_kde(
    samples: torch.Tensor,
    grid: torch.Tensor | None = None,
    n_bandwidths: int = 10,
    value_range: Literal["fixed", "unit"] = "fixed",
    backend: Backend = "auto",
) -> KDEResult:
    """Locally adaptive kernel density estimate of K independent units, batched.

    Each row of ``samples`` is one unit's values (for ADVISE: a channel's U x V activations). Only
    the values inside ``[grid[0], grid[-1]]`` enter its estimate. Computation runs in float64 on
    the samples' device (CPU or CUDA), whatever their dtype; results are float64.

    Args:
        samples: (K, n) real tensor, n >= 3. NaN or Inf raise ``ValueError``.
        grid: (G,) evenly spaced, increasing evaluation grid. Default ``linspace(0, 1, n)`` (the
            reference's ``tin``).
        n_bandwidths: M, the number of candidate bandwidths (reference: 10).
        value_range: ``"fixed"`` (reference) uses the raw values; ``"unit"`` min-max scales each
            unit to [0, 1] first, so every value enters the estimate. Under ``"unit"`` a constant
            unit becomes all zeros (it is then estimated like a dead unit: a density decreasing
            from 0, with no peak).
        backend: ``"auto"`` (default) runs the fused Triton kernel on CUDA (one launch, no host
            synchronisation, for M <= 32 and G <= 1024), the compiled numba kernel on a CPU, and
            the batched tensor implementation otherwise; ``"triton"``, ``"numba"`` or ``"torch"``
            force one (``"triton"`` on a CPU needs ``TRITON_INTERPRET=1``);
            ``"triton-no-spill"`` runs the second Triton kernel (experimental, not yet checked on
            a GPU; see the README). All give the reference's result to rounding.

    Returns:
        :class:`KDEResult` with ``density`` (K, G), ``bandwidth`` (K, G) and ``valid`` (K,).

    Example:
        >>> import torch
        >>> from captum_advise.density import adaptive_kde, count_peaks
        >>> _ = torch.manual_seed(0)
        >>> x = torch.cat([0.2 + 0.02 * torch.randn(1, 60), 0.7 + 0.02 * torch.randn(1, 60)], dim=1)
        >>> result = adaptive_kde(x)
        >>> result.density.shape
        torch.Size([1, 120])
        >>> count_peaks(result.density).tolist()
        [2]
    """
    _check_samples(samples)
    if value_range not in ("fixed", "unit"):
        raise ValueError(f"value_range must be 'fixed' or 'unit', got {value_range!r}")
    if not isinstance(n_bandwidths, int) or n_bandwidths < 2:
        raise ValueError(f"n_bandwidths must be an integer >= 2, got {n_bandwidths!r}")
    device = samples.device
    samples = samples.detach().to(torch.float64)
    if grid is None:
        # Built on both devices rather than copied, which would wait for the device's queue.
        grid_cpu = linspace(0.0, 1.0, samples.shape[1], device=torch.device("cpu"))
        grid = linspace(0.0, 1.0, samples.shape[1], device=device)
    else:
        grid_cpu = torch.as_tensor(grid, dtype=torch.float64).cpu()
        grid = grid_cpu.to(device)
    _check_grid(grid_cpu)
    chosen = _choose_backend(backend, device, n_bandwidths, grid.numel())
    if value_range == "unit":
        samples = _scale_to_unit(samples)
    units = pad_units(samples, grid, grid_cpu, n_bandwidths)
    yopt, optwp = _search(chosen, units)
    valid = units.lengths >= 2
    density = _interpolate_rows(grid, units.points, units.lengths, yopt)
    bandwidth = _interpolate_rows(grid, units.points, units.lengths, optwp)
    return KDEResult(
        torch.where(valid[:, None], density, math.nan), torch.where(valid[:, None], bandwidth, math.nan), valid
    )
