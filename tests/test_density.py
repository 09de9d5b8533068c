"""Invariants, edge cases and bad input of the estimator and the peak counter."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from reference_ssvkernel import ssvkernel
from scipy.signal import find_peaks

from captum_advise.density import KDEResult, adaptive_kde, count_peaks


@pytest.fixture(scope="module")
def real_units(golden_mobilenet) -> torch.Tensor:
    """60 real MobileNetV2 units (7x7), with working grids of many different lengths."""
    rows = [c["x"] for c in golden_mobilenet if len(c["x"]) == 49][:60]
    return torch.tensor(rows, dtype=torch.float64)


def test_batched_equals_one_unit_at_a_time(real_units):
    batched = adaptive_kde(real_units)
    for row in range(0, real_units.shape[0], 3):
        alone = adaptive_kde(real_units[row : row + 1])
        assert bool(alone.valid[0]) == bool(batched.valid[row])
        torch.testing.assert_close(alone.density[0], batched.density[row], rtol=0, atol=1e-12, equal_nan=True)
        torch.testing.assert_close(alone.bandwidth[0], batched.bandwidth[row], rtol=0, atol=1e-12, equal_nan=True)


def test_repeated_units_and_shared_working_grids_change_no_bit(real_units):
    """The CPU search computes a histogram seen twice once and each working grid's tables once: every
    unit's result is still, to the bit, what it gets alone."""
    repeated = torch.cat([real_units, real_units[::4], torch.zeros(3, 49), real_units[:2]])
    batched = adaptive_kde(repeated, backend="numba")
    for row in range(repeated.shape[0]):
        alone = adaptive_kde(repeated[row : row + 1], backend="numba")
        assert torch.equal(alone.valid[0], batched.valid[row])
        assert torch.equal(alone.density[0].nan_to_num(-1.0), batched.density[row].nan_to_num(-1.0)), row
        assert torch.equal(alone.bandwidth[0].nan_to_num(-1.0), batched.bandwidth[row].nan_to_num(-1.0)), row


def test_order_of_units_does_not_matter(real_units):
    order = torch.randperm(real_units.shape[0], generator=torch.Generator().manual_seed(0))
    straight = adaptive_kde(real_units)
    shuffled = adaptive_kde(real_units[order])
    torch.testing.assert_close(shuffled.density, straight.density[order], rtol=0, atol=1e-12, equal_nan=True)
    assert torch.equal(shuffled.valid, straight.valid[order])


def test_matches_line_by_line_port_on_fresh_inputs():
    rng = np.random.default_rng(7)
    units = [
        rng.beta(2, 5, 49),
        np.maximum(rng.normal(0.2, 0.3, 49), 0),
        np.concatenate([rng.normal(0.25, 0.03, 30), rng.normal(0.7, 0.05, 19)]),
        rng.uniform(-1, 2, 49),
        np.round(rng.uniform(0, 1, 49) * 6) / 6 + 1e-3,
    ]
    result = adaptive_kde(torch.tensor(np.stack(units)))
    for row, unit in enumerate(units):
        reference = ssvkernel(unit, np.linspace(0, 1, 49))
        assert reference is not None
        np.testing.assert_allclose(result.density[row].numpy(), reference[0], rtol=0, atol=1e-9 * reference[0].max())
        assert int(count_peaks(result.density[row : row + 1])[0]) == len(find_peaks(reference[0])[0])


@pytest.mark.parametrize("search", ["numba", "tensor"])
def test_mass_beyond_the_grid_gives_the_references_nan_density_not_an_error(search):
    # Two values just below 1, all others above it (a noisy MobileNetV2 unit): every kernel's mass
    # falls past the grid's end and the reference normalises 0 by 0. MATLAB gives NaN; so must we.
    unit = np.array([0.9922, 0.99265] + [2.0] * 47)
    result = adaptive_kde(torch.tensor(unit[None]), backend="torch" if search == "tensor" else "numba")
    with np.errstate(invalid="ignore"):
        reference = ssvkernel(unit, np.linspace(0, 1, 49))
    assert bool(result.valid[0]) and np.isnan(reference[0]).all() and torch.isnan(result.density).all()
    np.testing.assert_allclose(result.bandwidth[0].numpy(), reference[1], rtol=1e-9)
    assert count_peaks(result.density).tolist() == [0]


def test_dead_unit_is_valid_and_has_no_peak():
    result = adaptive_kde(torch.zeros(1, 49))
    assert bool(result.valid[0])
    assert bool((result.density[0].diff() <= 0).all())
    assert int(count_peaks(result.density)[0]) == 0


