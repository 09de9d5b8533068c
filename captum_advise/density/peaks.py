"""Peak counting with MATLAB ``findpeaks`` defaults (spec §3), batched over rows."""

from __future__ import annotations

import torch

__all__ = ["count_peaks"]


def count_peaks(density: torch.Tensor) -> torch.Tensor:
    """Number of local maxima in each row, as MATLAB's ``findpeaks`` counts them.

    A peak is a sample, or a flat run of equal samples counted once, that is strictly greater than
    its neighbours on both sides; the first and last samples are never peaks. For a finite row this
    equals ``len(scipy.signal.find_peaks(row)[0])``.

    Args:
        density: (K, G) real tensor. A row with any NaN or Inf (as :func:`adaptive_kde` returns for
            a unit whose estimate failed) counts 0 peaks.

    Returns:
        (K,) ``torch.long`` peak counts, on the input's device.

    Example:
        >>> count_peaks(torch.tensor([[0.0, 1.0, 1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 2.0, 3.0, 3.0, 3.0]])).tolist()
        [2, 0]
    """
    if not isinstance(density, torch.Tensor) or density.dim() != 2:
        raise ValueError(f"density must be a (K, G) tensor, got {getattr(density, 'shape', type(density))}")
    if density.shape[1] < 3:
        return torch.zeros(density.shape[0], dtype=torch.long, device=density.device)
    slope = torch.sign(density.diff(dim=1))
    # The slope entering a flat run is the last non-zero slope before it: carry it forward.
    position = torch.arange(slope.shape[1], device=density.device).expand_as(slope)
    last_nonzero = torch.where(slope != 0, position, -1).cummax(dim=1).values
    carried = torch.where(last_nonzero >= 0, slope.gather(1, last_nonzero.clamp(min=0)), 0.0)
    falls_after_rise = (slope[:, 1:] < 0) & (carried[:, :-1] > 0)
    peaks = falls_after_rise.sum(dim=1)
    return torch.where(torch.isfinite(density).all(dim=1), peaks, 0)
