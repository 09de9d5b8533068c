"""Write an experiment's rows as a CSV file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from captum_advise.runs.output_files import atomic_write_csv

__all__ = ["write_rows"]


def write_rows(path: Path, columns: Sequence[str], rows: Sequence[dict[str, object]]) -> None:
    """Write ``rows`` (dicts keyed by ``columns``) to ``path`` atomically, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(path, columns, rows)
