"""Steps 5-9 of the estimator (spec §2) as one Triton kernel: a unit's whole search in one program.

Each program takes units ``pid, pid + P, ...`` and runs, for each, the smoothings and window costs
(steps 5-7), the golden-section search of the stiffness (steps 8-9) and the final normalisation,
without leaving the GPU: one launch for every unit of a batch whatever its working-grid length, no
host synchronisation (the launcher is :mod:`captum_advise.density.backends.triton_backend`).
Arithmetic in float64, with the CPU kernel's organisation
(:mod:`captum_advise.density.backends.numba_backend`):

* The FFT smoothing of step 5 is a circular convolution with the periodic kernel
  ``ifft(exp(-(2 pi sigma f)^2 / 2))``, which by Poisson's summation formula is the Gaussian of
  width ``sigma`` summed over the period ``n_fft``: ``sum_p G(m + p n_fft; sigma)``. Images
  ``|p| <= 3`` suffice (``n_fft >= L + 3 sigma`` puts the fourth beyond ``exp(-72)``), and the
  frequencies the FFT leaves out weigh ``exp(-2 pi^2 sigma^2 / 4) < exp(-123)`` since
  ``sigma >= 5``.
* Nadaraya-Watson: M + 2 distinct kernel widths, tabulated per lag.
* Balloon estimate: ``exp(-(d dt)^2 / (2 p^2))`` advanced lag by lag by products, restarted from
  an outer recurrence every 16 lags, stopped once every term underflows.

The kernel's scratch rows (per program) hold the tables that its threads gather from.
Under ``TRITON_INTERPRET=1`` the same kernel runs on a CPU (slowly), which is how CI tests it.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["EXTRA_ARGUMENTS", "search_kernel", "warps"]

# Warps per program for grids of up to 64, up to 256 and more points.
WARPS = (2, 2, 4)
# Compile-time arguments beyond the launcher's common ones: none.
EXTRA_ARGUMENTS: dict[str, int] = {}


@triton.jit
def _gauss(sq_distance, width, sqrt_2pi):
    return tl.exp(-sq_distance / 2 / (width * width)) / (sqrt_2pi * width)


@triton.jit
def _smoothing_kernels(ker_ptr, widths, n_fft, dt, sqrt_2pi, rows, offs, block: tl.constexpr):
    """Row j of ``ker``: the periodic Gaussian of width ``W_j / dt`` (grid units) at lags 0..block-1."""
    sigma = (widths / dt)[:, None]
    period = n_fft[:, None]
    lag = offs.to(tl.float64)[None, :]
    total = tl.zeros_like(sigma * lag)
    for p in tl.static_range(-3, 4):
        shifted = lag + p * period
        total += tl.exp(-(shifted * shifted) / (2 * sigma * sigma))
    tl.store(ker_ptr + rows[:, None] * block + offs[None, :], total / (sigma * sqrt_2pi))


@triton.jit
def _local_costs(y_ptr, ker_ptr, y, widths, length, sqrt_2pi, rows, offs, m_block: tl.constexpr, block: tl.constexpr):
    """Step 6: (m_block, block) ``c_j = yh_j^2 - 2 yh_j y + 2 / (sqrt(2 pi) W_j) y`` with ``yh_j = smooth(y, W_j)``."""
    smoothed = tl.zeros((m_block, block), dtype=tl.float64)
    for source in range(0, length):
        count = tl.load(y_ptr + source)
        # A histogram is mostly empty bins: they add nothing.
        if count != 0:
            lag = tl.abs(offs - source)
            smoothed += count * tl.load(ker_ptr + rows[:, None] * block + lag[None, :])
    return smoothed * smoothed - 2 * smoothed * y[None, :] + (2 / sqrt_2pi / widths)[:, None] * y[None, :]


@triton.jit
def _window_ratios(
    ratio_ptr,
    cost_ptr,
    ker_ptr,
    widths_ptr,
    widths,
    length,
    n_widths,
    rows,
    offs,
    m_block: tl.constexpr,
    block: tl.constexpr,
):
    """Step 7: row i of ``ratio`` = optws_i / W_i, optws_i(k) the first W_j minimising smooth(c_j, W_i)(k)."""
    for window in range(0, n_widths):
        window_cost = tl.zeros((m_block, block), dtype=tl.float64)
        for source in range(0, length):
            costs = tl.load(cost_ptr + rows * block + source)
            kernel = tl.load(ker_ptr + window * block + tl.abs(offs - source))
            window_cost += costs[:, None] * kernel[None, :]
        window_cost = tl.where(rows[:, None] < n_widths, window_cost, float("inf"))
        best = tl.argmin(window_cost, axis=0, tie_break_left=True)
        own_width = tl.sum(tl.where(rows == window, widths, 0.0), axis=0)
        tl.store(ratio_ptr + window * block + offs, tl.load(widths_ptr + best) / own_width)


@triton.jit
def _balloon(y_ptr, optwp, dt, length, inside, negligible, offs):
    """Step 8's balloon estimate before its normalisation, with the product recurrence of the CPU kernel."""
    beta = dt * dt / (2 * optwp * optwp)
    growth = tl.exp(-2 * beta)
    block_factor = tl.zeros_like(beta) + 1
    # The recurrence restarts from an outer one every 16 lags (the anchor): 16^2 = 256.
    block_factor_step = tl.exp(-256 * beta)
    block_factor_growth = tl.exp(-512 * beta)
    block_step = tl.exp(-beta)
    block_step_growth = tl.exp(-32 * beta)
    estimate = tl.load(y_ptr + offs, mask=inside, other=0.0) * dt
    factor = tl.zeros_like(beta)
    step = tl.zeros_like(beta)
    lag = 1
    going = length > 1
    while going:
        anchor = (lag % 16) == 1
        factor = tl.where(anchor, block_factor * block_step, factor * step)
        step = tl.where(anchor, block_step * growth, step * growth)
        block_factor = tl.where(anchor, block_factor * block_factor_step, block_factor)
        block_factor_step = tl.where(anchor, block_factor_step * block_factor_growth, block_factor_step)
        block_step = tl.where(anchor, block_step * block_step_growth, block_step)
        largest = tl.max(tl.where(inside, factor, 0.0), axis=0)
        if largest >= negligible:
            left = tl.load(y_ptr + offs - lag, mask=inside & (offs >= lag), other=0.0) * dt
            estimate += factor * left
            right = tl.load(y_ptr + offs + lag, mask=offs + lag < length, other=0.0) * dt
            estimate += factor * right
        lag += 1
        going = (lag < length) & (largest >= negligible)
    return estimate


