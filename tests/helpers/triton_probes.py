"""Small Triton kernels that run one step of the fused kernel alone, for tests under the interpreter."""

import triton
import triton.language as tl

from captum_advise.density.backends.triton_no_spill import ROW_CHUNK, _smoothing_kernels


@triton.jit
def smoothing_kernels_probe(widths_ptr, n_fft_ptr, dt_ptr, constants_ptr, out_ptr, n_widths, block: tl.constexpr):
    """Rows 0..n_widths-1 of ``out`` (block wide): the fused kernel's smoothing kernels at lags 0..block-1."""
    offs = tl.arange(0, block)
    sqrt_2pi = tl.load(constants_ptr + 2)
    two_pi = tl.load(constants_ptr + 7)
    dt = tl.load(dt_ptr)
    _smoothing_kernels(out_ptr, widths_ptr, n_fft_ptr, dt, n_widths, sqrt_2pi, two_pi, offs, block, ROW_CHUNK)
