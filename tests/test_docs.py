"""The API reference in docs/api is generated from the docstrings and must be current."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert commands[1] == '.venv/bin/python -m pytest -q -m "not slow"'


def _python_blocks(text: str) -> list[str]:
    blocks, current = [], None
    for line in text.splitlines():
        if current is None and line.strip() == "```python":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


@pytest.mark.shared
def test_every_readme_python_block_runs_as_pasted(tmp_path):
    from conftest import SHARED

    blocks = _python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2
    env = {**os.environ, "TORCH_HOME": str(SHARED / "assets" / "torch-home")}
    for number, block in enumerate(blocks, 1):
        done = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"README python block {number} failed:\n{done.stderr[-2000:]}"
