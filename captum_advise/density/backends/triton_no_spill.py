"""Steps 5-9 as one Triton kernel, second version: no register spills (**experimental**).

The same computation as :mod:`captum_advise.density.backends.triton_v1` (one program per unit, every
unit of a batch in one launch, float64, the CPU kernel's organisation), rearranged so that Triton's
``ptxas`` for sm_90 spills no registers (the first version spilled 3.5 KB per thread at 196 grid
points; ``tests/test_fused_kernel_compiles.py``):

* Steps 5-7 run over the candidate widths two at a time ((2, G) tiles, two rows sharing each load
  of a kernel row); the window costs' argmin is a running (best cost, first index) pair that only
  a strictly lower chunk replaces, which keeps the reference's first minimum.
* The search holds no (M, G) tile: each cost evaluation finds its width class by M row loads.
* The golden-section search evaluates its two first points inside its loop, so that the cost (and
  the balloon sum in it) is compiled once.
* The FFT smoothing kernel is Poisson's sum of Gaussians as in the first version, up to the
  spectrum beyond the FFT's highest frequency, ``exp(-pi^2 sigma^2 / 2)``: below 1e-16 except for
  widths under 3 grid steps, which only working grids of 2 or 3 points have; those kernels are
  summed as the inverse FFT itself, as on the CPU (:mod:`captum_advise.density.backends.numba_backend`).
* Balloon estimate: stopped at the first lag where the widest bandwidth's term (the largest of the
  lag) is negligible, found by the same recurrence on one scalar before the sum, so that the sum's
  loop has no reduction across the program (the CPU rule).

It has passed the golden cases under ``TRITON_INTERPRET=1`` but has not yet run on a GPU, where
only the CUDA golden test can check it (the interpreter does not see GPU concurrency). Hence it is
chosen only by ``adaptive_kde(..., backend="triton-no-spill")``. The parts it has in common with
the first version (the Gaussian, the Nadaraya-Watson step and normalisation in ``_cost``, the
kernel's prologue) are copied, not shared, so that the default kernel stays exactly the code that
passed the CUDA golden test; one of the two kernels goes once this one has run on a GPU.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["EXTRA_ARGUMENTS", "ROW_CHUNK", "search_kernel", "warps"]

# Below this width in grid steps, Poisson's sum misses more than 1e-16 of the kernel (see above).
POISSON_MIN_SIGMA = tl.constexpr(3.0)
# Candidate widths per pass of steps 5-7: two rows share each load of a kernel row, and (2, G) tiles
# fit in registers where the (M, G) tiles of the first version spilled (ptxas for sm_90:
# tests/test_fused_kernel_compiles.py; docs/results/speed-gpu.md).
ROW_CHUNK = 2
# Warps per program for grids of up to 64, 256, 512 and 1024 points: the fewest that compile without
# spilling registers to local memory (2 warps measured faster than 4 and 8 on an H200 at 196 points).
WARPS = (2, 2, 4, 8)
# Compile-time arguments beyond the launcher's common ones.
EXTRA_ARGUMENTS = {"chunk": ROW_CHUNK}


@triton.jit
def _gauss(sq_distance, width, sqrt_2pi):
    return tl.exp(-sq_distance / 2 / (width * width)) / (sqrt_2pi * width)


@triton.jit
def _smoothing_kernels(
    ker_ptr, widths_ptr, n_fft_ptr, dt, n_widths, sqrt_2pi, two_pi, offs, block: tl.constexpr, chunk: tl.constexpr
):
    """Row j of ``ker``: the periodic Gaussian of width ``W_j / dt`` (grid units) at lags 0..block-1."""
    lag = offs.to(tl.float64)[None, :]
    for first in range(0, n_widths, chunk):
        rows = first + tl.arange(0, chunk)
        real = rows < n_widths
        sigma = (tl.load(widths_ptr + rows, mask=real, other=dt * POISSON_MIN_SIGMA) / dt)[:, None]
        period = tl.load(n_fft_ptr + rows, mask=real, other=1.0)[:, None]
        total = tl.zeros_like(sigma * lag)
        for p in tl.static_range(-3, 4):
            shifted = lag + p * period
            total += tl.exp(-(shifted * shifted) / (2 * sigma * sigma))
        tile = rows[:, None] * block + offs[None, :]
        tl.store(ker_ptr + tile, total / (sigma * sqrt_2pi), mask=real[:, None])
        narrow = (sigma < POISSON_MIN_SIGMA) & real[:, None]
        n_terms = tl.max(tl.max(tl.where(narrow, period, 0.0), axis=1), axis=0).to(tl.int32)
        if n_terms > 0:
            # The inverse FFT's sum, term by term, for the few narrow kernels (2 or 3 points: n_fft <= 16).
            spectral = tl.zeros_like(total)
            for k in range(0, n_terms):
                index = tl.zeros_like(period) + k
                frequency = tl.minimum(index, period - index) / period
                arc = sigma * two_pi * frequency
                term = tl.exp(-(arc * arc) / 2) * tl.cos(two_pi * ((index * lag) % period) / period)
                spectral += tl.where(index < period, term, 0.0)
            tl.debug_barrier()
            tl.store(ker_ptr + tile, spectral / period, mask=narrow & (lag >= 0))


@triton.jit
def _local_costs(
    y_ptr, ker_ptr, cost_ptr, widths_ptr, y, length, n_widths, sqrt_2pi, offs, block: tl.constexpr, chunk: tl.constexpr
):
    """Step 6: row j of ``cost``, ``c_j = yh_j^2 - 2 yh_j y + 2 / (sqrt(2 pi) W_j) y``, ``yh_j = smooth(y, W_j)``."""
    for first in range(0, n_widths, chunk):
        rows = first + tl.arange(0, chunk)
        real = rows < n_widths
        smoothed = tl.zeros((chunk, block), dtype=tl.float64)
        for source in range(0, length):
            count = tl.load(y_ptr + source)
            # A histogram is mostly empty bins: they add nothing.
            if count != 0:
                lag = tl.abs(offs - source)
                smoothed += count * tl.load(ker_ptr + rows[:, None] * block + lag[None, :], mask=real[:, None])
        widths = tl.load(widths_ptr + rows, mask=real, other=1.0)
        costs = smoothed * smoothed - 2 * smoothed * y[None, :] + (2 / sqrt_2pi / widths)[:, None] * y[None, :]
        tl.store(cost_ptr + rows[:, None] * block + offs[None, :], costs, mask=real[:, None])


@triton.jit
def _window_ratios(
    ratio_ptr, cost_ptr, ker_ptr, widths_ptr, length, n_widths, offs, block: tl.constexpr, chunk: tl.constexpr
):
    """Step 7: row i of ``ratio`` = optws_i / W_i, optws_i(k) the first W_j minimising smooth(c_j, W_i)(k).

    The candidates j go by chunks of rows, each chunk's best replacing the best so far only when
    strictly lower, which keeps the first minimum as one argmin over all rows would.
    """
    for window in range(0, n_widths):
        best_cost = tl.full((block,), float("inf"), tl.float64)
        best = tl.zeros((block,), dtype=tl.int32)
        for first in range(0, n_widths, chunk):
            rows = first + tl.arange(0, chunk)
            real = rows < n_widths
            window_cost = tl.zeros((chunk, block), dtype=tl.float64)
            for source in range(0, length):
                costs = tl.load(cost_ptr + rows * block + source, mask=real, other=0.0)
                kernel = tl.load(ker_ptr + window * block + tl.abs(offs - source))
                window_cost += costs[:, None] * kernel[None, :]
            window_cost = tl.where(real[:, None], window_cost, float("inf"))
            chunk_cost = tl.min(window_cost, axis=0)
            better = chunk_cost < best_cost
            best = tl.where(better, first + tl.argmin(window_cost, axis=0, tie_break_left=True), best)
            best_cost = tl.where(better, chunk_cost, best_cost)
        tl.store(ratio_ptr + window * block + offs, tl.load(widths_ptr + best) / tl.load(widths_ptr + window))


@triton.jit
def _first_step(beta):
    """The recurrence's state before lag 1 for ``exp(-d^2 beta)``: (factor, step, growth, block
    factor, its step, that step's growth, block step, its growth); scalars or vectors alike."""
    # It restarts from an outer recurrence every 16 lags (the anchor): 16^2 = 256.
    zero = tl.zeros_like(beta)
    return (
        zero,
        zero,
        tl.exp(-2 * beta),
        zero + 1,
        tl.exp(-256 * beta),
        tl.exp(-512 * beta),
        tl.exp(-beta),
        tl.exp(-32 * beta),
    )


