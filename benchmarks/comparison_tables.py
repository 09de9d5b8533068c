"""The comparison's headline tables from one or more evaluation folders (their records.csv).

For each folder: every line's AVX under the reference's mask, the area that mask keeps and AVX at
each matched area (mean ± 95% interval over images); then the paired tests that say whether a
result means anything: each ADVISE row minus every baseline and its random-groups twin, and each
method minus every control, with Holm-adjusted p-values (over all of that folder's comparisons of the
measure, as in its summary.md).

Run after ``captum-advise evaluate`` (it may still be running: the rows so far are read):

    python benchmarks/comparison_tables.py eval-mobilenet_v2/ eval-efficientnet_lite0/
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from captum_advise.evaluation import read_records
from captum_advise.evaluation.summary import area_levels, paired_rows, summary_rows


def _cell(value: tuple[float, float]) -> str:
    mean, half = value
    return "n/a" if math.isnan(mean) else f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def _signed(entry: dict) -> str:
    mean, half = entry["difference"]
    holm = entry["holm"]
    p = "n/a" if math.isnan(holm) else ("< 0.001" if holm < 0.001 else f"{holm:.3f}")
    return f"{mean:+.3f} ± {half:.3f} (p {p})"


def folder_tables(folder: Path) -> str:
    rows = read_records(folder / "records.csv")
    areas = area_levels(rows)
    measures = ["avx", *(f"avx@{area}" for area in areas)]
    titles = ["AVX (reference mask)", "area kept", *(f"AVX, q = {area}" for area in areas)]
    images = len({row["image"] for row in rows})
    lines = [f"### {folder.name} ({images} photos)", "", "| line | images | " + " | ".join(titles) + " |"]
    lines.append("|---|---|" + "---|" * len(titles))
    for entry in summary_rows(rows):
        cells = [_cell(entry[measure]) for measure in ("avx", "area", *measures[1:])]
        lines.append(f"| {entry['method']} | {entry['images']} | " + " | ".join(cells) + " |")
    paired = {measure: paired_rows(rows, measure) for measure in measures}
    lines += ["", "Paired differences, mean ± 95% interval (Holm-adjusted p):", ""]
    lines += ["| comparison | " + " | ".join(t for t in titles if t != "area kept") + " |"]
    lines.append("|---|" + "---|" * len(measures))
    comparisons = [entry["comparison"] for entry in paired["avx"]]
    for comparison in comparisons:
        cells = []
        for measure in measures:
            found = [entry for entry in paired[measure] if entry["comparison"] == comparison]
            cells.append(_signed(found[0]) if found else "")
        lines.append(f"| {comparison} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="evaluate --out folders")
    args = parser.parse_args()
    print("\n\n".join(folder_tables(folder) for folder in args.folders))


if __name__ == "__main__":
    main()
