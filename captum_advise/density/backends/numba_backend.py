"""The compiled CPU backend of the density estimate: steps 5-9 (spec §2) of a unit in one numba call.

Every unit of a call runs in one parallel compiled loop (one unit per thread) whatever its
working-grid length, the same computation as :mod:`captum_advise.density.backends.torch_backend`
organised the way the fused Triton kernel (:mod:`captum_advise.density.backends.triton_v1`) is.

Steps 5-7 (the smoothings and the locally optimal bandwidths):

* The reference's FFT smoothing is a circular convolution with ``ifft(exp(-(2 pi sigma f)^2 / 2))``,
  which by Poisson's summation formula is the Gaussian of width ``sigma`` summed over the period
  ``n_fft``, up to the spectrum beyond the FFT's highest frequency, ``exp(-pi^2 sigma^2 / 2)``;
  images ``|p| <= 3`` suffice (``n_fft >= L + 3 sigma`` puts the fourth beyond ``exp(-72)``).
  ``sigma = W / dt >= min(5, L - 1)``, so that left-out spectrum is below 1e-16 except for widths
  under 3 grid steps, which only working grids of 2 or 3 points have (there it reaches 7e-3 of
  the kernel); those few kernels are summed as the reference's inverse FFT itself.
* Smoothing a histogram visits only its non-empty bins.
* The window costs (M^2 L^2 products, most of these steps' time) are accumulated source by source
  into contiguous rows, two rows per kernel load, which the compiler turns into vector
  instructions.

Steps 8-9 (the golden-section search), organised so that the O(L^2) sums of each cost evaluation
need almost no ``exp``:

* Nadaraya-Watson: the kernel width at a grid point ``j`` is ``optwv(j) / g``, which is one of the
  candidate widths ``W_i`` or ``min(W) / g`` or ``max(W) / g``: M + 2 widths, each tabulated once
  per lag (by the balloon's product recurrence below) instead of once per pair (``L^2`` exps).
  Sources of one width class share their ``optwv`` too, and they come in runs along the grid: a
  run's contribution at every grid point is a difference of two suffix sums of its width's table
  (summed from the far tail in, so a difference keeps the precision of a direct sum), O(runs x L)
  instead of O(L^2).
* Balloon estimate: on a uniform grid ``exp(-(d dt)^2 / (2 p^2)) = q^(d^2)``, advanced from lag
  ``d`` to ``d + 1`` by two products; it is recomputed exactly every ``BLOCK`` lags so that the
  rounding of the products never grows past a few units in the last place.
* The balloon sum stops at the first lag where the widest kernel's term, the largest of that lag at
  every grid point, is below ``NEGLIGIBLE``: what is left changes no density by more than 1e-17 of
  its maximum.
"""

from __future__ import annotations

import logging
import math
import os

import numba
import numpy as np
import torch

from captum_advise.density.constants import (
    GOLDEN,
    MAX_ITERATIONS,
    NEGLIGIBLE,
    SEARCH_START,
    SQRT_2PI,
    TIE_TOLERANCE,
    TOLERANCE,
)
from captum_advise.density.padded_units import PaddedUnits, fft_lengths

__all__ = ["search"]

LOGGER = logging.getLogger("captum_advise")
POISSON_IMAGES = 3
# Below this width in grid steps, Poisson's sum misses more than 1e-16 of the kernel (see above).
POISSON_MIN_SIGMA = 3.0
# Lags between exact restarts of the balloon estimate's product recurrence.
BLOCK = 16


@numba.njit(cache=True, error_model="numpy")
def _inverse_fft_kernel(sigma, n_fft, lag):
    """``real(ifft(exp(-(2 pi sigma f)^2 / 2)))[lag]``, summed directly (the spectrum is even)."""
    total = 0.0
    for k in range(n_fft):
        frequency = min(k, n_fft - k) / n_fft
        total += math.exp(-0.5 * (sigma * 2 * math.pi * frequency) ** 2) * math.cos(2 * math.pi * k * lag / n_fft)
    return total / n_fft