@triton.jit
def _cost(
    g,
    ratios,
    widths,
    widths_ptr,
    y_ptr,
    y,
    sq_lag,
    table_ptr,
    source_ptr,
    dt,
    length,
    n_widths,
    sqrt_2pi,
    negligible,
    rows,
    offs,
    block: tl.constexpr,
):
    """Cost(g) of step 8 with the estimate and local bandwidths it comes from."""
    inside = offs < length
    real = rows[:, None] < n_widths
    reaches = (ratios >= g) & real
    last = tl.max(tl.where(reaches, rows[:, None], -1), axis=0)
    highest = tl.max(tl.where(real, ratios, -float("inf")), axis=0)
    lowest = tl.min(tl.where(real, ratios, float("inf")), axis=0)
    narrowest = tl.min(tl.where(rows < n_widths, widths, float("inf")), axis=0)
    widest = tl.max(tl.where(rows < n_widths, widths, -float("inf")), axis=0)
    last_width = tl.load(widths_ptr + tl.maximum(last, 0))
    optwv = tl.where(g > highest, narrowest, tl.where(g < lowest, widest, g * last_width))
    width_class = tl.where(g > highest, n_widths, tl.where(g < lowest, n_widths + 1, last))
    tl.debug_barrier()
    tl.store(table_ptr + n_widths * block + offs, _gauss(sq_lag, narrowest / g, sqrt_2pi))
    tl.store(table_ptr + (n_widths + 1) * block + offs, _gauss(sq_lag, widest / g, sqrt_2pi))
    tl.store(source_ptr + offs, optwv)
    tl.store(source_ptr + block + offs, width_class.to(tl.float64))
    tl.debug_barrier()
    numerator = tl.zeros_like(sq_lag)
    denominator = tl.zeros_like(sq_lag)
    for source in range(0, length):
        source_width = tl.load(source_ptr + source)
        source_class = tl.load(source_ptr + block + source).to(tl.int32)
        weight = tl.load(table_ptr + source_class * block + tl.abs(offs - source))
        denominator += weight
        numerator += source_width * weight
    optwp = tl.where(inside, numerator / denominator, 1.0)
    estimate = _balloon(y_ptr, optwp, dt, length, inside, negligible, offs) / (sqrt_2pi * optwp)
    mass = tl.sum(tl.where(inside, y * dt, 0.0), axis=0)
    estimate = estimate * mass / tl.sum(tl.where(inside, estimate * dt, 0.0), axis=0)
    local = estimate * estimate - 2 * estimate * y + 2 / sqrt_2pi / optwp * y
    return tl.sum(tl.where(inside, dt * local, 0.0), axis=0), estimate, optwp


