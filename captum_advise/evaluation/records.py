"""records.csv: one row per image x method x ADVISE group; append, resume, merge shards."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

__all__ = ["COLUMNS", "append_records", "completed_methods", "merge_records", "read_records"]

COLUMNS = (
    "image",
    "label",
    "predicted",
    "second",
    "method",
    "group",
    "units",
    "cs",
    "check",
    "hit",
    "y",
    "o",
    "ad",
    "ssim",
    "fsim",
    "mse",
    "avx",
    "seconds",
    "metric_seconds",
)


def read_records(path: Path) -> list[dict[str, str]]:
    """The rows of a records.csv (empty list if there is none)."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or tuple(reader.fieldnames) != COLUMNS:
            raise ValueError(f"{path} is not a records.csv of this version (columns {reader.fieldnames})")
        return list(reader)


def append_records(path: Path, rows: Iterable[dict[str, object]]) -> None:
    """Append rows, writing the header first if the file is new."""
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def completed_methods(rows: Iterable[dict[str, str]]) -> dict[str, set[str]]:
    """image -> the methods already recorded for it (``advise-auto`` rows count as ``advise``)."""
    done: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        done[row["image"]].add(row["method"].removesuffix("-auto"))
    return done


def merge_records(sources: list[Path], destination: Path) -> int:
    """Join shards' records.csv into one, dropping duplicate (image, method, group) rows.

    Returns:
        The number of rows written.
    """
    seen: set[tuple[str, str, str]] = set()
    merged = []
    for source in sources:
        for row in read_records(source):
            key = (row["image"], row["method"], row["group"])
            if key not in seen:
                seen.add(key)
                merged.append(row)
    if destination.exists():
        destination.unlink()
    append_records(destination, merged)
    return len(merged)