@numba.njit(cache=True, error_model="numpy")
def _periodic_kernels(widths, n_fft, dt, length):
    """Row j at ``length - 1 + m``: the smoothing kernel of width ``W_j`` at lag ``m``, |m| < L."""
    n_widths = widths.shape[0]
    kernels = np.empty((n_widths, 2 * length - 1))
    for j in range(n_widths):
        sigma = widths[j] / dt
        period = n_fft[j]
        for d in range(length):
            if sigma < POISSON_MIN_SIGMA:
                value = _inverse_fft_kernel(sigma, int(period), d)
            else:
                total = 0.0
                for p in range(-POISSON_IMAGES, POISSON_IMAGES + 1):
                    shifted = d + p * period
                    total += math.exp(-(shifted * shifted) / (2 * sigma * sigma))
                value = total / (sigma * SQRT_2PI)
            kernels[j, length - 1 + d] = value
            kernels[j, length - 1 - d] = value
    return kernels


@numba.njit(cache=True, error_model="numpy")
def _local_costs(y_hist, widths, kernels):
    """Step 6: (M', L) ``c_j = yh_j^2 - 2 yh_j y + 2 / (sqrt(2 pi) W_j) y``, ``yh_j = smooth(y, W_j)``.

    M' = M rounded up to even: the extra row, if any, is zeros (see :func:`_window_costs`).
    """
    n_widths = widths.shape[0]
    length = y_hist.shape[0]
    smoothed = np.zeros((n_widths, length))
    for source in range(length):
        count = y_hist[source]
        if count != 0:
            offset = length - 1 - source
            for j in range(n_widths):
                row = smoothed[j]
                kernel = kernels[j, offset : offset + length]
                for k in range(length):
                    row[k] += count * kernel[k]
    costs = np.zeros((n_widths + n_widths % 2, length))
    for j in range(n_widths):
        for k in range(length):
            yh = smoothed[j, k]
            costs[j, k] = yh * yh - 2 * yh * y_hist[k] + 2 / SQRT_2PI / widths[j] * y_hist[k]
    return costs


@numba.njit(cache=True, error_model="numpy")
def _window_costs(costs, kernels, window, out):
    """Step 7 for one window: ``out[j] = smooth(c_j, W_window)`` for every row of ``costs``.

    Two rows at a time share each load of the kernel, which measured about twice the speed of one
    row at a time (the loop is bound by loads and stores, not by products).
    """
    n_rows, length = costs.shape
    out[:] = 0.0
    for source in range(length):
        kernel = kernels[window, length - 1 - source : 2 * length - 1 - source]
        for j in range(0, n_rows, 2):
            first = costs[j, source]
            second = costs[j + 1, source]
            first_row = out[j]
            second_row = out[j + 1]
            for k in range(length):
                weight = kernel[k]
                first_row[k] += first * weight
                second_row[k] += second * weight


@numba.njit(cache=True, error_model="numpy")
def _local_optimal_widths(y_hist, widths, kernels):
    """Steps 5-7 for one unit: (M, L) ``optws[i, k]``, the first ``W_j`` minimising ``smooth(c_j, W_i)(k)``.

    Args (numpy float64): ``y_hist`` (L,) histogram over ``dt``; ``widths`` (M,) candidate widths;
    ``kernels`` (M, 2L - 1) their smoothing kernels (:func:`_periodic_kernels`).
    """
    n_widths = widths.shape[0]
    length = y_hist.shape[0]
    costs = _local_costs(y_hist, widths, kernels)
    optws = np.empty((n_widths, length))
    window_cost = np.empty(costs.shape)
    for window in range(n_widths):
        _window_costs(costs, kernels, window, window_cost)
        for k in range(length):
            best = 0
            for j in range(1, n_widths):
                if window_cost[j, k] < window_cost[best, k]:
                    best = j
            optws[window, k] = widths[best]
    return optws


