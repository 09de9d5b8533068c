"""Image sources: a labelled folder, an unlabelled folder, or scikit-image's bundled photos."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "ImageRecord",
    "batches",
    "embedded_photos",
    "image_files",
    "labelled_folder",
    "read_image",
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
        """The photo as an RGB PIL image."""
        return self.image.convert("RGB") if self.image is not None else read_image(self.path)


def read_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB (greyscale and palette images are converted).

    Raises:
        ImageReadError: the file is missing or not an image, naming the file.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise ImageReadError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ImageReadError(f"cannot read image {path}: {error}") from None


def image_files(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"image folder not found: {folder}")
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)


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
        if labels is not None:
            label = labels.get(path.name)
        else:
            match = CLASS_PREFIX.match(path.name)
            label = int(match.group(1)) if match else None
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
