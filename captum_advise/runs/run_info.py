"""What a run needs to be reproduced: seeds, thread counts, library versions and options, as JSON.

Every experiment and evaluation writes ``run_info.json`` beside its tables, so a number can be
traced to the code, the libraries and the machine that produced it.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from captum_advise.runs.output_files import atomic_write_text
from captum_advise.runs.settings import plain

__all__ = ["LIBRARIES", "run_info", "write_run_info"]

LIBRARIES = (
    "captum-advise",
    "torch",
    "torchvision",
    "captum",
    "grad-cam",
    "numpy",
    "scipy",
    "scikit-image",
    "scikit-learn",
    "piq",
    "numba",
)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def run_info(**options: Any) -> dict[str, Any]:
    """Seeds and options as given, with the thread counts, versions and machine of this process."""
    import torch

    return {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "options": plain(options),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "python": sys.version.split()[0],
        "versions": {name: _version(name) for name in LIBRARIES},
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
    }


def write_run_info(folder: Path, **options: Any) -> dict[str, Any]:
    """Write :func:`run_info` to ``folder/run_info.json`` (atomically) and return it."""
    info = run_info(**options)
    atomic_write_text(Path(folder) / "run_info.json", json.dumps(info, indent=1) + "\n")
    return info