@numba.njit(cache=True, error_model="numpy")
def _bandwidth_classes(ratios, highest, lowest, widths, g, optwv, klass):
    """``optwv`` at stiffness ``g`` and its width class: the last ``i`` with ``optws_i / W_i >= g``
    (class ``i``), or below / above every ratio (classes M and M + 1). ``ratios`` is (L, M)."""
    length, n_widths = ratios.shape
    for k in range(length):
        if g > highest[k]:
            optwv[k] = widths.min()
            klass[k] = n_widths
        elif g < lowest[k]:
            optwv[k] = widths.max()
            klass[k] = n_widths + 1
        else:
            last = n_widths - 1
            while not ratios[k, last] >= g:
                last -= 1
            optwv[k] = g * widths[last]
            klass[k] = last


@numba.njit(cache=True, error_model="numpy")
def _kernel_suffix_sums(dt, width, row):
    """``row[m] = sum_{d >= m} G(d dt; width)`` for ``m = 0..L`` (``row`` has L + 1 entries).

    The Gaussian at lag ``d`` comes from the balloon estimate's product recurrence, restarted
    exactly every ``BLOCK`` lags (two exps per block instead of one per lag); once a restart
    underflows, the rest of the table is zero. Summed from the far tail inwards.
    """
    length = row.shape[0] - 1
    beta = dt * dt / (2 * width * width)
    scale = 1 / (SQRT_2PI * width)
    growth = math.exp(-2 * beta)
    row[length] = 0.0
    for start in range(0, length, BLOCK):
        value = math.exp(-(start * start) * beta)
        if value == 0.0:
            row[start:length] = 0.0
            break
        step = math.exp(-(2 * start + 1) * beta)
        for d in range(start, min(start + BLOCK, length)):
            row[d] = value * scale
            value *= step
            step *= growth
    for d in range(length - 1, -1, -1):
        row[d] += row[d + 1]


@numba.njit(cache=True, error_model="numpy")
def _add_run(row, first, last, weight, num, den):
    """Add the sources ``first..last`` (one width class, its suffix sums ``row``, its width ``weight``)
    to every grid point."""
    length = num.shape[0]
    for k in range(first):
        total = row[first - k] - row[last - k + 1]
        den[k] += total
        num[k] += weight * total
    for k in range(first, last + 1):
        total = (row[0] - row[k - first + 1]) + (row[1] - row[last - k + 1])
        den[k] += total
        num[k] += weight * total
    for k in range(last + 1, length):
        total = row[k - last] - row[k - first + 1]
        den[k] += total
        num[k] += weight * total


@numba.njit(cache=True, error_model="numpy")
def _nadaraya_watson(dt, widths, g, optwv, klass, fixed, suffix, num, den, optwp):
    """``fixed``: (M, L + 1) suffix sums of the widths ``W_i`` (the same for every g and every unit on
    this grid); ``suffix``: (2, L + 1) those of ``min(W) / g`` and ``max(W) / g``, built only where a
    grid point's width class needs them."""
    n_widths = widths.shape[0]
    length = optwv.shape[0]
    below = above = False
    for k in range(length):
        below = below or klass[k] == n_widths
        above = above or klass[k] == n_widths + 1
    if below:
        _kernel_suffix_sums(dt, widths.min() / g, suffix[0])
    if above:
        _kernel_suffix_sums(dt, widths.max() / g, suffix[1])
    num[:] = 0.0
    den[:] = 0.0
    # Sources of one class share one kernel width and one optwv: a run of them adds, at every grid
    # point, a difference of two suffix sums of that width's kernel.
    first = 0
    while first < length:
        last = first
        while last + 1 < length and klass[last + 1] == klass[first]:
            last += 1
        c = klass[first]
        row = fixed[c] if c < n_widths else suffix[c - n_widths]
        _add_run(row, first, last, optwv[first], num, den)
        first = last + 1
    for k in range(length):
        optwp[k] = num[k] / den[k]


