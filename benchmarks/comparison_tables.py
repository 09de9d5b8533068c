"""The comparison's tables, printed from evaluation records: one section per network.

Each argument is a folder holding an evaluation's ``records.csv`` (or ``records.csv.gz``) and its
``settings.json``: an ``evaluate --out`` folder, or the committed copies under
``docs/results/records/``. For each folder: every line's AVX under both scorings (the reference's
penalty and ``zero``), under the reference's mask and at each matched area (mean ± 95% interval
over photos); where each line's AVX comes from (the CS check's pass rate, hit, and the share of
AVX earned on photos that lost the class); the primary family comparison by comparison and the
controls family control by control, with the run's declared primary measure, margin and Holm
within each family (``captum_advise.evaluation.families``); and how the secondary family came out.

    python benchmarks/comparison_tables.py docs/results/records/controls/mobilenet_v2 \\
        docs/results/records/controls/efficientnet_lite0

``--write PAGE`` puts the tables into PAGE between its ``<!-- tables-start -->`` and
``<!-- tables-end -->`` lines instead of printing them (the test suite checks the committed page
against its records this way).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

from captum_advise.evaluation import read_records
from captum_advise.evaluation.families import FAMILIES, plan_of_settings
from captum_advise.evaluation.summary import (
    format_interval,
    lost_class_table,
    measure_title,
    per_image_lines,
    planned_comparisons,
    sorted_lines,
    tested_measures,
    verdict_of,
)
from captum_advise.runs.settings import SETTINGS_FILE

START, END = "<!-- tables-start -->", "<!-- tables-end -->"


def _records(folder: Path) -> list[dict[str, str]]:
    for name in ("records.csv", "records.csv.gz"):
        if (folder / name).exists():
            return read_records(folder / name)
    raise FileNotFoundError(f"no records.csv or records.csv.gz in {folder}")


def _signed(mean: float, half: float) -> str:
    return f"{mean:+.3f}" if math.isnan(half) else f"{mean:+.3f} ± {half:.3f}"


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def folder_tables(folder: Path) -> str:
    """The markdown section of one evaluation folder."""
    rows = _records(folder)
    settings = json.loads((folder / SETTINGS_FILE).read_text())
    plan, primary = plan_of_settings(settings)
    comparisons = planned_comparisons(rows, plan, primary)
    primary = comparisons[0].measure if comparisons else (primary or "avx")
    photos = len({row["image"] for row in rows})
    measures = [m for m in tested_measures(rows) if m.startswith("avx")]
    areas = [m.partition("@")[2] for m in measures if "@" in m and "/" not in m]
    lines = [
        f"## {folder.name}: {settings['model']}, layer {settings['layer']}, {photos} photos",
        "",
        "Mean [95% interval] over photos; `/zero`: every lost class scored 0; without it, the reference's penalty.",
        "",
        "| line | photos | " + " | ".join(f"{measure_title(m)}" for m in measures) + " |",
        "|---|---|" + "---|" * len(measures),
    ]
    by_measure = {m: per_image_lines(rows, m) for m in measures}
    for title in sorted_lines(by_measure["avx"]):
        cells = []
        for m in measures:
            values = [float(r[m]) for r in by_measure[m].get(title, []) if r.get(m, "") != ""]
            cells.append(format_interval(_mean_interval(values)))
        lines.append(f"| {title} | {len(by_measure['avx'][title])} | " + " | ".join(cells) + " |")
    lines += ["", *lost_class_table(rows, areas)]
    sizes = {family: sum(c.family == family for c in comparisons) for family in FAMILIES}
    lines += [
        "",
        f"Primary measure `{primary}` ({measure_title(primary)}), declared in the run's settings; margin "
        f"±{plan.margin:g}; family sizes: primary {sizes['primary']}, controls {sizes['controls']}, secondary "
        f"{sizes['secondary']}. Each row: the line minus the reference per photo, mean ± 95% interval, paired "
        "effect size d, the sign-flip test's p Holm-adjusted within the family, the equivalence test's Holm "
        "p, and the verdict those adjusted p's give.",
        "",
        "| family | comparison | photos | difference | d | Holm p | equivalence Holm p | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        if c.family == "secondary":
            continue
        effect = "n/a" if math.isnan(c.effect) else f"{c.effect:.2f}"
        lines.append(
            f"| {c.family} | {c.line} vs {c.reference} | {c.images} | {_signed(*c.difference)} | {effect} | "
            f"{_p(c.holm)} | {_p(c.holm_equivalence)} | {verdict_of(c, plan)} |"
        )
    secondary = [c for c in comparisons if c.family == "secondary"]
    counts: dict[str, int] = {}
    for c in secondary:
        counts[verdict_of(c, plan)] = counts.get(verdict_of(c, plan), 0) + 1
    told = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
    lines += ["", f"Secondary family ({len(secondary)} comparisons): {told}."]
    return "\n".join(lines)


def _mean_interval(values: list[float]) -> tuple[float, float, float]:
    from captum_advise.evaluation.intervals import bounded_interval

    return bounded_interval(values) if values else (math.nan, math.nan, math.nan)


def write_between_markers(page: Path, tables: str) -> None:
    """Replace what lies between the page's marker lines with ``tables``."""
    text = page.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{page} has no {START} ... {END} lines")
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    page.write_text(f"{before}{START}\n\n{tables}\n\n{END}{after}")


def print_or_write(description: str, tables_of: Callable[[Path], str]) -> None:
    """The command line of a page's table script: print the sections of the folders given, or write
    them into ``--write PAGE`` between its marker lines."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run folders (records and settings)")
    parser.add_argument("--write", type=Path, help="a page to put the tables into, between its marker lines")
    args = parser.parse_args()
    tables = "\n\n".join(tables_of(folder) for folder in args.folders)
    if args.write is None:
        print(tables)
    else:
        write_between_markers(args.write, tables)


if __name__ == "__main__":
    print_or_write(__doc__, folder_tables)
