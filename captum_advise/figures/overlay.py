"""Heat-map overlays shared by the figure sheets."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import Tensor

__all__ = ["RANDOM_WEIGHTS_WARNING", "draw_image", "draw_overlay", "image_array", "map_scale_bar", "plural"]

RANDOM_WEIGHTS_WARNING = "RANDOM WEIGHTS: these maps explain an untrained network"


def image_array(image: Tensor) -> np.ndarray:
    """(3, H, W) uint8 tensor -> (H, W, 3) array for imshow."""
    return image.permute(1, 2, 0).cpu().numpy()


def draw_image(axes: Axes, image: Tensor, title: str) -> None:
    axes.imshow(image_array(image))
    axes.set_title(title, fontsize=9)
    axes.axis("off")


def draw_overlay(axes: Axes, image: Tensor, heat: Tensor, title: str) -> None:
    """The image with a [0, 1] heat map blended over it (jet, half transparent)."""
    axes.imshow(image_array(image))
    axes.imshow(heat.clamp(0, 1).cpu().numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
    axes.set_title(title, fontsize=9)
    axes.axis("off")


def plural(count: int, noun: str) -> str:
    """'1 unit', '2 units'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def map_scale_bar(figure: Figure, axes: list[Axes]) -> None:
    """The overlays' colour scale, beside ``axes``, saying that every map is scaled on its own."""
    figure.colorbar(
        ScalarMappable(Normalize(0, 1), cmap="jet"),
        ax=axes,
        shrink=0.6,
        label="each map min-max scaled on its own:\n0 = its lowest, 1 = its highest value",
    )
