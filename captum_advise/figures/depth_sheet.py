"""The depth sheet (paper Figure 4): Grad-CAM and ADVISE's auto group at a shallow, middle, deep layer."""

from __future__ import annotations

from matplotlib.figure import Figure

from captum_advise.figures.overlay import RANDOM_WEIGHTS_WARNING, draw_image, draw_overlay, map_scale_bar, plural
from captum_advise.pipeline import ExplainedImage

__all__ = ["depth_sheet"]


def depth_sheet(by_layer: dict[str, ExplainedImage], title: str, random_weights: bool = False) -> Figure:
    """One row per layer (label -> that layer's explanation of the same image).

    Columns: the input, Grad-CAM at that layer, ADVISE's auto group, the largest-peak-count group.
    """
    figure = Figure(figsize=(12, 3.1 * len(by_layer) + 0.6), layout="constrained")
    grid = figure.add_gridspec(len(by_layer), 4)
    overlays = []
    for row, (label, explanation) in enumerate(by_layer.items()):
        axes = [figure.add_subplot(grid[row, column]) for column in range(4)]
        overlays.extend(axes[1:])
        draw_image(axes[0], explanation.image, f"{label} layer: {explanation.relevance.numel()} units")
        draw_overlay(axes[1], explanation.image, explanation.grad_cam_map, "Grad-CAM")
        peaks = [group.peaks for group in explanation.groups]
        for axes_index, chosen in ((2, explanation.auto_peaks), (3, max(peaks, default=None))):
            if chosen is None:
                axes[axes_index].axis("off")
                axes[axes_index].set_title("no group", fontsize=9)
                continue
            group = explanation.groups[peaks.index(chosen)]
            kind = "auto group" if axes_index == 2 else "most peaks"
            draw_overlay(
                axes[axes_index],
                explanation.image,
                explanation.group_maps[peaks.index(chosen)],
                f"{kind}: {plural(chosen, 'peak')}, {plural(int(group.units.numel()), 'unit')}",
            )
    map_scale_bar(figure, overlays)
    heading = f"{RANDOM_WEIGHTS_WARNING}\n{title}" if random_weights else title
    figure.suptitle(heading, fontsize=11, color="red" if random_weights else "black")
    return figure
