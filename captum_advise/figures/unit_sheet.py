"""The unit sheet (paper Figure 2): a unit's activation map, histogram, adaptive density and peaks."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from captum_advise.figures.overlay import RANDOM_WEIGHTS_WARNING, plural
from captum_advise.pipeline import UnitDensity

__all__ = ["unit_sheet"]


def unit_sheet(units: list[UnitDensity], title: str, random_weights: bool = False) -> Figure:
    """One row per unit: activation map | histogram of its values in [0, 1] with the density and peaks."""
    figure = Figure(figsize=(9, 3 * len(units) + 0.6), layout="constrained")
    grid = figure.add_gridspec(len(units), 3)
    for row, unit in enumerate(units):
        map_axes = figure.add_subplot(grid[row, 0])
        image = map_axes.imshow(unit.activations, cmap="viridis")
        figure.colorbar(image, ax=map_axes, shrink=0.8)
        map_axes.set_title(f"unit {unit.unit}: activations {unit.activations.shape}", fontsize=9)
        map_axes.axis("off")

        density_axes = figure.add_subplot(grid[row, 1:])
        values = unit.activations.flatten()
        inside = values[(values >= 0) & (values <= 1)]
        density_axes.hist(inside, bins=min(30, max(5, inside.size // 3)), range=(0, 1), density=True, color="0.8")
        if np.isfinite(unit.density).all():
            density_axes.plot(unit.grid, unit.density, color="tab:blue", label="adaptive density")
            peak_heights = np.interp(unit.peak_positions, unit.grid, unit.density)
            density_axes.plot(unit.peak_positions, peak_heights, "v", color="tab:red", label="peaks")
            density_axes.legend(fontsize=7)
        else:
            density_axes.text(
                0.5,
                0.5,
                "estimate failed: fewer than 2 values in [0, 1]",
                ha="center",
                transform=density_axes.transAxes,
            )
        outside = values.size - inside.size
        # The reference estimates the density on [0, 1] only: values outside it do not count.
        ignored = f"; {outside} of {values.size} values lie outside [0, 1] and are not counted" if outside else ""
        density_axes.set_title(f"phi = {plural(unit.peaks, 'peak')}{ignored}", fontsize=9)
        density_axes.set_xlim(0, 1)
        density_axes.set_xlabel("activation value (density estimated on [0, 1])")
        density_axes.set_ylabel("density (histogram: grey)")
    heading = f"{RANDOM_WEIGHTS_WARNING}\n{title}" if random_weights else title
    figure.suptitle(heading, fontsize=11, color="red" if random_weights else "black")
    return figure
