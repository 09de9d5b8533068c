"""records.csv: one row per image x method x ADVISE group (x random-groups draw); append, resume, merge shards.

Its columns are :data:`COLUMNS`, then the matched areas' (``avx@0.1``, ...), then the AVX columns of
the scorings after the first (``avx/zero``, ``avx@0.1/zero``, ...: :func:`record_columns`); a
file's header says which areas and scorings it holds.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from captum_advise.evaluation.protocol import AREA_METRICS, area_columns, scoring_columns
from captum_advise.runs.output_files import atomic_write_csv, csv_text

__all__ = [
    "COLUMNS",
    "RECORD_KEY",
    "append_records",
    "completed_methods",
    "merge_records",
    "merged_rows",
    "read_records",
    "record_columns",
]

COLUMNS = (
    "image",
    "label",
    "predicted",
    "second",
    "method",
    "group",
    "units",
    "draw",
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
    "area",
    "deletion",
    "insertion",
    "seconds",
    "metric_seconds",
)
RECORD_KEY = ("image", "method", "group", "draw")


def record_columns(areas: Sequence[float], penalties: Sequence[str] = ("reference",)) -> tuple[str, ...]:
    """The columns of a records.csv with these matched areas and scorings (the first one's unsuffixed)."""
    return (*COLUMNS, *area_columns(tuple(areas)), *scoring_columns(tuple(areas), tuple(penalties)))


def _header_layout(fieldnames: Sequence[str], path: Path) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """The matched areas and the further scorings a records.csv header holds; ValueError if it is not
    a header of this version."""
    extra = [name for name in fieldnames[len(COLUMNS) :] if "/" not in name]
    areas = []
    for first in range(0, len(extra), len(AREA_METRICS)):
        _, _, area = extra[first].partition("@")
        try:
            areas.append(float(area))
        except ValueError:
            break
    further = [name.partition("/")[2] for name in fieldnames if name.startswith("avx/")]
    penalties = ("main", *further)  # the first scoring is not named in the header
    if tuple(fieldnames[: len(COLUMNS)]) != COLUMNS or tuple(fieldnames) != record_columns(areas, penalties):
        raise ValueError(f"{path} is not a {path.name} of this version (columns {list(fieldnames)})")
    return tuple(areas), penalties


# What each column of a records file may hold (the columns of other experiments' CSVs too): text
# names, class indices and counts, and numbers; the optional ones may be empty.
TEXT_COLUMNS = ("image", "method", "mode", "randomize", "init", "layer", "relu")
COUNT_COLUMNS = (
    "label",
    "predicted",
    "second",
    "target",
    "group",
    "units",
    "draw",
    "step",
    "distinct_predictions",
    "images",
)
OPTIONAL_COLUMNS = ("label", "group", "units", "draw", "deletion", "insertion")
RANGES = {"check": (0, 1), "hit": (0, 1), "y": (0, 1), "o": (0, 1), "area": (0, 1), "seconds": (0, math.inf)}
RANGES["metric_seconds"] = RANGES["seconds"]


def _range(column: str) -> tuple[float, float]:
    """The range of a column's numbers; a matched-area column (``hit@0.1``) has its measure's."""
    return RANGES.get(column.partition("@")[0], (-math.inf, math.inf))


def _cell_problem(column: str, value: str, optional: Sequence[str]) -> str | None:
    """Why ``value`` cannot be in ``column`` (None if it can)."""
    if value == "" and column in optional:
        return None
    if column in TEXT_COLUMNS:
        return None if value else "is empty"
    if column in COUNT_COLUMNS:
        return None if value.isdigit() else "is not a whole number >= 0"
    try:
        number = float(value)
    except ValueError:
        return "is not a number"
    low, high = _range(column)
    return None if math.isnan(number) or low <= number <= high else f"lies outside [{low}, {high}]"


def _rows_of(text: str, path: Path, columns: Sequence[str] | None, optional: Sequence[str]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        return []
    if columns is None:
        columns = record_columns(*_header_layout(reader.fieldnames, path))
    if tuple(reader.fieldnames) != tuple(columns):
        raise ValueError(f"{path} is not a {path.name} of this version (columns {reader.fieldnames})")
    rows = list(reader)
    for number, row in enumerate(rows, start=2):
        if None in row.values() or None in row:
            raise ValueError(f"{path} line {number} does not have the {len(columns)} columns of a record")
        for column in columns:
            problem = _cell_problem(column, row[column], optional)
            if problem:
                raise ValueError(f"{path} line {number}: {column} {row[column][:40]!r} {problem}")
    return rows


def read_records(
    path: Path,
    columns: Sequence[str] | None = None,
    key: Sequence[str] = RECORD_KEY,
    optional: Sequence[str] = OPTIONAL_COLUMNS,
) -> list[dict[str, str]]:
    """The rows of a records.csv, or of a gzip-compressed ``records.csv.gz`` (empty list if there is none),
    every cell checked.

    ``columns`` None: a records.csv's, with whatever matched areas and scorings its header holds. Every line
    must have the file's columns, and every cell what its column holds (a name, a
    count, a number in its range; ``optional`` columns may be empty): otherwise a ``ValueError``
    names the file, the line and the cell, so that a run stops before any work. A last line
    without its newline (a writer killed mid-row, a full disk) is an incomplete row:
    it is left out with a warning, so a resumed run computes it again. Rows whose (image, method,
    group, draw) was already read (two runs that once wrote into the same folder) are left out too.
    Another experiment's CSV gives its own ``columns`` and the ``key`` that names a row.
    """
    if not path.exists():
        return []
    with gzip.open(path, "rt", newline="") if path.suffix == ".gz" else path.open(newline="") as handle:
        text = handle.read()
    complete, _, partial = text.rpartition("\n")
    if partial:
        message = f"{path}: its last line is incomplete ({partial[:40]!r}...); it is left out and recomputed"
        warnings.warn(message, stacklevel=2)
        text = complete + "\n" if complete else ""
    parsed = _rows_of(text, path, columns, optional)
    rows = _unique(parsed, key)
    if duplicates := len(parsed) - len(rows):
        warnings.warn(f"{path}: {duplicates} duplicate ({', '.join(key)}) rows left out", stacklevel=2)
    return rows


def _unique(rows: Iterable[dict[str, str]], key: Sequence[str] = RECORD_KEY) -> list[dict[str, str]]:
    """The rows with the first of each ``key`` (image, method, group, draw) kept."""
    seen: set[tuple[str, ...]] = set()
    kept = []
    for row in rows:
        name = tuple(row[column] for column in key)
        if name not in seen:
            seen.add(name)
            kept.append(row)
    return kept


def append_records(path: Path, rows: Iterable[dict[str, object]], columns: Sequence[str] = COLUMNS) -> None:
    """Append rows, writing the header first if the file is new.

    An incomplete last line (see :func:`read_records`) is cut off first, so a new row never
    continues a partial one.
    """
    if path.exists():
        with path.open("rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
    text = csv_text(columns, rows, header=not path.exists() or path.stat().st_size == 0)
    # One write call per batch: a kill leaves whole rows and at most one cut line.
    with path.open("a", newline="") as handle:
        handle.write(text)


def completed_methods(rows: Iterable[dict[str, str]]) -> dict[str, set[str]]:
    """image -> the methods already recorded for it (``advise-auto``, ``advise-confidence``... count as ``advise``)."""
    done: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        done[row["image"]].add(row["method"].partition("-")[0])
    return done


def merged_rows(sources: Sequence[Path]) -> list[dict[str, str]]:
    """The rows of several records.csv, the first of each (image, method, group, draw) kept."""
    return _unique(row for source in sources for row in read_records(source))


def merge_records(sources: list[Path], destination: Path) -> int:
    """Join shards' records.csv into one, dropping duplicate (image, method, group, draw) rows.

    The shards must hold the same columns (the same matched areas and scorings).

    Returns:
        The number of rows written.
    """
    headers = {tuple(_header_of(source)) for source in sources}
    if len(headers) > 1:
        raise ValueError(
            "the shards' records.csv have different columns (other matched areas or scorings): merge like with like"
        )
    merged = merged_rows(sources)
    atomic_write_csv(destination, headers.pop() if headers else COLUMNS, merged)
    return len(merged)


def _header_of(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle), list(COLUMNS))
