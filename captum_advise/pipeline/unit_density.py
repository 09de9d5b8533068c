"""One unit's values and adaptive density, for the unit sheet (paper Figure 2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import find_peaks
from torch import Tensor

from captum_advise.attr.layer_capture import forward_with_layer
from captum_advise.attr.token_layout import resolve_reshape_transform
from captum_advise.attr.unit_relevance import flatten_column_major
from captum_advise.data import ImageRecord
from captum_advise.density import adaptive_kde, count_peaks
from captum_advise.models import Geometry, LoadedModel

__all__ = ["UnitDensity", "unit_density"]


@dataclass
class UnitDensity:
    """A unit's activation map and the density ADVISE estimates from it.

    Attributes:
        unit: the unit's index in the layer.
        activations: (U, V) its activation map.
        grid: (n,) the evaluation grid linspace(0, 1, n).
        density: (n,) the adaptive density (NaN when the estimate fails).
        bandwidth: (n,) the local bandwidths.
        peak_positions: grid values where the density peaks.
        peaks: the peak count (the unit's relevance).
    """

    unit: int
    activations: np.ndarray
    grid: np.ndarray
    density: np.ndarray
    bandwidth: np.ndarray
    peak_positions: np.ndarray
    peaks: int


def unit_density(
    loaded: LoadedModel,
    record: ImageRecord,
    units: list[int],
    layer: str | None = None,
    value_range: str = "fixed",
    device: str | torch.device = "cpu",
    geometry: Geometry = "crop",
) -> list[UnitDensity]:
    """The activation maps and densities of some units of a layer for one image (``geometry`` as in explain_images)."""
    preprocessor = loaded.preset.preprocessor.with_geometry(geometry)
    inputs = preprocessor([record.load()]).to(device)
    with torch.no_grad():
        transform = resolve_reshape_transform(loaded.reshape_transform)
        activations: Tensor = forward_with_layer(
            loaded.model, loaded.layer(layer), (inputs,), (), False, "logit", reshape_transform=transform
        ).activations[0]
    if units and max(units) >= activations.shape[0]:
        raise ValueError(f"unit {max(units)} does not exist: the layer has {activations.shape[0]} units")
    chosen = activations[units].cpu()
    estimate = adaptive_kde(flatten_column_major(chosen[None]), value_range=value_range)
    counts = count_peaks(estimate.density)
    grid = np.linspace(0.0, 1.0, estimate.density.shape[1])
    results = []
    for row, unit in enumerate(units):
        density = estimate.density[row].numpy()
        positions = grid[find_peaks(density)[0]] if bool(estimate.valid[row]) else np.array([])
        results.append(
            UnitDensity(
                unit, chosen[row].numpy(), grid, density, estimate.bandwidth[row].numpy(), positions, int(counts[row])
            )
        )
    return results
