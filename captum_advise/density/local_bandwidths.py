"""Steps 4-7 of the estimator (spec §2): candidate windows and the locally optimal bandwidths.

Every unit that shares a working-grid length ``L`` shares its grid step, its candidate widths and
therefore its smoothing kernels, so the units are processed in groups of equal ``L`` and the
``M x M`` smoothings of each group become one matrix product.
"""

from __future__ import annotations

import math

import torch

SQRT_2PI = math.sqrt(2.0 * math.pi)


def matlab_linspace(start: float, stop: float, num: int, *, device: torch.device) -> torch.Tensor:
    """MATLAB's ``linspace``: ``start + (0:num-1) * step`` with the last point set to ``stop``.

    Its rounding differs from ``torch.linspace`` in the last bit, and the histogram's bin edges are
    built from these points, so the reference's formula is reproduced.
    """
    if num == 1:
        return torch.tensor([stop], dtype=torch.float64, device=device)
    points = start + torch.arange(num, dtype=torch.float64, device=device) * ((stop - start) / (num - 1))
    points[-1] = stop
    return points


def candidate_widths(dt: float, span: float, n_bandwidths: int, *, device: torch.device) -> torch.Tensor:
    """``W_j = logexp(linspace(ilogexp(5 dt), ilogexp(T), M))`` (step 4), as the reference writes it."""

    def logexp(u: torch.Tensor) -> torch.Tensor:
        return torch.where(u < 100, torch.log(1 + torch.exp(u.clamp(max=100))), u)

    def ilogexp(u: float) -> float:
        return math.log(math.exp(u) - 1) if u < 100 else u

    return logexp(matlab_linspace(ilogexp(5 * dt), ilogexp(span), n_bandwidths, device=device))


def fft_lengths(widths: torch.Tensor, dt: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(K, M) FFT length ``2^ceil(log2(L + 3 sigma))`` of the reference's smoothing (step 5), ``sigma = W / dt``.

    Args:
        widths: (K, M) candidate widths of each unit.
        dt: (K,) grid steps.
        lengths: (K,) working-grid lengths ``L``.
    """
    sigma = widths / dt[:, None]
    return torch.exp2(torch.ceil(torch.log2(lengths[:, None].to(torch.float64) + 3 * sigma)))


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