def test_fewer_than_two_values_in_range_is_invalid():
    samples = torch.tensor([[-1.0] * 48 + [0.5], [2.0] * 49, [0.3, 0.6] + [5.0] * 47])
    result = adaptive_kde(samples)
    assert result.valid.tolist() == [False, False, True]
    assert torch.isnan(result.density[:2]).all() and torch.isnan(result.bandwidth[:2]).all()
    assert count_peaks(result.density).tolist()[:2] == [0, 0]


def test_unit_range_scales_each_unit_first():
    rng = np.random.default_rng(3)
    raw = torch.tensor(rng.uniform(3.0, 9.0, (4, 49)))
    scaled = (raw - raw.min(1, keepdim=True).values) / (
        raw.max(1, keepdim=True).values - raw.min(1, keepdim=True).values
    )
    torch.testing.assert_close(adaptive_kde(raw, value_range="unit").density, adaptive_kde(scaled).density)
    assert not adaptive_kde(raw).valid.any()


def test_unit_range_maps_a_constant_unit_to_a_dead_unit():
    constant = adaptive_kde(torch.full((1, 49), 3.0), value_range="unit")
    dead = adaptive_kde(torch.zeros(1, 49))
    torch.testing.assert_close(constant.density, dead.density)


def test_float64_result_from_float32_input_on_the_inputs_device():
    result = adaptive_kde(torch.rand(3, 49, dtype=torch.float32))
    assert result.density.dtype == torch.float64 and result.density.device == torch.device("cpu")
    assert isinstance(result, KDEResult) and result.density.shape == (3, 49) and result.valid.shape == (3,)


def test_custom_grid_sets_the_output_length():
    result = adaptive_kde(torch.rand(2, 49, generator=torch.Generator().manual_seed(1)), grid=torch.linspace(0, 1, 30))
    assert result.density.shape == (2, 30)
    torch.testing.assert_close(
        (result.density * (1 / 29)).sum(1), torch.ones(2, dtype=torch.float64), atol=0.05, rtol=0
    )


def test_no_units_gives_empty_result():
    result = adaptive_kde(torch.zeros(0, 49))
    assert result.density.shape == (0, 49) and result.valid.shape == (0,)
    assert count_peaks(result.density).shape == (0,)


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (torch.tensor([[0.1, float("nan"), 0.3, 0.4]]), "NaN or Inf"),
        (torch.tensor([[0.1, float("inf"), 0.3, 0.4]]), "NaN or Inf"),
        (torch.rand(2, 2), "n >= 3"),
        (torch.rand(49), r"shape \(K, n\)"),
        (torch.rand(2, 7, 7), r"shape \(K, n\)"),
    ],
)
def test_bad_samples_raise_a_clear_error(samples, message):
    with pytest.raises(ValueError, match=message):
        adaptive_kde(samples)


def test_bad_options_raise_a_clear_error():
    with pytest.raises(ValueError, match="evenly spaced"):
        adaptive_kde(torch.rand(1, 5), grid=torch.tensor([0.0, 0.1, 0.5, 0.6, 1.0]))
    with pytest.raises(ValueError, match="value_range"):
        adaptive_kde(torch.rand(1, 5), value_range="minmax")
    with pytest.raises(ValueError, match="n_bandwidths"):
        adaptive_kde(torch.rand(1, 5), n_bandwidths=1)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        adaptive_kde(np.zeros((1, 5)))


def test_count_peaks_hand_examples():
    rows = torch.tensor(
        [
            [0.0, 1.0, 1.0, 0.0, 2.0, 0.0],  # a plateau peak and a sharp one
            [0.0, 1.0, 2.0, 3.0, 3.0, 3.0],  # rising to the end: the last sample is never a peak
            [3.0, 3.0, 2.0, 1.0, 2.0, 1.0],  # a plateau at the start is no peak
            [0.0, 1.0, 1.0, 2.0, 1.0, 1.0],  # a shoulder, then one peak
        ]
    )
    assert count_peaks(rows).tolist() == [2, 0, 1, 1]
    assert count_peaks(torch.tensor([[0.0, float("nan"), 1.0, 0.0]])).tolist() == [0]


def test_count_peaks_equals_scipy_find_peaks():
    rng = np.random.default_rng(11)
    rows = np.round(rng.normal(size=(200, 40)), 1)  # rounding makes plateaus common
    expected = [len(find_peaks(row)[0]) for row in rows]
    assert count_peaks(torch.tensor(rows)).tolist() == expected


