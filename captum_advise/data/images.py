"""Image sources: a labelled folder, an unlabelled folder, or scikit-image's bundled photos."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "ImageRecord",
    "batches",
    "class_from_name",
    "embedded_photos",
    "image_files",
    "labelled_folder",
    "read_image",
    "to_rgb",
    "unlabelled_folder",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
EMBEDDED_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
CLASS_PREFIX = re.compile(r"^(\d+)[_\-. ]")


class ImageReadError(ValueError):
    """An image file that cannot be read."""


@dataclass(frozen=True)
class ImageRecord:
    """One image to explain.

    Attributes:
        name: a short name (the file's name, or the bundled photo's name).
        path: the file, or None for an in-memory photo.
        label: the true class index, or None when unknown.
        image: the photo itself, only for in-memory photos (files are read on demand).
    """

    name: str
    path: Path | None = None
    label: int | None = None
    image: Image.Image | None = None

    def load(self) -> Image.Image:
        """The photo as an 8-bit RGB PIL image (see :func:`to_rgb`)."""
        return to_rgb(self.image, self.name) if self.image is not None else read_image(self.path)


# The largest value of a 12-bit image: 32-bit and float images whose largest value lies between
# 255 and this could be 10- or 12-bit data or a dark 16-bit image.
TWELVE_BIT_WHITE = 4095.0


def _full_scale(values: np.ndarray, mode: str, name: str) -> float:
    """The value that means white in a high-bit-depth image (the rule :func:`to_rgb` states)."""
    if mode.startswith("I;16"):
        return 65535.0
    low, high = float(values.min()), float(values.max())
    is_float = mode == "F"
    if low >= 0:
        if is_float and high <= 1:
            return 1.0
        if high <= 255 and not (is_float and high <= 2):
            return 255.0
        if TWELVE_BIT_WHITE < high <= 65535:
            return 65535.0
    raise ImageReadError(
        f"cannot tell the range of image {name} (mode {mode}, values {low:g} to {high:g}): white is read as 1 for "
        "floats up to 1, 255 for values up to 255 (floats above 2), 65535 for values above 4095: save it as an "
        "8- or 16-bit image"
    )


def to_rgb(image: Image.Image, name: str = "image") -> Image.Image:
    """Any PIL image as 8-bit RGB, without clipping high-bit-depth images to white.

    16-bit images (``I;16``) are scaled from [0, 65535]; 32-bit integer (``I``) and float (``F``)
    images from the range their values show: [0, 1] for floats whose values lie in it, [0, 255]
    for values up to 255 (floats: above 2), [0, 65535] for values from 4096 to 65535. Others
    (negative values, floats between 1 and 2, values between 256 and 4095 as 10- or 12-bit data
    would have, values beyond 65535) cannot be told apart from another range: a one-line error,
    never a darkened image.
    Transparency (``RGBA``, ``LA``, ``PA``, ``P`` with a transparent colour) is dropped: the
    colours under it are kept. ``CMYK``, ``L``, ``P`` and the rest convert as PIL converts them.

    Raises:
        ImageReadError: a 32-bit or float image whose range cannot be told (see above).
    """
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scaled = np.clip(np.floor(values * (255.0 / _full_scale(values, mode, name)) + 0.5), 0, 255)
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # PIL warns when a palette image with transparency goes to RGB directly
    return image.convert("RGB")


def read_image(path: str | Path) -> Image.Image:
    """Open an image file as 8-bit RGB (see :func:`to_rgb` for other modes).

    Raises:
        ImageReadError: the file is missing, not an image, over PIL's decompression-bomb limit, or
            of a range that cannot be told, naming the file.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            return to_rgb(image, str(path))
    except FileNotFoundError:
        raise ImageReadError(f"image not found: {path}") from None
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"image {path} is too large to read safely: {error}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ImageReadError(f"cannot read image {path}: {error}") from None


def image_files(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if folder.is_file():
        raise ImageReadError(f"{folder} is a file, not a folder of images: pass the folder that holds it")
    if not folder.is_dir():
        raise ImageReadError(f"image folder not found: {folder}")
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)


def class_from_name(name: str) -> int | None:
    """The class index a file name starts with (``001_n01443537_goldfish.JPEG`` -> 1), or None."""
    match = CLASS_PREFIX.match(name)
    return int(match.group(1)) if match else None


def unlabelled_folder(folder: str | Path) -> list[ImageRecord]:
    """Every image in ``folder``, without labels."""
    return [ImageRecord(path.name, path) for path in image_files(folder)]


def _read_mapping(mapping: Path) -> dict[str, int]:
    with mapping.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and not row[0].startswith("#")]
    if rows and not rows[0][-1].strip().lstrip("-").isdigit():
        rows = rows[1:]
    try:
        return {row[0].strip(): int(row[1]) for row in rows}
    except (IndexError, ValueError) as error:
        raise ValueError(f"mapping file {mapping} must hold 'file name,class index' rows: {error}") from None


def labelled_folder(folder: str | Path, mapping: str | Path | None = None) -> list[ImageRecord]:
    """Every image in ``folder`` with its class index.

    Args:
        folder: the images.
        mapping: optional CSV of ``file name,class index`` rows (a header row is allowed). Without
            it, the class index is the number that starts each file name (``001_n01443537_goldfish.JPEG``
            -> 1).

    Raises:
        ValueError: an image without a label, naming it.
    """
    labels = _read_mapping(Path(mapping)) if mapping is not None else None
    records = []
    for path in image_files(folder):
        label = labels.get(path.name) if labels is not None else class_from_name(path.name)
        if label is None:
            source = f"mapping file {mapping}" if labels is not None else "a class-index prefix such as '001_'"
            raise ValueError(f"no label for {path.name}: expected {source}")
        records.append(ImageRecord(path.name, path, label))
    return records


def embedded_photos(names: Sequence[str] = EMBEDDED_PHOTOS) -> list[ImageRecord]:
    """Photos that ship with scikit-image (no download): chelsea (a cat), coffee, astronaut, rocket."""
    from skimage import data

    return [ImageRecord(name, image=Image.fromarray(getattr(data, name)())) for name in names]


def batches(records: Sequence[ImageRecord], size: int) -> Iterator[Sequence[ImageRecord]]:
    """Consecutive slices of at most ``size`` records."""
    for start in range(0, len(records), size):
        yield records[start : start + size]
