"""Steps 5-7 of the estimator (spec §2) for one unit, compiled for the CPU.

The same quantities as :mod:`captum_advise.density.local_bandwidths`, computed per unit the way the
fused Triton kernel (:mod:`captum_advise.density.fused_kernel`) computes them, so that every unit
of a call runs in one compiled loop whatever its working-grid length:

* The reference's FFT smoothing is a circular convolution with ``ifft(exp(-(2 pi sigma f)^2 / 2))``,
  which by Poisson's summation formula is the Gaussian of width ``sigma`` summed over the period
  ``n_fft``, up to the spectrum beyond the FFT's highest frequency, ``exp(-pi^2 sigma^2 / 2)``;
  images ``|p| <= 3`` suffice (``n_fft >= L + 3 sigma`` puts the fourth beyond ``exp(-72)``).
  ``sigma = W / dt >= min(5, L - 1)``, so that left-out spectrum is below 1e-16 except for widths
  under 3 grid steps, which only working grids of 2 or 3 points have (there it reaches 7e-3 of
  the kernel); those few kernels are summed as the reference's inverse FFT itself.
* Smoothing a histogram visits only its non-empty bins.
* The window costs (M^2 L^2 products, most of this step's time) are accumulated source by source
  into contiguous rows, two rows per kernel load, which the compiler turns into vector
  instructions.
"""

from __future__ import annotations

import math

import numba
import numpy as np

SQRT_2PI = math.sqrt(2.0 * math.pi)
POISSON_IMAGES = 3
# Below this width in grid steps, Poisson's sum misses more than 1e-16 of the kernel (see above).
POISSON_MIN_SIGMA = 3.0


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
def local_optimal_widths_unit(y_hist, widths, n_fft, dt):
    """Steps 5-7 for one unit: (M, L) ``optws[i, k]``, the first ``W_j`` minimising ``smooth(c_j, W_i)(k)``.

    Args (numpy float64): ``y_hist`` (L,) histogram over ``dt``; ``widths`` (M,) candidate widths;
    ``n_fft`` (M,) the reference's FFT length for each width; ``dt`` the grid step.
    """
    n_widths = widths.shape[0]
    length = y_hist.shape[0]
    kernels = _periodic_kernels(widths, n_fft, dt, length)
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