@numba.njit(cache=True, error_model="numpy")
def _balloon(dt, padded, optwp, scratch, yv):
    """``padded``: the (3L,) masses with L zeros on each side, so that the sources at ``k - d`` and
    ``k + d`` are two shifted views and each lag is one branch-free pass that the compiler
    vectorises. ``scratch``: (8, L) work rows."""
    length = yv.shape[0]
    factor, step, growth = scratch[0], scratch[1], scratch[2]
    block_factor, block_factor_step, block_factor_growth = scratch[3], scratch[4], scratch[5]
    block_step, block_step_growth = scratch[6], scratch[7]
    widest = 0
    for k in range(length):
        block_factor[k] = 1.0
        yv[k] = padded[length + k]
        if k > 0 and optwp[k] == optwp[k - 1]:
            # The same bandwidth as its neighbour (whole runs share one): the same five exps.
            growth[k] = growth[k - 1]
            block_factor_step[k] = block_factor_step[k - 1]
            block_factor_growth[k] = block_factor_growth[k - 1]
            block_step[k] = block_step[k - 1]
            block_step_growth[k] = block_step_growth[k - 1]
        else:
            beta = dt**2 / (2 * optwp[k] ** 2)
            growth[k] = math.exp(-2 * beta)
            block_factor_step[k] = math.exp(-(BLOCK**2) * beta)
            block_factor_growth[k] = math.exp(-2 * BLOCK**2 * beta)
            block_step[k] = math.exp(-beta)
            block_step_growth[k] = math.exp(-2 * BLOCK * beta)
        if optwp[k] > optwp[widest]:
            widest = k
    for d in range(1, length):
        left = padded[length - d : 2 * length - d]
        right = padded[length + d : 2 * length + d]
        if d % BLOCK == 1 or BLOCK == 1:
            # Entering a block at lag BLOCK*a + 1: restart the inner recurrence from the outer one.
            for k in range(length):
                factor[k] = block_factor[k] * block_step[k]
                step[k] = block_step[k] * growth[k]
                block_factor[k] *= block_factor_step[k]
                block_factor_step[k] *= block_factor_growth[k]
                block_step[k] *= block_step_growth[k]
            if factor[widest] < NEGLIGIBLE:
                break
            for k in range(length):
                term = factor[k]
                yv[k] = yv[k] + term * left[k] + term * right[k]
        else:
            if factor[widest] * step[widest] < NEGLIGIBLE:
                break
            for k in range(length):
                term = factor[k] * step[k]
                factor[k] = term
                step[k] *= growth[k]
                yv[k] = yv[k] + term * left[k] + term * right[k]
    for k in range(length):
        yv[k] /= SQRT_2PI * optwp[k]


@numba.njit(cache=True, error_model="numpy")
def _cost(
    y_hist, ratios, highest, lowest, widths, dt, g, optwv, klass, fixed, suffix, padded, n_total, scratch, optwp, yv
):
    length = y_hist.shape[0]
    _bandwidth_classes(ratios, highest, lowest, widths, g, optwv, klass)
    _nadaraya_watson(dt, widths, g, optwv, klass, fixed, suffix, scratch[8], scratch[9], optwp)
    _balloon(dt, padded, optwp, scratch, yv)
    total = 0.0
    for k in range(length):
        total += yv[k] * dt
    cost = 0.0
    for k in range(length):
        yv[k] = yv[k] * n_total / total
        cost += dt * (yv[k] ** 2 - 2 * yv[k] * y_hist[k] + 2 / SQRT_2PI / optwp[k] * y_hist[k])
    return cost


