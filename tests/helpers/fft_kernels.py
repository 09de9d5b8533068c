"""The reference's FFT smoothing kernels, for the tests of the fused kernels' own form of them."""

from collections.abc import Iterator

import numpy as np
import torch

from captum_advise.density.backends.torch_backend import fft_smoothing_matrices
from captum_advise.density.padded_units import PaddedUnits, candidate_widths, fft_lengths

# Grids of 2 and 3 points have widths under 3 grid steps, where Poisson's sum falls short.
LENGTHS = (2, 3, 4, 6, 9, 49, 196)
N_WIDTHS = 10


def reference_kernel_cases() -> Iterator[tuple[int, float, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per grid length: (L, dt, (M,) widths, (M,) n_fft, (M, L, L) FFT smoothing matrices, (L, L) signed lag)."""
    for length in LENGTHS:
        dt = 1.0 / (length - 1)
        widths = candidate_widths(torch.tensor([dt], dtype=torch.float64), 1.0, N_WIDTHS)[0]
        unit = PaddedUnits(
            torch.tensor([length]), torch.empty(1, 0), torch.tensor([dt]), widths[None], torch.empty(1, 0)
        )
        n_fft = fft_lengths(unit)[0]
        lag = torch.arange(length)[:, None] - torch.arange(length)[None, :]
        yield length, dt, widths, n_fft, fft_smoothing_matrices(widths, dt, length), lag


def assert_kernel_equals_fft(values: np.ndarray, matrix: np.ndarray) -> None:
    # 1e-14 of the peak: the FFT's own round-off (seen: 1.4e-15 at L = 2).
    np.testing.assert_allclose(values, matrix, rtol=0, atol=1e-14 * matrix.max())
