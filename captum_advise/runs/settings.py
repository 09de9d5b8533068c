"""The settings that define a run's rows, recorded beside them, so that a resume never mixes two runs.

A run that appends to an output folder (``evaluate``, ``robustness``, ``ablate``, ``sanity``) writes
``settings.json``: the model, its weights (and the weights file's SHA-256), the layer, the geometry,
every protocol and method option, the package's version. A later run into the same folder resumes
only with the same settings: with others it stops, before any work, with one line naming what
differs, unless it was asked to start afresh, which moves the old files into a ``replaced-*``
folder beside them (never deleting them). What a run may add without changing its rows' meaning
(more methods, more images) is not a setting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from captum_advise.runs.output_files import atomic_write_text

__all__ = [
    "SETTINGS_FILE",
    "SettingsMismatchError",
    "check_settings",
    "common_settings",
    "move_aside",
    "plain",
    "run_settings",
    "weights_identity",
]

SETTINGS_FILE = "settings.json"


class SettingsMismatchError(ValueError):
    """An output folder holds rows computed with other settings (or two folders to merge differ)."""


def plain(value: Any) -> Any:
    """``value`` as JSON data: dataclasses and mappings as objects, sequences as lists, the rest as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= _flat(item, f"{prefix}{key}.")
        return flat
    return {prefix[:-1]: value}


def weights_identity(weights: str) -> str:
    """A weights name as given, or, for a file, its name and SHA-256 (the same file under another path is the same)."""
    path = Path(weights)
    if not path.is_file():
        return weights
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{path.name} (sha256 {digest.hexdigest()})"


def run_settings(experiment: str, model: str, weights: str, layer: str, **options: Any) -> dict[str, Any]:
    """The flat settings of a run: ``{"experiment": ..., "model": ..., "protocol.mask": ..., ...}``."""
    from captum_advise import __version__

    settings = {
        "experiment": experiment,
        "captum-advise": __version__,
        "model": model,
        "weights": weights_identity(weights),
        "layer": layer,
    }
    return settings | _flat(plain(options))


def _differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    keys = sorted(set(before) | set(after))
    return [f"{key} {before.get(key)!r} -> {after.get(key)!r}" for key in keys if before.get(key) != after.get(key)]


def check_settings(folder: Path, settings: dict[str, Any], has_rows: bool, write: bool = True) -> None:
    """Refuse to add rows to ``folder`` computed with other settings than its own; record them otherwise.

    Args:
        folder: the output folder.
        settings: from :func:`run_settings`.
        has_rows: whether the folder already holds rows (without rows, the new settings simply apply).
        write: record ``settings`` in ``folder/settings.json`` (the main rank of a torchrun run).

    Raises:
        SettingsMismatchError: the folder's rows were computed with other settings (one line, naming them).
    """
    path = Path(folder) / SETTINGS_FILE
    if has_rows and path.exists():
        recorded = json.loads(path.read_text())
        differences = _differences(recorded, settings)
        if differences:
            raise SettingsMismatchError(
                f"{folder} holds rows computed with other settings ({'; '.join(differences)}): rerun with "
                "the same options to resume, or add --new to start afresh (the old files are moved aside)"
            )
    if write:
        atomic_write_text(path, json.dumps(settings, indent=1, sort_keys=True) + "\n")


def common_settings(folders: Sequence[Path]) -> dict[str, Any] | None:
    """The settings every folder records (None if none records any); one line naming a difference otherwise."""
    found = [(folder, json.loads(path.read_text())) for folder in folders if (path := folder / SETTINGS_FILE).exists()]
    if not found:
        return None
    first_folder, first = found[0]
    for folder, settings in found[1:]:
        differences = _differences(first, settings)
        if differences:
            raise SettingsMismatchError(
                f"{first_folder} and {folder} were computed with different settings ({'; '.join(differences)}): "
                "their rows cannot be merged"
            )
    return first


def move_aside(folder: Path, names: Sequence[str]) -> Path | None:
    """Move the run files ``names`` of ``folder`` (those present) into a new ``folder/replaced-<UTC time>``."""
    present = [Path(folder) / name for name in names if (Path(folder) / name).exists()]
    if not present:
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    aside = Path(folder) / f"replaced-{stamp}"
    aside.mkdir()
    for path in present:
        path.rename(aside / path.name)
    return aside