@numba.njit(cache=True, error_model="numpy")
def _search_unit(y_hist, optws, widths, dt, fixed, yopt, optw_out):
    length = y_hist.shape[0]
    n_widths = widths.shape[0]
    # (L, M): a grid point's ratios are contiguous; their extremes do not change with g.
    ratios = np.empty((length, n_widths))
    for i in range(n_widths):
        for k in range(length):
            ratios[k, i] = optws[i, k] / widths[i]
    highest = np.empty(length)
    lowest = np.empty(length)
    for k in range(length):
        highest[k] = ratios[k].max()
        lowest[k] = ratios[k].min()
    optwv = np.empty(length)
    klass = np.empty(length, dtype=np.int64)
    # The suffix sums of min(W) / g and max(W) / g change with g; those of the W_i are ``fixed``.
    suffix = np.empty((2, length + 1))
    optwp = np.empty(length)
    yv = np.empty(length)
    # The masses do not change with the stiffness: laid out once for every balloon estimate.
    padded = np.zeros(3 * length)
    padded[length : 2 * length] = y_hist * dt
    n_total = padded[length : 2 * length].sum()
    scratch = np.empty((10, length))
    a, b = SEARCH_START, 1.0
    c1 = (GOLDEN - 1) * a + (2 - GOLDEN) * b
    c2 = (2 - GOLDEN) * a + (GOLDEN - 1) * b
    work = (optwv, klass, fixed, suffix, padded, n_total, scratch, optwp, yv)
    f1 = _cost(y_hist, ratios, highest, lowest, widths, dt, c1, *work)
    f2 = _cost(y_hist, ratios, highest, lowest, widths, dt, c2, *work)
    k = 1
    while abs(b - a) > TOLERANCE * (abs(c1) + abs(c2)) and k < MAX_ITERATIONS:
        lower = f2 - f1 > TIE_TOLERANCE * max(abs(f1), abs(f2))
        if lower:
            b = c2
            c2 = c1
            c1 = (GOLDEN - 1) * a + (2 - GOLDEN) * b
            f2 = f1
        else:
            a = c1
            c1 = c2
            c2 = (2 - GOLDEN) * a + (GOLDEN - 1) * b
            f1 = f2
        cost = _cost(y_hist, ratios, highest, lowest, widths, dt, c1 if lower else c2, *work)
        if lower:
            f1 = cost
        else:
            f2 = cost
        k += 1
    total = 0.0
    for i in range(length):
        total += yv[i] * dt
    for i in range(length):
        yopt[i] = yv[i] / total
        optw_out[i] = optwp[i]


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _grid_tables(widths, n_fft, dt, lengths, kernel_start, suffix_start):
    """Per working grid (a length L, its step and candidate widths): the M smoothing kernels
    (:func:`_periodic_kernels`, M x (2L - 1) from ``kernel_start``) and the M suffix-sum rows of the
    widths ``W_i`` (:func:`_kernel_suffix_sums`, M x (L + 1) from ``suffix_start``), flat."""
    n_grids, n_widths = widths.shape
    kernels = np.zeros(kernel_start[n_grids])
    suffix = np.zeros(suffix_start[n_grids])
    for c in numba.prange(n_grids):
        n = lengths[c]
        if n >= 2:
            grid_kernels = kernels[kernel_start[c] : kernel_start[c + 1]].reshape((n_widths, 2 * n - 1))
            grid_kernels[:] = _periodic_kernels(widths[c], n_fft[c], dt[c], n)
            rows = suffix[suffix_start[c] : suffix_start[c + 1]].reshape((n_widths, n + 1))
            for i in range(n_widths):
                _kernel_suffix_sums(dt[c], widths[c, i], rows[i])
    return kernels, suffix


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _fused_search_cpu(y_hist, lengths, grid, widths, dt, kernels, kernel_start, suffix, suffix_start):
    """Steps 5-9 of every unit, one unit per thread. ``y_hist`` (K, G) and ``lengths`` (K,) as in
    ``PaddedUnits``; unit u lies on working grid ``grid[u]``, whose widths and step are ``widths``
    and ``dt`` at that row and whose tables are those of :func:`_grid_tables`."""
    batch, padded = y_hist.shape
    n_widths = widths.shape[1]
    yopt = np.full((batch, padded), np.nan)
    optwp = np.full((batch, padded), np.nan)
    for u in numba.prange(batch):
        n = lengths[u]
        if n >= 2:
            c = grid[u]
            grid_kernels = kernels[kernel_start[c] : kernel_start[c + 1]].reshape((n_widths, 2 * n - 1))
            fixed = suffix[suffix_start[c] : suffix_start[c + 1]].reshape((n_widths, n + 1))
            optws = _local_optimal_widths(y_hist[u, :n], widths[c], grid_kernels)
            _search_unit(y_hist[u, :n], optws, widths[c], dt[c], fixed, yopt[u, :n], optwp[u, :n])
    return yopt, optwp