@triton.jit
def _next_lag(
    lag, factor, step, growth, block_factor, block_factor_step, block_factor_growth, block_step, block_growth
):
    """Advance the recurrence to ``lag``: ``factor`` becomes ``exp(-lag^2 beta)``."""
    anchor = (lag % 16) == 1
    factor = tl.where(anchor, block_factor * block_step, factor * step)
    step = tl.where(anchor, block_step * growth, step * growth)
    block_factor = tl.where(anchor, block_factor * block_factor_step, block_factor)
    block_factor_step = tl.where(anchor, block_factor_step * block_factor_growth, block_factor_step)
    block_step = tl.where(anchor, block_step * block_growth, block_step)
    return factor, step, growth, block_factor, block_factor_step, block_factor_growth, block_step, block_growth


@triton.jit
def _last_lag(optwp, dt, length, inside, negligible):
    """The first lag whose term for the widest bandwidth is negligible (or ``length``)."""
    widest = tl.max(tl.where(inside, optwp, 0.0), axis=0)
    state = _first_step(dt * dt / (2 * widest * widest))
    lag = 1
    going = length > 1
    while going:
        state = _next_lag(lag, *state)
        going = state[0] >= negligible
        lag = tl.where(going, lag + 1, lag)
        going = going & (lag < length)
    return lag


