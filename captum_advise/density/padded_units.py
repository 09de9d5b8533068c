"""Steps 1-4 of the estimator (spec §2) for every unit at once, with no host synchronisation.

Each unit gets its own working grid, but every working grid has at most ``G`` points (a coarse grid
is coarser than the evaluation grid), so all of them fit in one (K, G) tensor padded after the
unit's length ``L``. Nothing here reads a value back to the host: every backend
(:mod:`captum_advise.density.backends`) takes these tensors as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from captum_advise.matlab import linspace_rows

__all__ = ["PaddedUnits", "candidate_widths", "fft_lengths", "histograms", "pad_units", "working_lengths"]

MAX_GRID_POINTS = 1000


@dataclass
class PaddedUnits:
    """Every unit's working grid and histogram, padded to the evaluation grid's length ``G``.

    Attributes:
        lengths: (K,) int32 working-grid length ``L``; 0 where the estimate fails (spec §2 step 11).
        points: (K, G) float64 working grid ``t``; +inf after ``L``.
        dt: (K,) float64 grid step ``min(diff(t))``.
        widths: (K, M) float64 candidate bandwidths ``W``.
        y_hist: (K, G) float64 histogram divided by ``dt``; 0 after ``L``.
    """

    lengths: torch.Tensor
    points: torch.Tensor
    dt: torch.Tensor
    widths: torch.Tensor
    y_hist: torch.Tensor


def working_lengths(samples: torch.Tensor, inside: torch.Tensor, grid_step: float, span: float, n_grid: int):
    """Step 2: ``L`` of every unit (the evaluation grid's own length unless the samples are coarser)."""
    ordered = torch.where(inside, samples, math.inf).sort(dim=1).values
    gaps = ordered.diff(dim=1)
    gaps = torch.where(torch.isfinite(gaps) & (gaps != 0), gaps, math.inf)
    smallest_gap = gaps.min(dim=1).values
    coarse = torch.isfinite(smallest_gap) & (smallest_gap > grid_step)
    coarse_length = torch.ceil(span / torch.where(coarse, smallest_gap, 1.0)).clamp(max=MAX_GRID_POINTS)
    return torch.where(coarse, coarse_length, float(n_grid)).long()


def _logexp(u: torch.Tensor) -> torch.Tensor:
    return torch.where(u < 100, torch.log(1 + torch.exp(u.clamp(max=100))), u)


def _ilogexp(u: torch.Tensor) -> torch.Tensor:
    return torch.where(u < 100, torch.log(torch.exp(u.clamp(max=100)) - 1), u)


def candidate_widths(dt: torch.Tensor, span: float, n_bandwidths: int) -> torch.Tensor:
    """Step 4 as the reference writes it: (K, M) ``W = logexp(linspace(ilogexp(5 dt), ilogexp(T), M))``."""
    low = _ilogexp(5 * dt)
    high = math.log(math.exp(span) - 1) if span < 100 else span
    columns = torch.arange(n_bandwidths, dtype=torch.float64, device=dt.device)
    exponents = low[:, None] + columns * ((high - low) / (n_bandwidths - 1))[:, None]
    exponents[:, -1] = high
    return _logexp(exponents)


def histograms(samples, inside, points, dt, lengths) -> torch.Tensor:
    """Step 3, MATLAB ``histc`` on edges ``t - dt/2``: the last bin takes only ``x == e_L``.

    Row u of (K, n) ``samples`` on its working grid ``points[u, :lengths[u]]`` (padded with +inf),
    step ``dt[u]``; returns (K, G) counts divided by ``dt``.
    """
    edges = points - dt[:, None] / 2
    last = (lengths - 1).clamp(min=0)[:, None]
    bins = torch.searchsorted(edges, samples.contiguous(), right=True) - 1
    on_last_edge = samples == edges.gather(1, last)
    counted = inside & (bins >= 0) & ((bins < last) | on_last_edge)
    bins = torch.where(on_last_edge, last, bins.clamp(min=0, max=edges.shape[1] - 1))
    counts = torch.zeros_like(points)
    counts.scatter_add_(1, bins, counted.to(torch.float64))
    return counts / dt[:, None]


def pad_units(samples: torch.Tensor, grid: torch.Tensor, grid_cpu: torch.Tensor, n_bandwidths: int) -> PaddedUnits:
    """Steps 1-4 for (K, n) float64 ``samples`` on the evaluation ``grid`` (G,), on their device.

    ``grid_cpu`` is the same grid on the CPU: its end points and step are read there, not on the
    samples' device.
    """
    n_grid = grid.numel()
    low, high = float(grid_cpu[0]), float(grid_cpu[-1])
    span = high - low
    inside = (samples >= low) & (samples <= high)
    lengths = working_lengths(samples, inside, float(grid_cpu.diff().min()), span, n_grid)
    lengths = torch.where((inside.sum(dim=1) >= 2) & (lengths >= 2), lengths, 0)
    coarse_points = linspace_rows(low, high, lengths, n_grid)
    points = torch.where(lengths[:, None] == n_grid, grid, coarse_points)
    columns = torch.arange(n_grid, device=samples.device)
    real = columns < lengths[:, None]
    steps = torch.where(real[:, 1:], points.diff(dim=1), math.inf)
    dt = torch.where(lengths >= 2, steps.min(dim=1).values, 1.0)
    points = torch.where(real, points, math.inf)
    y_hist = torch.where(real, histograms(samples, inside, points, dt, lengths), 0.0)
    return PaddedUnits(lengths.to(torch.int32), points, dt, candidate_widths(dt, span, n_bandwidths), y_hist)


def fft_lengths(units: PaddedUnits) -> torch.Tensor:
    """(K, M) FFT length ``2^ceil(log2(L + 3 sigma))`` of the reference's smoothing (step 5), ``sigma = W / dt``."""
    sigma = units.widths / units.dt[:, None]
    return torch.exp2(torch.ceil(torch.log2(units.lengths[:, None].to(torch.float64) + 3 * sigma)))
