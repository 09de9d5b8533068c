"""The explanation sheet (paper Figures 1 and 3): input, top-5, one overlay per peak group, Grad-CAM."""

from __future__ import annotations

import math
import textwrap

from matplotlib.figure import Figure

from captum_advise.attr import PeakGroup
from captum_advise.figures.overlay import (
    RANDOM_WEIGHTS_WARNING,
    draw_image,
    draw_overlay,
    file_title,
    map_scale_bar,
    plural,
)
from captum_advise.pipeline import ExplainedImage

__all__ = ["explanation_sheet"]

COLUMNS = 4


def explanation_sheet(explanation: ExplainedImage, model_name: str, random_weights: bool = False) -> Figure:
    """One figure: the input, its top-5 probabilities, every kept peak group's overlay, Grad-CAM.

    Args:
        explanation: one image's explanation.
        model_name: shown in the title (with the layer if the caller adds it).
        random_weights: add a warning banner: the network is untrained.
    """
    panels = 3 + len(explanation.groups)
    rows = math.ceil(panels / COLUMNS)
    figure = Figure(figsize=(3.2 * COLUMNS, 3.2 * rows + 0.6), layout="constrained")
    grid = figure.add_gridspec(rows, COLUMNS)
    axes = [figure.add_subplot(grid[i // COLUMNS, i % COLUMNS]) for i in range(panels)]

    label = f"\nlabel {explanation.label}" if explanation.label is not None else ""
    draw_image(axes[0], explanation.image, f"{file_title(explanation.name)}{label}")
    _draw_top5(axes[1], explanation)
    draw_overlay(
        axes[2], explanation.image, explanation.grad_cam_map, f"Grad-CAM: all {explanation.relevance.numel()} units"
    )
    for index, group in enumerate(explanation.groups):
        draw_overlay(axes[3 + index], explanation.image, explanation.group_maps[index], group_title(group, explanation))
    map_scale_bar(figure, axes[2:])

    target_name = next((name for c, name, _ in explanation.top5 if c == explanation.target), str(explanation.target))
    heading = f"ADVISE on {model_name}: explaining class {explanation.target} ({target_name})"
    if random_weights:
        heading = f"{RANDOM_WEIGHTS_WARNING}\n{heading}"
    figure.suptitle(heading, fontsize=11, color="red" if random_weights else "black")
    return figure


def group_title(group: PeakGroup, explanation: ExplainedImage) -> str:
    """'p peaks: n units', marked [auto] for the auto group; the 0-peak group says what it holds."""
    marker = "  [auto]" if group.peaks == explanation.auto_peaks else ""
    title = f"{plural(group.peaks, 'peak')}: {plural(int(group.units.numel()), 'unit')}{marker}"
    if group.peaks == 0:
        # Not only dead units: also units with fewer than two values in [0, 1], or a density with no interior mode.
        title += "\n(density without a peak)"
    return title


def _draw_top5(axes, explanation: ExplainedImage) -> None:
    names = [f"{textwrap.shorten(name, 30, placeholder='...')} ({c})" for c, name, _ in explanation.top5][::-1]
    probabilities = [p for _, _, p in explanation.top5][::-1]
    colors = ["tab:red" if c == explanation.target else "tab:blue" for c, _, _ in explanation.top5][::-1]
    axes.barh(range(len(names)), probabilities, color=colors)
    axes.set_yticks(range(len(names)), names, fontsize=7)
    axes.set_xlim(0, 1)
    axes.set_xlabel("softmax probability", fontsize=8)
    axes.set_title("top-5 classes", fontsize=9)
