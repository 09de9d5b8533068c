"""A literal, one-unit-at-a-time port of the authors' estimator (spec §2), used as a test oracle.

It follows the MATLAB loops line by line, in numpy and float64, so that the batched estimator in
``captum_advise.density`` can be checked on inputs that the golden files do not cover.
"""

from __future__ import annotations

import numpy as np


def _logexp(u: np.ndarray) -> np.ndarray:
    return np.where(u < 100, np.log1p(np.exp(np.minimum(u, 100))), u)


def _ilogexp(u: np.ndarray) -> np.ndarray:
    return np.where(u < 100, np.log(np.expm1(np.minimum(u, 100))), u)


def _fftkernel(y: np.ndarray, sigma: float) -> np.ndarray:
    length = len(y)
    n_fft = int(2 ** np.ceil(np.log2(length + 3 * sigma)))
    f = np.abs(np.fft.fftfreq(n_fft))
    spectrum = np.fft.fft(y, n_fft) * np.exp(-0.5 * (sigma * 2 * np.pi * f) ** 2)
    return np.real(np.fft.ifft(spectrum))[:length]


def _gauss(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.exp(-(u**2) / 2 / w**2) / (np.sqrt(2 * np.pi) * w)


def _histc(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.zeros(len(edges))
    for v in x:
        if v == edges[-1]:
            counts[-1] += 1
        elif edges[0] <= v < edges[-1]:
            counts[np.searchsorted(edges, v, side="right") - 1] += 1
    return counts


def _cost(y_hist, n_total, t, dt, optws, win, g):
    length = len(y_hist)
    optwv = np.zeros(length)
    for k in range(length):
        ratios = optws[:, k] / win
        if g > ratios.max():
            optwv[k] = win.min()
        elif g < ratios.min():
            optwv[k] = win.max()
        else:
            optwv[k] = g * win[np.nonzero(ratios >= g)[0][-1]]
    optwp = np.array(
        [np.sum(optwv * _gauss(t[k] - t, optwv / g)) / np.sum(_gauss(t[k] - t, optwv / g)) for k in range(length)]
    )
    nz = np.nonzero(y_hist)[0]
    yv = np.array([np.sum(y_hist[nz] * dt * _gauss(t[k] - t[nz], optwp[k])) for k in range(length)])
    yv = yv * n_total / np.sum(yv * dt)
    cost = np.sum(dt * (yv**2 - 2 * yv * y_hist + 2 / np.sqrt(2 * np.pi) / optwp * y_hist))
    return cost, yv, optwp


def _first_is_lower(f1: float, f2: float) -> bool:
    return f2 - f1 > 1e-12 * max(abs(f1), abs(f2))


def ssvkernel(x: np.ndarray, tin: np.ndarray, n_bandwidths: int = 10):
    """Return ``(y, optw)`` on ``tin``, or ``None`` where the reference's estimate is empty."""
    x = np.asarray(x, dtype=np.float64)
    tin = np.asarray(tin, dtype=np.float64)
    span = tin.max() - tin.min()
    x_ab = x[(x >= tin.min()) & (x <= tin.max())]
    if len(x_ab) < 2:
        return None
    gaps = np.diff(np.sort(x_ab))
    gaps = gaps[gaps != 0]
    if len(gaps) and gaps.min() > np.diff(tin).min():
        t = np.linspace(tin.min(), tin.max(), int(min(np.ceil(span / gaps.min()), 1000)))
    else:
        t = tin
    dt = np.diff(t).min()
    y_hist = _histc(x_ab, t - dt / 2) / dt
    n_total = np.sum(y_hist * dt)
    win = _logexp(np.linspace(_ilogexp(5 * dt), _ilogexp(span), n_bandwidths))
    local = np.stack(
        [(yh := _fftkernel(y_hist, w / dt)) ** 2 - 2 * yh * y_hist + 2 / np.sqrt(2 * np.pi) / w * y_hist for w in win]
    )
    optws = np.stack([win[np.argmin(np.stack([_fftkernel(c, w_i / dt) for c in local]), axis=0)] for w_i in win])
    phi = (np.sqrt(5) + 1) / 2
    a, b = 1e-12, 1.0
    c1 = (phi - 1) * a + (2 - phi) * b
    c2 = (2 - phi) * a + (phi - 1) * b
    f1 = _cost(y_hist, n_total, t, dt, optws, win, c1)[0]
    f2 = _cost(y_hist, n_total, t, dt, optws, win, c2)[0]
    k = 1
    while abs(b - a) > 1e-5 * (abs(c1) + abs(c2)) and k < 30:
        if _first_is_lower(f1, f2):
            b, c2 = c2, c1
            c1 = (phi - 1) * a + (2 - phi) * b
            f2 = f1
            f1, yv, optwp = _cost(y_hist, n_total, t, dt, optws, win, c1)
        else:
            a, c1 = c1, c2
            c2 = (2 - phi) * a + (phi - 1) * b
            f1 = f2
            f2, yv, optwp = _cost(y_hist, n_total, t, dt, optws, win, c2)
        k += 1
    yopt = yv / np.sum(yv * dt)
    return np.interp(tin, t, yopt), np.interp(tin, t, optwp)
