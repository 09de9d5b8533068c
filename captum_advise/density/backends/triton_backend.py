"""The fused Triton backend of the density estimate: the launcher of steps 5-9 (spec §2) on a GPU.

One launch for every unit of a batch, whatever its working-grid length, and no host
synchronisation. Two kernels do the work: ``"v1"`` (:mod:`captum_advise.density.backends.triton_v1`,
the default, checked against the golden cases on an H200) and ``"no-spill"``
(:mod:`captum_advise.density.backends.triton_no_spill`, experimental: the same computation
rearranged so that no registers spill; checked under the interpreter only so far). Under
``TRITON_INTERPRET=1`` both run on a CPU (slowly), which is how the tests check them without a GPU.
"""

from __future__ import annotations

import functools
import importlib
import math

import torch

from captum_advise.density.constants import GOLDEN, NEGLIGIBLE, SEARCH_START, SQRT_2PI, TIE_TOLERANCE, TOLERANCE
from captum_advise.density.padded_units import PaddedUnits, fft_lengths

__all__ = ["KERNELS", "constants", "search"]

# The kernels by name, and the module of each.
KERNELS = {"v1": "triton_v1", "no-spill": "triton_no_spill"}
# Read by the kernels from memory, so that no float64 constant is ever rounded through float32:
# golden-section weights, sqrt(2 pi), the search interval's start, tolerance, tie tolerance,
# negligible balloon term, 2 pi (the last is read by the no-spill kernel only).
CONSTANTS = (GOLDEN - 1, 2 - GOLDEN, SQRT_2PI, SEARCH_START, TOLERANCE, TIE_TOLERANCE, NEGLIGIBLE, 2 * math.pi)
# Measured on an H200 (docs/results/speed-gpu.md): more programs than this only wait on each other.
PROGRAMS_PER_SM = 16
# Under the interpreter: few programs, so that each runs several units as on a GPU.
INTERPRETER_PROGRAMS = 3


def _next_power_of_two(value: int) -> int:
    return 1 << max(0, (value - 1).bit_length())


def _program_count(n_units: int, device: torch.device) -> int:
    if device.type != "cuda":
        return max(1, min(n_units, INTERPRETER_PROGRAMS))
    return max(1, min(n_units, torch.cuda.get_device_properties(device).multi_processor_count * PROGRAMS_PER_SM))


@functools.cache
def constants(device: torch.device) -> torch.Tensor:
    """:data:`CONSTANTS` as a float64 tensor on ``device``, the kernels' ``constants_ptr``."""
    # Cached: copying them to the GPU on every call would wait for its queue.
    return torch.tensor(CONSTANTS, dtype=torch.float64, device=device)


def search(units: PaddedUnits, kernel: str = "v1") -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 5-9 for every unit of :class:`PaddedUnits`; returns (K, G) ``yopt`` and ``optwp``.

    ``kernel`` is a key of :data:`KERNELS`. Entries after a unit's length, and the rows of failed
    units (length 0), are NaN.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {tuple(KERNELS)}, got {kernel!r}")
    module = importlib.import_module(f"captum_advise.density.backends.{KERNELS[kernel]}")
    n_units, n_grid = units.y_hist.shape
    n_widths = units.widths.shape[1]
    device = units.y_hist.device
    n_fft = fft_lengths(units)
    block = _next_power_of_two(max(n_grid, 16))
    rows, table_rows = _next_power_of_two(max(n_widths, 2)), _next_power_of_two(n_widths + 2)
    programs = _program_count(n_units, device)
    scratch = torch.zeros(programs, 3 * rows + table_rows + 2, block, dtype=torch.float64, device=device)
    yopt = torch.full((n_units, n_grid), math.nan, dtype=torch.float64, device=device)
    optwp = torch.full_like(yopt, math.nan)
    if n_units:
        module.search_kernel[(programs,)](
            units.y_hist,
            units.points,
            units.widths.contiguous(),
            n_fft.contiguous(),
            units.dt,
            units.lengths,
            constants(device),
            yopt,
            optwp,
            scratch,
            n_units,
            n_grid,
            n_widths,
            m_block=rows,
            t_block=table_rows,
            block=block,
            num_warps=module.warps(block),
            **module.EXTRA_ARGUMENTS,
        )
    return yopt, optwp
