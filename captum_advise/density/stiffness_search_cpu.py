"""Steps 8-9 of the estimator (spec §2) as a compiled CPU kernel, one unit per thread.

Same search and same arithmetic as :mod:`captum_advise.density.stiffness_search`, organised so that
the O(L^2) sums of each cost evaluation need almost no ``exp``:

* Nadaraya-Watson: the kernel width at a grid point ``j`` is ``optwv(j) / g``, which is one of the
  candidate widths ``W_i`` or ``min(W) / g`` or ``max(W) / g``: M + 2 widths, each tabulated once
  per lag (``L`` exps each) instead of once per pair (``L^2`` exps). Sources of one width class
  share their ``optwv`` too, and they come in runs along the grid: a run's contribution at every
  grid point is a difference of two suffix sums of its width's table (summed from the far tail in,
  so a difference keeps the precision of a direct sum), O(runs x L) instead of O(L^2).
* Balloon estimate: on a uniform grid ``exp(-(d dt)^2 / (2 p^2)) = q^(d^2)``, advanced from lag
  ``d`` to ``d + 1`` by two products; it is recomputed exactly every ``BLOCK`` lags so that the
  rounding of the products never grows past a few units in the last place.
* Terms that underflow to exactly zero at every grid point are the end of the sum: it stops there.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from captum_advise.density.stiffness_search import SearchProblem

GOLDEN = (math.sqrt(5) + 1) / 2
SQRT_2PI = math.sqrt(2.0 * math.pi)
BLOCK = 16
# exp(-41.4): a balloon term this small changes no density by more than 1e-17 of its maximum.
NEGLIGIBLE = 1e-18


@numba.njit(cache=True, error_model="numpy")
def _bandwidth_classes(ratios, widths, g, optwv, klass):
    n_widths, length = ratios.shape
    for k in range(length):
        highest = -math.inf
        lowest = math.inf
        last = -1
        for i in range(n_widths):
            r = ratios[i, k]
            highest = max(highest, r)
            lowest = min(lowest, r)
            if r >= g:
                last = i
        if g > highest:
            optwv[k] = widths.min()
            klass[k] = n_widths
        elif g < lowest:
            optwv[k] = widths.max()
            klass[k] = n_widths + 1
        else:
            optwv[k] = g * widths[last]
            klass[k] = last


@numba.njit(cache=True, error_model="numpy")
def _gauss_column(sq_lag, width, column):
    for d in range(sq_lag.shape[0]):
        column[d] = math.exp(-sq_lag[d] / 2 / width**2) / (SQRT_2PI * width)


@numba.njit(cache=True, error_model="numpy")
def _suffix_sums(table, column, suffix):
    """``suffix[column, m] = sum_{d >= m} table[d, column]``, summed from the far tail inwards."""
    length = table.shape[0]
    suffix[column, length] = 0.0
    for d in range(length - 1, -1, -1):
        suffix[column, d] = suffix[column, d + 1] + table[d, column]


@numba.njit(cache=True, error_model="numpy")
def _add_run(suffix, c, first, last, weight, num, den):
    """Add the sources ``first..last`` (one class ``c``, one width ``weight``) to every grid point."""
    length = num.shape[0]
    row = suffix[c]
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
def _nadaraya_watson(sq_lag, widths, g, optwv, klass, table, suffix, optwp):
    n_widths = widths.shape[0]
    length = optwv.shape[0]
    _gauss_column(sq_lag, widths.min() / g, table[:, n_widths])
    _gauss_column(sq_lag, widths.max() / g, table[:, n_widths + 1])
    _suffix_sums(table, n_widths, suffix)
    _suffix_sums(table, n_widths + 1, suffix)
    num = np.zeros(length)
    den = np.zeros(length)
    # Sources of one class share one kernel width and one optwv: a run of them adds, at every grid
    # point, a difference of two suffix sums of that width's kernel.
    first = 0
    while first < length:
        last = first
        while last + 1 < length and klass[last + 1] == klass[first]:
            last += 1
        _add_run(suffix, klass[first], first, last, optwv[first], num, den)
        first = last + 1
    for k in range(length):
        optwp[k] = num[k] / den[k]


@numba.njit(cache=True, error_model="numpy")
def _balloon(dt, mass, optwp, yv):
    length = mass.shape[0]
    factor = np.empty(length)
    step = np.empty(length)
    growth = np.empty(length)
    block_factor = np.empty(length)
    block_factor_step = np.empty(length)
    block_factor_growth = np.empty(length)
    block_step = np.empty(length)
    block_step_growth = np.empty(length)
    for k in range(length):
        beta = dt**2 / (2 * optwp[k] ** 2)
        growth[k] = math.exp(-2 * beta)
        block_factor[k] = 1.0
        block_factor_step[k] = math.exp(-(BLOCK**2) * beta)
        block_factor_growth[k] = math.exp(-2 * BLOCK**2 * beta)
        block_step[k] = math.exp(-beta)
        block_step_growth[k] = math.exp(-2 * BLOCK * beta)
        yv[k] = mass[k]
    for d in range(1, length):
        if d % BLOCK == 1 or BLOCK == 1:
            # Entering a block at lag BLOCK*a + 1: restart the inner recurrence from the outer one.
            for k in range(length):
                factor[k] = block_factor[k] * block_step[k]
                step[k] = block_step[k] * growth[k]
                block_factor[k] *= block_factor_step[k]
                block_factor_step[k] *= block_factor_growth[k]
                block_step[k] *= block_step_growth[k]
        else:
            for k in range(length):
                factor[k] *= step[k]
                step[k] *= growth[k]
        if factor.max() < NEGLIGIBLE:
            break
        for k in range(d, length):
            yv[k] += factor[k] * mass[k - d]
        for k in range(length - d):
            yv[k] += factor[k] * mass[k + d]
    for k in range(length):
        yv[k] /= SQRT_2PI * optwp[k]


@numba.njit(cache=True, error_model="numpy")
def _cost(y_hist, ratios, widths, dt, sq_lag, g, optwv, klass, table, suffix, optwp, yv):
    length = y_hist.shape[0]
    _bandwidth_classes(ratios, widths, g, optwv, klass)
    _nadaraya_watson(sq_lag, widths, g, optwv, klass, table, suffix, optwp)
    mass = y_hist * dt
    _balloon(dt, mass, optwp, yv)
    total = 0.0
    for k in range(length):
        total += yv[k] * dt
    n_total = mass.sum()
    cost = 0.0
    for k in range(length):
        yv[k] = yv[k] * n_total / total
        cost += dt * (yv[k] ** 2 - 2 * yv[k] * y_hist[k] + 2 / SQRT_2PI / optwp[k] * y_hist[k])
    return cost


@numba.njit(cache=True, error_model="numpy")
def _search_unit(y_hist, optws, widths, grid, dt, yopt, optw_out):
    length = y_hist.shape[0]
    n_widths = widths.shape[0]
    ratios = np.empty((n_widths, length))
    for i in range(n_widths):
        for k in range(length):
            ratios[i, k] = optws[i, k] / widths[i]
    sq_lag = (grid - grid[0]) ** 2
    optwv = np.empty(length)
    klass = np.empty(length, dtype=np.int64)
    # Columns 0..M-1 (widths W_i, whatever g) are fixed for the unit; M and M+1 change with g.
    table = np.empty((length, n_widths + 2))
    suffix = np.empty((n_widths + 2, length + 1))
    for i in range(n_widths):
        _gauss_column(sq_lag, widths[i], table[:, i])
        _suffix_sums(table, i, suffix)
    optwp = np.empty(length)
    yv = np.empty(length)
    a, b = 1e-12, 1.0
    c1 = (GOLDEN - 1) * a + (2 - GOLDEN) * b
    c2 = (2 - GOLDEN) * a + (GOLDEN - 1) * b
    f1 = _cost(y_hist, ratios, widths, dt, sq_lag, c1, optwv, klass, table, suffix, optwp, yv)
    f2 = _cost(y_hist, ratios, widths, dt, sq_lag, c2, optwv, klass, table, suffix, optwp, yv)
    k = 1
    while abs(b - a) > 1e-5 * (abs(c1) + abs(c2)) and k < 30:
        if f2 - f1 > 1e-12 * max(abs(f1), abs(f2)):
            b = c2
            c2 = c1
            c1 = (GOLDEN - 1) * a + (2 - GOLDEN) * b
            f2 = f1
            f1 = _cost(y_hist, ratios, widths, dt, sq_lag, c1, optwv, klass, table, suffix, optwp, yv)
        else:
            a = c1
            c1 = c2
            c2 = (2 - GOLDEN) * a + (GOLDEN - 1) * b
            f1 = f2
            f2 = _cost(y_hist, ratios, widths, dt, sq_lag, c2, optwv, klass, table, suffix, optwp, yv)
        k += 1
    total = 0.0
    for i in range(length):
        total += yv[i] * dt
    for i in range(length):
        yopt[i] = yv[i] / total
        optw_out[i] = optwp[i]


@numba.njit(parallel=True, cache=True, error_model="numpy")
def golden_section_search_cpu(y_hist, optws, widths, grid, dt, lengths):
    """Numpy arrays as in ``SearchProblem`` (``lengths`` (B,) instead of a mask); returns ``(yopt, optwp)``."""
    batch, padded = y_hist.shape
    yopt = np.zeros((batch, padded))
    optwp = np.zeros((batch, padded))
    for u in numba.prange(batch):
        n = lengths[u]
        _search_unit(y_hist[u, :n], optws[u, :, :n], widths[u], grid[u, :n], dt[u], yopt[u, :n], optwp[u, :n])
    return yopt, optwp


def golden_section_search_numba(problem: SearchProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~captum_advise.density.stiffness_search.golden_section_search` for CPU tensors.

    Leaves torch's thread count as it found it: numba's OpenMP runtime is the one torch uses, and
    starting numba's thread pool sets the process's OpenMP thread count to numba's (one per core),
    which silently undid a user's ``torch.set_num_threads(1)`` (and torchrun's
    ``OMP_NUM_THREADS=1``) for every later model call, and with it the float32 rounding of the
    activations (by ~1e-5), enough to move a unit between peak groups.
    """
    threads = torch.get_num_threads()
    try:
        yopt, optwp = golden_section_search_cpu(
            problem.y_hist.numpy(),
            problem.optws.numpy(),
            problem.widths.numpy(),
            problem.grid.numpy(),
            problem.dt.numpy(),
            problem.inside.sum(dim=1).numpy(),
        )
    finally:
        torch.set_num_threads(threads)
    return torch.from_numpy(yopt), torch.from_numpy(optwp)
