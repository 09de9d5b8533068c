"""Heat-map overlays shared by the figure sheets."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from torch import Tensor

__all__ = ["RANDOM_WEIGHTS_WARNING", "draw_image", "draw_overlay", "image_array"]

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
