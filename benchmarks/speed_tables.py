"""The tables of docs/results/speed-cpu.md's sections on the evaluator, from the benchmarks' own logs.

The logs (``docs/results/records/speed-cpu/``, described in its README.md) are what
``bench_evaluate.py`` and ``bench_attribution.py`` printed, kept verbatim. This script reads them
and prints the tables; nothing in them is typed by hand.

    python benchmarks/speed_tables.py docs/results/records/speed-cpu
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

BEFORE = "7d753f7"
AFTER = "working tree"
ROUND = re.compile(r"^round (\d+)/\d+, (.+?): (\{.*\})$")
PHOTOS = re.compile(r"--photos (\d+)")
RECORDS = re.compile(r"^Records: (\d+) rows; rows whose hit, check or groups differ: (\d+); .*: (\S+)$")
MAPS = re.compile(r"^Maps, seconds per photo \(working tree's records\): (.*)$")


def evaluate_log(path: Path) -> dict:
    """One bench_evaluate.py log: per side, each round's times per photo; the records' agreement; maps."""
    text = path.read_text()
    photos = int(PHOTOS.search(text).group(1))
    sides: dict[str, list[dict[str, float]]] = {}
    agreement = maps = None
    for line in text.splitlines():
        if match := ROUND.match(line):
            times = ast.literal_eval(match.group(3))
            sides.setdefault(match.group(2), []).append({key: value / photos for key, value in times.items()})
        elif match := RECORDS.match(line):
            agreement = (int(match.group(1)), int(match.group(2)), float(match.group(3)))
        elif match := MAPS.match(line):
            maps = dict(item.rsplit(" ", 1) for item in match.group(1).split(", "))
    return {"sides": sides, "agreement": agreement, "maps": maps}


def mean(runs: list[dict[str, float]], key: str) -> float:
    return sum(run[key] for run in runs) / len(runs)


def span(values: list[float], digits: int = 2) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if f"{low:.{digits}f}" == f"{high:.{digits}f}" else f"{low:.{digits}f}-{high:.{digits}f}"


def evaluate_tables(folder: Path) -> str:
    final = evaluate_log(folder / "evaluate-f8ac3fd.log")
    lines = ["| code | CPU s / photo | of which system (page faults) | wall s / photo |", "|---|---|---|---|"]
    for side, label in ((BEFORE, BEFORE), (AFTER, "this tree")):
        runs = final["sides"][side]
        lines.append(f"| {label} | {mean(runs, 'cpu'):.2f} | {mean(runs, 'system'):.2f} | {mean(runs, 'wall'):.2f} |")
    ratio = mean(final["sides"][BEFORE], "cpu") / mean(final["sides"][AFTER], "cpu")
    rows, differing, largest = final["agreement"]
    lines += [
        "",
        f"Ratio of CPU seconds: **{ratio:.2f}x**. Records of both sides: {rows} rows, {differing} with a different "
        f"hit, check, class or peak group; the largest difference of any metric {largest:g}.",
        "",
        "Every run of the same command, with the code it measured:",
        "",
        "| code measured | before, CPU s / photo | after | ratio |",
        "|---|---|---|---|",
    ]
    for name in ("evaluate-12255a3", "evaluate-3be63ec", "evaluate-1a5bea1", "evaluate-f8ac3fd"):
        log = evaluate_log(folder / f"{name}.log")
        before, after = mean(log["sides"][BEFORE], "cpu"), mean(log["sides"][AFTER], "cpu")
        lines.append(f"| {name.split('-')[1]} | {before:.2f} | {after:.2f} | {before / after:.2f}x |")
    return "\n".join(lines)


# Logs of code before the final evaluator's Score-CAM and LIME path, and what it lacked.
EARLIER = {
    "scorecam-no-hook.log": "before the hook",
    "scorecam-f8ac3fd.log": "before shared forwards",
    "scorecam-rounds2-f0010b4.log": "before shared forwards",
    "lime-no-hook.log": "before the hook",
}


def slow_methods_table(folder: Path) -> str:
    """Score-CAM and LIME: each run's two sides (interleaved in one command), and the range of the
    ratios of the runs of the final code."""
    lines = [
        "| method | log | 7d753f7 CPU s (system) | this tree CPU s (system) | ratio |",
        "|---|---|---|---|---|",
    ]
    for method in ("scorecam", "lime"):
        final_ratios = []
        for path in sorted(folder.glob(f"{method}-*.log")):
            log = evaluate_log(path)
            before, after = log["sides"][BEFORE], log["sides"][AFTER]
            ratio = mean(before, "cpu") / mean(after, "cpu")
            earlier = EARLIER.get(path.name)
            final_ratios += [ratio] if earlier is None else []
            lines.append(
                f"| {method} | {path.name} | {mean(before, 'cpu'):.1f} ({mean(before, 'system'):.1f}) | "
                f"{mean(after, 'cpu'):.1f} ({mean(after, 'system'):.1f}){'' if earlier is None else ', ' + earlier} | "
                f"{ratio:.2f}x |"
            )
        lines.append(f"| {method} | the final code's runs | | | **{span(final_ratios)}x** |")
    log = evaluate_log(folder / "ablation-fullgrad-394e6bb.log")
    lines += ["", "Maps alone, this tree (ablation-fullgrad-394e6bb.log), seconds per photo: "]
    lines[-1] += ", ".join(f"{method} {float(seconds):.1f}" for method, seconds in log["maps"].items())
    return "\n".join(lines)


def attribution_table(path: Path) -> str:
    """bench_attribution.py's rows, per thread count and batch: each side's values over the rounds."""
    values: dict[tuple[str, str, str, str], list[float]] = {}
    side = threads = None
    for line in path.read_text().splitlines():
        if line.startswith("== "):
            _, tree, _, threads, _, _ = line.split()
            side = BEFORE if "old-tree" in tree else AFTER
        elif line.startswith("| mobilenet_v2"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            values.setdefault((threads, cells[1], cells[2], side), []).append(float(cells[3]))
    lines = [
        "| threads | batch | LayerGradCam ms | LayerADVISE.attribute ms before | after | x LayerGradCam before | after "
        "| adaptive_kde ms before | after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for threads, batch in sorted({(key[0], key[1]) for key in values}, key=lambda k: (int(k[0]), int(k[1]))):
        kde = next(key[2] for key in values if key[2].startswith("adaptive_kde") and key[:2] == (threads, batch))

        def cell(method: str, which: str, key: tuple[str, str] = (threads, batch)) -> list[float]:
            return values[(*key, method, which)]

        grad_cam = cell("Captum LayerGradCam", BEFORE) + cell("Captum LayerGradCam", AFTER)
        ratios = {
            which: [
                a / g
                for a, g in zip(cell("LayerADVISE.attribute", which), cell("Captum LayerGradCam", which), strict=True)
            ]
            for which in (BEFORE, AFTER)
        }
        lines.append(
            f"| {threads} | {batch} | {span(grad_cam, 1)} | {span(cell('LayerADVISE.attribute', BEFORE), 1)} | "
            f"{span(cell('LayerADVISE.attribute', AFTER), 1)} | {span(ratios[BEFORE])}x | **{span(ratios[AFTER])}x** | "
            f"{span(cell(kde, BEFORE), 1)} | {span(cell(kde, AFTER), 1)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    print("### evaluate per photo\n")
    print(evaluate_tables(args.folder))
    print("\n### Score-CAM and LIME\n")
    print(slow_methods_table(args.folder))
    print("\n### Per call\n")
    print(attribution_table(args.folder / "attribution-c326432.log"))


if __name__ == "__main__":
    main()