@triton.jit
def search_kernel(
    y_hist_ptr,
    points_ptr,
    widths_ptr,
    n_fft_ptr,
    dt_ptr,
    lengths_ptr,
    constants_ptr,
    yopt_ptr,
    optwp_ptr,
    scratch_ptr,
    n_units,
    n_grid,
    n_widths,
    m_block: tl.constexpr,
    t_block: tl.constexpr,
    block: tl.constexpr,
):
    golden_low = tl.load(constants_ptr)
    golden_high = tl.load(constants_ptr + 1)
    sqrt_2pi = tl.load(constants_ptr + 2)
    start = tl.load(constants_ptr + 3)
    tolerance = tl.load(constants_ptr + 4)
    tie = tl.load(constants_ptr + 5)
    negligible = tl.load(constants_ptr + 6)
    pid = tl.program_id(0)
    offs = tl.arange(0, block)
    rows = tl.arange(0, m_block)
    table_rows = tl.arange(0, t_block)
    ker_ptr = scratch_ptr + pid * (3 * m_block + t_block + 2) * block
    cost_ptr = ker_ptr + m_block * block
    ratio_ptr = cost_ptr + m_block * block
    table_ptr = ratio_ptr + m_block * block
    source_ptr = table_ptr + t_block * block
    for unit in range(pid, n_units, tl.num_programs(0)):
        length = tl.load(lengths_ptr + unit)
        if length >= 2:
            inside = offs < length
            y_ptr = y_hist_ptr + unit * n_grid
            unit_widths_ptr = widths_ptr + unit * n_widths
            dt = tl.load(dt_ptr + unit)
            y = tl.load(y_ptr + offs, mask=inside, other=0.0)
            widths = tl.load(unit_widths_ptr + rows, mask=rows < n_widths, other=1.0)
            n_fft = tl.load(n_fft_ptr + unit * n_widths + rows, mask=rows < n_widths, other=1.0)
            tl.debug_barrier()
            _smoothing_kernels(ker_ptr, widths, n_fft, dt, sqrt_2pi, rows, offs, block)
            tl.debug_barrier()
            costs = _local_costs(y_ptr, ker_ptr, y, widths, length, sqrt_2pi, rows, offs, m_block, block)
            tl.store(cost_ptr + rows[:, None] * block + offs[None, :], costs)
            tl.debug_barrier()
            _window_ratios(
                ratio_ptr, cost_ptr, ker_ptr, unit_widths_ptr, widths, length, n_widths, rows, offs, m_block, block
            )
            points = tl.load(points_ptr + unit * n_grid + offs, mask=inside, other=0.0)
            first = tl.load(points_ptr + unit * n_grid)
            sq_lag = (points - first) * (points - first)
            table_widths = tl.load(unit_widths_ptr + table_rows, mask=table_rows < n_widths, other=1.0)
            tl.store(
                table_ptr + table_rows[:, None] * block + offs[None, :],
                _gauss(sq_lag[None, :], table_widths[:, None], sqrt_2pi),
                mask=(table_rows < n_widths)[:, None],
            )
            tl.debug_barrier()
            ratios = tl.load(ratio_ptr + rows[:, None] * block + offs[None, :])
            low = dt * 0 + start
            high = dt * 0 + 1
            c1 = golden_low * low + golden_high * high
            c2 = golden_high * low + golden_low * high
            f1, estimate, optwp = _cost(
                c1,
                ratios,
                widths,
                unit_widths_ptr,
                y_ptr,
                y,
                sq_lag,
                table_ptr,
                source_ptr,
                dt,
                length,
                n_widths,
                sqrt_2pi,
                negligible,
                rows,
                offs,
                block,
            )
            f2, estimate, optwp = _cost(
                c2,
                ratios,
                widths,
                unit_widths_ptr,
                y_ptr,
                y,
                sq_lag,
                table_ptr,
                source_ptr,
                dt,
                length,
                n_widths,
                sqrt_2pi,
                negligible,
                rows,
                offs,
                block,
            )
            iteration = 1
            while (tl.abs(high - low) > tolerance * (tl.abs(c1) + tl.abs(c2))) & (iteration < 30):
                lower = (f2 - f1) > tie * tl.maximum(tl.abs(f1), tl.abs(f2))
                g = tl.where(lower, golden_low * low + golden_high * c2, golden_high * c1 + golden_low * high)
                cost, estimate, optwp = _cost(
                    g,
                    ratios,
                    widths,
                    unit_widths_ptr,
                    y_ptr,
                    y,
                    sq_lag,
                    table_ptr,
                    source_ptr,
                    dt,
                    length,
                    n_widths,
                    sqrt_2pi,
                    negligible,
                    rows,
                    offs,
                    block,
                )
                low, high, c1, c2, f1, f2 = (
                    tl.where(lower, low, c1),
                    tl.where(lower, c2, high),
                    tl.where(lower, g, c2),
                    tl.where(lower, c1, g),
                    tl.where(lower, cost, f2),
                    tl.where(lower, f1, cost),
                )
                iteration += 1
            total = tl.sum(tl.where(inside, estimate * dt, 0.0), axis=0)
            tl.store(yopt_ptr + unit * n_grid + offs, estimate / total, mask=inside)
            tl.store(optwp_ptr + unit * n_grid + offs, optwp, mask=inside)


def warps(block: int) -> int:
    """Warps per program: enough threads for the (M, block) tiles, not so many that they idle."""
    return WARPS[0] if block <= 64 else WARPS[1] if block <= 256 else WARPS[2]