@triton.jit
def _balloon(y_ptr, optwp, dt, length, inside, negligible, offs):
    """Step 8's balloon estimate before its normalisation, with the product recurrence of the CPU kernel."""
    estimate = tl.load(y_ptr + offs, mask=inside, other=0.0) * dt
    state = _first_step(dt * dt / (2 * optwp * optwp))
    for lag in range(1, _last_lag(optwp, dt, length, inside, negligible)):
        state = _next_lag(lag, *state)
        left = tl.load(y_ptr + offs - lag, mask=inside & (offs >= lag), other=0.0) * dt
        right = tl.load(y_ptr + offs + lag, mask=offs + lag < length, other=0.0) * dt
        estimate += state[0] * left
        estimate += state[0] * right
    return estimate


@triton.jit
def _cost(
    g,
    ratio_ptr,
    highest,
    lowest,
    narrowest,
    widest,
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
    offs,
    block: tl.constexpr,
):
    """Cost(g) of step 8 with the estimate and local bandwidths it comes from."""
    inside = offs < length
    last = tl.full((block,), -1, dtype=tl.int32)
    for row in range(0, n_widths):
        last = tl.where(tl.load(ratio_ptr + row * block + offs) >= g, row, last)
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
    chunk: tl.constexpr,
):
    golden_low = tl.load(constants_ptr)
    golden_high = tl.load(constants_ptr + 1)
    sqrt_2pi = tl.load(constants_ptr + 2)
    start = tl.load(constants_ptr + 3)
    tolerance = tl.load(constants_ptr + 4)
    tie = tl.load(constants_ptr + 5)
    negligible = tl.load(constants_ptr + 6)
    two_pi = tl.load(constants_ptr + 7)
    pid = tl.program_id(0)
    offs = tl.arange(0, block)
    rows = tl.arange(0, m_block)
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
            tl.debug_barrier()
            _smoothing_kernels(
                ker_ptr,
                unit_widths_ptr,
                n_fft_ptr + unit * n_widths,
                dt,
                n_widths,
                sqrt_2pi,
                two_pi,
                offs,
                block,
                chunk,
            )
            tl.debug_barrier()
            _local_costs(y_ptr, ker_ptr, cost_ptr, unit_widths_ptr, y, length, n_widths, sqrt_2pi, offs, block, chunk)
            tl.debug_barrier()
            _window_ratios(ratio_ptr, cost_ptr, ker_ptr, unit_widths_ptr, length, n_widths, offs, block, chunk)
            points = tl.load(points_ptr + unit * n_grid + offs, mask=inside, other=0.0)
            first = tl.load(points_ptr + unit * n_grid)
            sq_lag = (points - first) * (points - first)
            for row in range(0, n_widths):
                tl.store(table_ptr + row * block + offs, _gauss(sq_lag, tl.load(unit_widths_ptr + row), sqrt_2pi))
            tl.debug_barrier()
            widths = tl.load(unit_widths_ptr + rows, mask=rows < n_widths, other=1.0)
            narrowest = tl.min(tl.where(rows < n_widths, widths, float("inf")), axis=0)
            widest = tl.max(tl.where(rows < n_widths, widths, -float("inf")), axis=0)
            highest = tl.full((block,), -float("inf"), dtype=tl.float64)
            lowest = tl.full((block,), float("inf"), dtype=tl.float64)
            for row in range(0, n_widths):
                ratio = tl.load(ratio_ptr + row * block + offs)
                highest = tl.maximum(highest, ratio)
                lowest = tl.minimum(lowest, ratio)
            # Golden-section search; evaluations 0 and 1 are the interval's two first points, so that
            # the cost is written (and inlined) once.
            low = dt * 0 + start
            high = dt * 0 + 1
            c1 = golden_low * low + golden_high * high
            c2 = golden_high * low + golden_low * high
            f1 = dt * 0
            f2 = dt * 0
            estimate = tl.zeros((block,), dtype=tl.float64)
            optwp = tl.zeros((block,), dtype=tl.float64)
            evaluation = length * 0
            going = length >= 2
            while going:
                searching = evaluation >= 2
                lower = (f2 - f1) > tie * tl.maximum(tl.abs(f1), tl.abs(f2))
                g = tl.where(lower, golden_low * low + golden_high * c2, golden_high * c1 + golden_low * high)
                g = tl.where(evaluation == 0, c1, tl.where(evaluation == 1, c2, g))
                cost, estimate, optwp = _cost(
                    g,
                    ratio_ptr,
                    highest,
                    lowest,
                    narrowest,
                    widest,
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
                    offs,
                    block,
                )
                low, high, c1, c2, f1, f2 = (
                    tl.where(searching, tl.where(lower, low, c1), low),
                    tl.where(searching, tl.where(lower, c2, high), high),
                    tl.where(searching, tl.where(lower, g, c2), c1),
                    tl.where(searching, tl.where(lower, c1, g), c2),
                    tl.where(searching, tl.where(lower, cost, f2), tl.where(evaluation == 0, cost, f1)),
                    tl.where(searching, tl.where(lower, f1, cost), tl.where(evaluation == 1, cost, f2)),
                )
                evaluation += 1
                # At most 29 evaluations after the first two, as the reference's loop (k < 30).
                going = (evaluation < 2) | (
                    (tl.abs(high - low) > tolerance * (tl.abs(c1) + tl.abs(c2))) & (evaluation - 1 < 30)
                )
            total = tl.sum(tl.where(inside, estimate * dt, 0.0), axis=0)
            tl.store(yopt_ptr + unit * n_grid + offs, estimate / total, mask=inside)
            tl.store(optwp_ptr + unit * n_grid + offs, optwp, mask=inside)


def warps(block: int) -> int:
    """Warps per program for a grid block of ``block`` points."""
    return WARPS[0] if block <= 64 else WARPS[1] if block <= 256 else WARPS[2] if block <= 512 else WARPS[3]
