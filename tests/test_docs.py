"""The README and the documentation pages: the two commands first, every Python block runs as pasted."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The pages of the site, but the PyPI blurb and the API page generated at build time.
PAGES = [
    path
    for path in sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "docs" / "results").glob("*.md"))
    if path.name not in ("package_description.md", "api.md")
]


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line for line in readme[:20] if line.startswith(".venv/bin/") or line.startswith("python3 -m venv")]
    assert commands[0].startswith("python3 -m venv .venv") and "captum-advise demo" in commands[0]
    assert commands[1] == '.venv/bin/python -m pytest -q -m "not slow"'
    assert len(readme) <= 150


def test_docs_and_readme_speak_of_the_software_not_of_its_history():
    words = ("issue #", "session", "lent", "previous commit", "first run", "second run")
    for path in [ROOT / "README.md", *PAGES]:
        text = path.read_text().lower()
        found = [word for word in words if re.search(rf"(?<![\w-]){re.escape(word)}(?!\w)", text)]
        assert not found, f"{path.relative_to(ROOT)} speaks of {found}"


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
@pytest.mark.parametrize(
    "page", ["README.md", *(str(path.relative_to(ROOT)) for path in PAGES if _python_blocks(path.read_text()))]
)
def test_every_python_block_runs_as_pasted(tmp_path, page):
    from conftest import SHARED

    blocks = _python_blocks((ROOT / page).read_text())
    assert blocks
    env = {**os.environ, "TORCH_HOME": str(SHARED / "assets" / "torch-home")}
    for number, block in enumerate(blocks, 1):
        done = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{page} python block {number} failed:\n{done.stderr[-2000:]}"


def test_the_rendered_tutorials_carry_no_local_paths_or_stray_warnings():
    """The site renders the notebooks' stored outputs: no one's home, checkout or environment shows there."""
    import json
    import re

    local = re.compile(r"(?:/work/|/root/|/home/|/tmp/|/Users/|site-packages|C:\\\\)")
    for notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            for output in cell.get("outputs", []):
                text = "".join(output.get("text", "")) + json.dumps(output.get("data", {}).get("text/plain", ""))
                assert not local.search(text), f"{notebook.name}: {text[:200]}"


def _benchmark(name: str):
    """A script of ``benchmarks/`` as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONTROLS_RECORDS = ROOT / "docs" / "results" / "records" / "controls"
CONTROLS_RUNS = ("mobilenet_v2", "efficientnet_lite0", "every-method")


def test_the_controls_page_is_printed_from_its_committed_records(tmp_path):
    """The page's tables are exactly what ``comparison_tables.py --write`` prints from the records."""
    tables = _benchmark("comparison_tables")
    page = ROOT / "docs" / "results" / "controls.md"
    regenerated = tmp_path / "controls.md"
    regenerated.write_text(page.read_text())
    tables.write_between_markers(
        regenerated, "\n\n".join(tables.folder_tables(CONTROLS_RECORDS / run) for run in CONTROLS_RUNS)
    )
    assert regenerated.read_text() == page.read_text()
    for run in CONTROLS_RUNS:
        assert (CONTROLS_RECORDS / run / "records.csv.gz").exists() and (
            CONTROLS_RECORDS / run / "settings.json"
        ).exists()


def test_the_speed_tables_are_printed_from_their_committed_logs(capsys):
    speed = _benchmark("speed_tables")
    page = (ROOT / "docs" / "results" / "speed-cpu.md").read_text()
    folder = ROOT / "docs" / "results" / "records" / "speed-cpu"
    table = speed.slow_methods_table(folder)
    assert table.split("\n\nMaps alone")[0] in page


ROBUSTNESS_RECORDS = ROOT / "docs" / "results" / "records" / "robustness"


def test_the_robustness_page_is_printed_from_its_committed_records(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    tables = _benchmark("robustness_tables")
    page = ROOT / "docs" / "results" / "robustness.md"
    regenerated = tmp_path / "robustness.md"
    regenerated.write_text(page.read_text())
    runs = [ROBUSTNESS_RECORDS / name for name in ("mobilenet_v2", "efficientnet_lite0")]
    _benchmark("comparison_tables").write_between_markers(
        regenerated, "\n\n".join(tables.folder_tables(run) for run in runs)
    )
    assert regenerated.read_text() == page.read_text()
