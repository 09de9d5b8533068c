"""``python -m captum_advise``: the adaptive density estimate on three embedded example units."""

from __future__ import annotations

import time

import torch

from captum_advise.density import adaptive_kde, count_peaks


def example_units() -> dict[str, torch.Tensor]:
    """Three 14 x 14 'units' with one, two and three modes (fixed seed)."""
    generator = torch.Generator().manual_seed(0)

    def modes(*centres: float) -> torch.Tensor:
        values = torch.cat([c + 0.04 * torch.randn(196 // len(centres) + 1, generator=generator) for c in centres])
        return values[:196]

    return {"one mode": modes(0.4), "two modes": modes(0.25, 0.7), "three modes": modes(0.15, 0.5, 0.85)}


def main() -> None:
    units = example_units()
    start = time.perf_counter()
    result = adaptive_kde(torch.stack(list(units.values())))
    seconds = time.perf_counter() - start
    for name, peaks in zip(units, count_peaks(result.density).tolist(), strict=True):
        print(f"{name:>12}: {peaks} peak(s) in its adaptive density")
    print(f"{len(units)} units of 196 values in {seconds:.2f} s (first call includes compiling the CPU kernel)")


if __name__ == "__main__":
    main()
