"""The batched tensor backend of the density estimate: steps 5-9 (spec §2) as torch operations.

Runs on any device torch runs on (the CUDA fallback where the fused kernel does not apply, and a
reference for the compiled backends on the CPU). Units that share a working-grid length ``L``
share their grid step, candidate widths and smoothing kernels, so they are processed in groups of
equal ``L`` and the ``M x M`` smoothings of each group become one matrix product (steps 5-7). The
golden-section search (steps 8-9) then runs on every unit in lockstep on padded tensors: a unit
whose interval has converged keeps its state while the others go on, so the loop has a fixed shape
and needs no host synchronisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from captum_advise.density.constants import GOLDEN, MAX_ITERATIONS, SEARCH_START, SQRT_2PI, TIE_TOLERANCE, TOLERANCE
from captum_advise.density.padded_units import PaddedUnits

__all__ = ["search"]

# Chunks bound the (units x M x M x L) window costs to about 40 MB at L = 196.
UNITS_PER_CHUNK = 256


def search(units: PaddedUnits) -> tuple[Tensor, Tensor]:
    """Steps 5-9 for every unit of :class:`PaddedUnits`; returns (K, G) ``yopt`` and ``optwp``.

    Entries after a unit's length, and the rows of failed units (length 0), are NaN.
    """
    n_units, n_grid = units.y_hist.shape
    device = units.y_hist.device
    yopt = torch.full((n_units, n_grid), math.nan, dtype=torch.float64, device=device)
    optwp = torch.full_like(yopt, math.nan)
    working = (units.lengths >= 2).nonzero().flatten()
    if not len(working):
        return yopt, optwp
    lengths = units.lengths[working].long()
    padded = int(lengths.max())
    inside = torch.arange(padded, device=device) < lengths[:, None]
    optws = torch.ones(len(working), units.widths.shape[1], padded, dtype=torch.float64, device=device)
    for length in lengths.unique().tolist():
        members = (lengths == length).nonzero().flatten()
        # Units of one length share dt and W: the first one's serve the whole group.
        first = working[members[0]]
        widths = units.widths[first]
        smoothing = fft_smoothing_matrices(widths, float(units.dt[first]), length)
        y_hist = units.y_hist[working[members], :length]
        for chunk in torch.arange(len(members), device=device).split(UNITS_PER_CHUNK):
            optws[members[chunk], :, :length] = local_optimal_widths(y_hist[chunk], widths, smoothing)
    problem = SearchProblem(
        y_hist=units.y_hist[working, :padded],
        optws=optws,
        widths=units.widths[working],
        grid=torch.where(inside, units.points[working, :padded], 0.0),
        dt=units.dt[working],
        inside=inside,
    )
    found, bandwidths = golden_section_search(problem)
    yopt[working, :padded] = torch.where(inside, found, math.nan)
    optwp[working, :padded] = torch.where(inside, bandwidths, math.nan)
    return yopt, optwp


def fft_smoothing_matrices(widths: torch.Tensor, dt: float, length: int) -> torch.Tensor:
    """The reference's FFT Gaussian smoothing (step 5) as explicit matrices, shape (M, L, L).

    ``smooth(y, sigma)`` zero-pads ``y`` to ``n_fft = 2^ceil(log2(L + 3 sigma))``, filters it and keeps
    the real part of the first ``L`` values: a circular convolution with the real kernel
    ``ifft(exp(-(2 pi sigma f)^2 / 2))``. Building that kernel once per width and grid length turns
    every smoothing of the group into a matrix product, with the same wrap-around as the reference
    (which depends on each width's own ``n_fft``).
    """
    offsets = torch.arange(length, device=widths.device)
    lag = offsets[:, None] - offsets[None, :]
    matrices = []
    for sigma in (widths / dt).tolist():
        n_fft = 2 ** math.ceil(math.log2(length + 3 * sigma))
        freq = torch.arange(n_fft, dtype=torch.float64, device=widths.device)
        freq = torch.minimum(freq, n_fft - freq) / n_fft
        kernel = torch.fft.ifft(torch.exp(-0.5 * (sigma * 2 * math.pi * freq) ** 2).to(torch.complex128)).real
        matrices.append(kernel[lag % n_fft])
    return torch.stack(matrices)


def local_optimal_widths(y_hist: torch.Tensor, widths: torch.Tensor, smoothing: torch.Tensor) -> torch.Tensor:
    """``optws[i, k]``: the first candidate width minimising the window-``i`` local cost (steps 6-7).

    Args:
        y_hist: (B, L) histograms of B units on one grid.
        widths: (M,) candidate widths ``W``.
        smoothing: (M, L, L) matrices from :func:`fft_smoothing_matrices`.

    Returns:
        (B, M, L) tensor of widths.
    """
    batch, length = y_hist.shape
    n_widths = widths.numel()
    smoothed = torch.einsum("bl,jkl->bjk", y_hist, smoothing)
    local_cost = smoothed**2 - 2 * smoothed * y_hist[:, None, :] + (2 / SQRT_2PI / widths)[:, None] * y_hist[:, None, :]
    # C[b, j, i, k] = smooth(c_j, W_i)[k]: one (B*M, L) x (L, M*L) product for the whole group.
    stacked = smoothing.permute(2, 0, 1).reshape(length, n_widths * length)
    window_cost = (local_cost.reshape(batch * n_widths, length) @ stacked).reshape(batch, n_widths, n_widths, length)
    return widths[_first_minimum(window_cost)]


def _first_minimum(costs: torch.Tensor) -> torch.Tensor:
    """``argmin`` over dim 1 with the first index on ties, as one pass per candidate: a reduction
    across the non-contiguous dim 1 costs more than these M contiguous passes on a CPU."""
    best, index = costs[:, 0], torch.zeros(costs[:, 0].shape, dtype=torch.long, device=costs.device)
    for j in range(1, costs.shape[1]):
        lower = costs[:, j] < best
        best = torch.where(lower, costs[:, j], best)
        index = torch.where(lower, j, index)
    return index


@dataclass
class SearchProblem:
    """Padded inputs of the search; positions ``k >= length[b]`` are padding.

    Attributes:
        y_hist: (B, L) histogram divided by ``dt``, zero on padding.
        optws: (B, M, L) locally optimal widths.
        widths: (B, M) candidate widths.
        grid: (B, L) working grid (any finite value on padding).
        dt: (B,) grid step.
        inside: (B, L) bool, True on real grid points.
    """

    y_hist: torch.Tensor
    optws: torch.Tensor
    widths: torch.Tensor
    grid: torch.Tensor
    dt: torch.Tensor
    inside: torch.Tensor


def _gauss(sq_distance: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    return torch.exp(-sq_distance / 2 / width**2) / (SQRT_2PI * width)


def _cost(problem: SearchProblem, sq_distance: torch.Tensor, g: torch.Tensor):
    """Cost(g) of step 8 for every unit; returns ``(cost (B,), yv (B, L), optwp (B, L))``."""
    widths = problem.widths
    ratios = problem.optws / widths[:, :, None]
    reaches = ratios >= g[:, None, None]
    last = widths.shape[1] - 1 - reaches.flip(1).to(torch.int8).argmax(dim=1)
    optwv = torch.where(
        ~reaches.any(dim=1),
        widths.min(dim=1, keepdim=True).values,
        torch.where(
            (ratios > g[:, None, None]).all(dim=1),
            widths.max(dim=1, keepdim=True).values,
            g[:, None] * widths.gather(1, last),
        ),
    )
    kernel = _gauss(sq_distance, (optwv / g[:, None])[:, None, :]) * problem.inside[:, None, :]
    sums = torch.bmm(kernel, torch.stack([optwv, torch.ones_like(optwv)], dim=2))
    optwp = torch.where(problem.inside, sums[..., 0] / sums[..., 1], 1.0)
    mass = problem.y_hist * problem.dt[:, None]
    yv = torch.bmm(_gauss(sq_distance, optwp[:, :, None]), mass[:, :, None])[..., 0]
    n_total = mass.sum(dim=1, keepdim=True)
    yv = yv * n_total / (yv * problem.dt[:, None] * problem.inside).sum(dim=1, keepdim=True)
    local = yv**2 - 2 * yv * problem.y_hist + 2 / SQRT_2PI / optwp * problem.y_hist
    cost = (problem.dt[:, None] * local * problem.inside).sum(dim=1)
    return cost, yv, optwp


def golden_section_search(problem: SearchProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the reference's golden-section search on every unit at once.

    Returns:
        ``(yopt, optwp)``, each (B, L): the normalised estimate and the local bandwidths of the
        stiffness evaluated last (not the best one), as the reference returns them.
    """
    grid = problem.grid
    sq_distance = (grid[:, :, None] - grid[:, None, :]) ** 2
    batch = grid.shape[0]
    a = torch.full((batch,), SEARCH_START, dtype=torch.float64, device=grid.device)
    b = torch.ones_like(a)
    c1 = (GOLDEN - 1) * a + (2 - GOLDEN) * b
    c2 = (2 - GOLDEN) * a + (GOLDEN - 1) * b
    f1 = _cost(problem, sq_distance, c1)[0]
    f2 = _cost(problem, sq_distance, c2)[0]
    yopt = torch.zeros_like(grid)
    optwp = torch.zeros_like(grid)
    for _ in range(1, MAX_ITERATIONS):
        running = (b - a).abs() > TOLERANCE * (c1.abs() + c2.abs())
        lower = (f2 - f1) > TIE_TOLERANCE * torch.maximum(f1.abs(), f2.abs())
        new_a = torch.where(lower, a, c1)
        new_b = torch.where(lower, c2, b)
        new_c1 = torch.where(lower, (GOLDEN - 1) * a + (2 - GOLDEN) * c2, c2)
        new_c2 = torch.where(lower, c1, (2 - GOLDEN) * c1 + (GOLDEN - 1) * b)
        cost, yv, optw = _cost(problem, sq_distance, torch.where(lower, new_c1, new_c2))
        new_f1 = torch.where(lower, cost, f2)
        new_f2 = torch.where(lower, f1, cost)
        a, b, c1, c2, f1, f2 = (
            torch.where(running, new, old)
            for new, old in ((new_a, a), (new_b, b), (new_c1, c1), (new_c2, c2), (new_f1, f1), (new_f2, f2))
        )
        yopt = torch.where(running[:, None], yv, yopt)
        optwp = torch.where(running[:, None], optw, optwp)
    yopt = yopt / (yopt * problem.dt[:, None] * problem.inside).sum(dim=1, keepdim=True)
    return yopt, optwp