def test_the_cpu_estimate_leaves_torchs_thread_count_as_it_found_it():
    """numba's OpenMP pool is torch's runtime too: starting it once set torch to one thread per core.

    A fresh process, because the pool starts only once per process.
    """
    import subprocess
    import sys

    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from captum_advise.attr import unit_relevance\n"
        "unit_relevance(torch.rand(1, 8, 7, 7)); print(torch.get_num_threads())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "1"


def test_periodic_kernels_equal_the_references_fft_smoothing_kernels():
    """Steps 5-7 on the CPU use Poisson's sum of Gaussians for the FFT kernel ifft(exp(-(2 pi sigma f)^2 / 2))."""
    from helpers.fft_kernels import assert_kernel_equals_fft, reference_kernel_cases

    from captum_advise.density.backends.numba_backend import _periodic_kernels

    for length, dt, widths, n_fft, matrices, lag in reference_kernel_cases():
        kernels = _periodic_kernels(widths.numpy(), n_fft.numpy(), dt, length)
        for j in range(len(widths)):
            assert_kernel_equals_fft(kernels[j, length - 1 + lag.numpy()], matrices[j].numpy())


def test_kernel_suffix_sums_equal_direct_sums_of_exps():
    from captum_advise.density.backends.numba_backend import _kernel_suffix_sums
    from captum_advise.density.constants import SQRT_2PI

    dt = 1.0 / 195
    for width in (5 * dt, 0.03, 0.4, 40.0, 1e-4):  # the last underflows after a few lags
        lags = np.arange(196) * dt
        terms = np.exp(-(lags**2) / 2 / width**2) / (SQRT_2PI * width)
        expected = np.append(np.cumsum(terms[::-1])[::-1], 0.0)
        row = np.empty(197)
        _kernel_suffix_sums(dt, width, row)
        # Far in the tail (terms near exp(-400)) either exp's argument carries ~|x| eps of rounding.
        np.testing.assert_allclose(row, expected, rtol=1e-12, atol=1e-15 * expected[0])


def test_the_command_line_says_when_the_cpu_kernel_is_compiled(tmp_path):
    """The first use after installation compiles for ~20 s with nothing else moving: one line says so."""
    import subprocess
    import sys

    code = (
        "from captum_advise.cli.main import show_library_messages\n"
        "from captum_advise.density.backends.numba_backend import _say_if_compiling\n"
        "show_library_messages(); _say_if_compiling()"
    )
    empty_cache = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=empty_cache)
    notice = "captum-advise: compiling the CPU density estimate (once; about 20 s, cached on disk after)\n"
    assert result.stderr == notice


def test_the_compilation_notice_goes_above_a_progress_bar_not_into_its_line(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tqdm import tqdm\n"
        "from captum_advise.cli.main import show_library_messages\n"
        "from captum_advise.density.backends.numba_backend import _say_if_compiling\n"
        "show_library_messages()\n"
        "bar = tqdm(total=2, desc='explain', file=sys.stderr, ascii=True)\n"
        "_say_if_compiling(); bar.update(2); bar.close()"
    )
    empty_cache = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=empty_cache)
    lines = result.stderr.replace("\r", "\n").splitlines()
    assert "captum-advise: compiling the CPU density estimate (once; about 20 s, cached on disk after)" in lines


def test_a_backend_is_named_by_the_backend_argument_alone():
    samples = torch.rand(3, 49, dtype=torch.float64)
    with pytest.raises(
        ValueError, match=r"backend must be one of \('auto', 'triton', 'triton-no-spill', 'numba', 'torch'\)"
    ):
        adaptive_kde(samples, backend="triton-v2")
    if os.environ.get("TRITON_INTERPRET") != "1":
        with pytest.raises(ValueError, match=r"backend='triton-no-spill' needs samples on a CUDA device"):
            adaptive_kde(samples, backend="triton-no-spill")


def test_the_tensor_and_compiled_backends_agree_on_the_same_padded_units(real_units):
    from captum_advise.density.backends import numba_backend, torch_backend
    from captum_advise.density.padded_units import pad_units
    from captum_advise.matlab import linspace

    grid = linspace(0.0, 1.0, real_units.shape[1], device=torch.device("cpu"))
    units = pad_units(real_units, grid, grid, 10)
    compiled, tensor = numba_backend.search(units), torch_backend.search(units)
    # The compiled balloon sum stops at terms of 1e-18: densities agree to that, not relatively.
    for left, right in zip(compiled, tensor, strict=True):
        torch.testing.assert_close(left, right, rtol=1e-10, atol=1e-15, equal_nan=True)
