"""Shared fixtures: the read-only ``shared/`` folder beside the checkout (golden cases, real data)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("ADVISE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def load_golden(name: str) -> list[dict]:
    path = SHARED / "golden" / name
    if not path.exists():
        pytest.fail(f"golden file {path} not found: set ADVISE_SHARED to the folder that holds golden/")
    with gzip.open(path, "rt") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def golden_synthetic() -> list[dict]:
    return load_golden("kernel_synthetic.json.gz")


@pytest.fixture(scope="session")
def golden_mobilenet() -> list[dict]:
    return load_golden("kernel_mobilenet_v2.json.gz")
