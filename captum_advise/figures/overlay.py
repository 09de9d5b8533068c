"""Heat-map overlays shared by the figure sheets."""

from __future__ import annotations

import re

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import Tensor

__all__ = [
    "RANDOM_WEIGHTS_WARNING",
    "draw_image",
    "draw_overlay",
    "file_title",
    "image_array",
    "map_scale_bar",
    "plural",
]

RANDOM_WEIGHTS_WARNING = "RANDOM WEIGHTS: these maps explain an untrained network"


def file_title(name: str, width: int = 34, lines: int = 2) -> str:
    """A file name as a title of at most ``lines`` lines of ``width`` characters: broken after ``_``,
    ``-``, ``.`` or a space, never inside a part or its extension, and shortened in the middle
    (``…``) when longer, so that the start and the extension both show.

    A part longer than ``width`` on its own is cut, keeping its end.
    """
    stem, dot, extension = name.rpartition(".")
    stem, suffix = (stem, dot + extension) if stem and len(extension) < width // 2 else (name, "")
    parts = [*re.findall(r"[^_\-. ]+[_\-. ]*|[_\-. ]+", stem), *([suffix] if suffix else [])]
    parts = [part if len(part) < width else "…" + part[len(part) - (width - 1 - len(suffix)) :] for part in parts]
    rows: list[str] = []
    for part in parts:
        if rows and len(rows[-1]) + len(part) <= width:
            rows[-1] += part
        else:
            rows.append(part)
    if len(rows) > lines:
        tail = ""
        for part in reversed(parts):  # the last line: as much of the name's end as fits after "…"
            if len(tail) + len(part) + 1 > width:
                break
            tail = part + tail
        rows = [*rows[: lines - 1], "…" + tail.lstrip("…")]
    return "\n".join(row.rstrip() for row in rows)


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
