"""The API reference in docs/api is generated from the docstrings and must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_is_up_to_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build_api.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line for line in readme[:20] if line.startswith(".venv/bin/") or line.startswith("python3 -m venv")]
    assert commands[0].startswith("python3 -m venv .venv") and "captum-advise demo" in commands[0]
    assert commands[1] == ".venv/bin/python -m pytest -q"
