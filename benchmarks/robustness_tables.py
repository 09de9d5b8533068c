"""The robustness page's tables, printed from the committed records: one section per network.

Each argument is a folder holding a ``robustness`` run's ``robustness.csv`` (or
``robustness.csv.gz``) and its ``settings.json``: a ``captum-advise robustness --out`` folder, or the
committed copies under ``docs/results/records/robustness/``. Each section is the run's own
``summary.md`` table (:func:`captum_advise.experiments.robustness.robustness_summary`) under a
heading naming the network and layer.

    python benchmarks/robustness_tables.py docs/results/records/robustness/mobilenet_v2 \\
        docs/results/records/robustness/efficientnet_lite0 --write docs/results/robustness.md

``--write PAGE`` puts the tables between the page's ``<!-- tables-start -->`` and
``<!-- tables-end -->`` lines (the test suite checks the committed page this way).
"""

from __future__ import annotations

import json
from pathlib import Path

from comparison_tables import print_or_write

from captum_advise.experiments.robustness import read_robustness, robustness_summary
from captum_advise.runs.settings import SETTINGS_FILE


def folder_tables(folder: Path) -> str:
    """The markdown section of one robustness folder."""
    path = next((folder / name for name in ("robustness.csv", "robustness.csv.gz") if (folder / name).exists()), None)
    if path is None:
        raise FileNotFoundError(f"no robustness.csv or robustness.csv.gz in {folder}")
    settings = json.loads((folder / SETTINGS_FILE).read_text())
    rows = read_robustness(path)
    photos = len({row["image"] for row in rows})
    heading = f"## {folder.name}: {settings['model']}, layer {settings['layer']}, {photos} photos"
    # The summary's own reading guide is the page's introduction; the tables follow it.
    table = robustness_summary(rows).split("\n\n", 1)[1]
    return f"{heading}\n\n{table.rstrip()}"


if __name__ == "__main__":
    print_or_write(__doc__, folder_tables)