def _say_if_compiling() -> None:
    """numba compiles the kernel at its first use after installation (about 15-20 s on a 2-core CPU;
    later processes load it from disk in about a second): say so, since nothing else moves meanwhile."""
    if _fused_search_cpu.signatures:
        return
    cache_file = getattr(getattr(_fused_search_cpu, "_cache", None), "_cache_file", None)
    index = getattr(cache_file, "_index_path", None)
    if index is None or not os.path.exists(index):
        LOGGER.info("compiling the CPU density estimate (once; about 20 s, cached on disk after)")


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, which): the index of one row of each distinct bit pattern, and for every row which
    of those it equals. Rows compare byte for byte, so only identical values share a result."""
    rows = np.ascontiguousarray(rows)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).reshape(-1)
    _, first, which = np.unique(keys, return_index=True, return_inverse=True)
    return first, which.reshape(-1).astype(np.int64)


def search(units: PaddedUnits) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 5-9 for every unit of CPU :class:`PaddedUnits`; returns (K, G) ``yopt`` and ``optwp``.

    Entries after a unit's length, and the rows of failed units (length 0), are NaN. Leaves torch's
    thread count as it found it: numba's OpenMP runtime is the one torch uses, and starting numba's
    thread pool sets the process's OpenMP thread count to numba's (one per core), which silently
    undid a user's ``torch.set_num_threads(1)`` (and torchrun's ``OMP_NUM_THREADS=1``) for every
    later model call, and with it the float32 rounding of the activations (by ~1e-5), enough to
    move a unit between peak groups.
    """
    _say_if_compiling()
    lengths = units.lengths.numpy().astype(np.int64)
    dt, widths, y_hist, n_fft = units.dt.numpy(), units.widths.numpy(), units.y_hist.numpy(), fft_lengths(units).numpy()
    # Units with equal histograms on equal working grids have equal results: each is computed once.
    first, twin = _distinct_rows(np.column_stack([lengths, dt, widths, y_hist]))
    # Working grids (length, step, widths, FFT lengths): their kernels and tables are computed once.
    grid_first, grid_of = _distinct_rows(np.column_stack([lengths, dt, widths, n_fft])[first])
    grid_units = first[grid_first]
    grid_lengths = lengths[grid_units]
    n_widths = widths.shape[1]
    kernel_start = np.concatenate([[0], np.cumsum(n_widths * np.maximum(2 * grid_lengths - 1, 0))])
    suffix_start = np.concatenate([[0], np.cumsum(n_widths * (grid_lengths + 1))])
    grid_widths, grid_dt = np.ascontiguousarray(widths[grid_units]), dt[grid_units]
    threads = torch.get_num_threads()
    try:
        kernels, suffix = _grid_tables(
            grid_widths,
            n_fft[grid_units],
            grid_dt,
            grid_lengths,
            kernel_start,
            suffix_start,
        )
        yopt, optwp = _fused_search_cpu(
            np.ascontiguousarray(y_hist[first]),
            lengths[first],
            grid_of,
            grid_widths,
            grid_dt,
            kernels,
            kernel_start,
            suffix,
            suffix_start,
        )
    finally:
        torch.set_num_threads(threads)
    return torch.from_numpy(yopt[twin]), torch.from_numpy(optwp[twin])
