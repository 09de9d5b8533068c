"""summary.md: a Table-1-style table from records.csv, ADVISE with and without the oracle."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

__all__ = ["METHOD_TITLES", "summary_rows", "summary_table"]

METHOD_TITLES = {
    "gradcam": "Grad-CAM",
    "gradcampp": "Grad-CAM++",
    "scorecam": "Score-CAM",
    "layercam": "Layer-CAM",
    "lime": "LIME",
}
ORACLE = "ADVISE, best group per image (paper protocol: chosen by AVX itself)"
AUTO = "ADVISE, auto group (no oracle)"
METRICS = ("ad", "ssim", "fsim", "mse", "avx", "hit")


def _interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation 95% interval."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, 1.96 * math.sqrt(variance / len(values))


def _per_image_choice(rows: Iterable[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """Group the rows into the table's lines: one row per image for each line."""
    lines: dict[str, list[dict[str, str]]] = defaultdict(list)
    best: dict[str, dict[str, str]] = {}
    for row in rows:
        method = row["method"]
        if method == "advise":
            if row["image"] not in best or float(row["avx"]) > float(best[row["image"]]["avx"]):
                best[row["image"]] = row
        elif method == "advise-auto":
            lines[AUTO].append(row)
        else:
            lines[METHOD_TITLES.get(method, method)].append(row)
    lines[ORACLE] = list(best.values())
    return {title: chosen for title, chosen in lines.items() if chosen}


def summary_rows(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """One entry per table line: title, images, peak range, (mean, half-width) per metric, seconds."""
    advise_groups = [int(row["group"]) for row in rows if row["method"] == "advise" and row["group"] != ""]
    peak_range = f"{min(advise_groups)}-{max(advise_groups)}" if advise_groups else ""
    order = [ORACLE, AUTO, *METHOD_TITLES.values()]
    lines = _per_image_choice(rows)
    table = []
    for title in sorted(lines, key=lambda t: order.index(t) if t in order else len(order)):
        chosen = lines[title]
        entry: dict[str, object] = {"method": title, "images": len(chosen)}
        entry["peak range"] = peak_range if title in (ORACLE, AUTO) else ""
        for metric in METRICS:
            entry[metric] = _interval([float(row[metric]) for row in chosen])
        entry["seconds"] = sum(float(row["seconds"]) for row in chosen) / len(chosen)
        entry["metric_seconds"] = sum(float(row["metric_seconds"]) for row in chosen) / len(chosen)
        table.append(entry)
    return table


def _format(value: tuple[float, float]) -> str:
    mean, half = value
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def summary_table(rows: list[dict[str, str]]) -> str:
    """The markdown table (mean ± 95% interval half-width over images)."""
    columns = ["method", "images", "peak range", "AD ↓", "SSIM ↑", "FSIM ↑", "MSE ↓", "AVX ↑", "hit"]
    columns += ["s/image (maps)", "s/image (metrics)"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for entry in summary_rows(rows):
        metrics = " | ".join(_format(entry[m]) for m in METRICS)  # type: ignore[arg-type]
        lines.append(
            f"| {entry['method']} | {entry['images']} | {entry['peak range']} | {metrics} | "
            f"{entry['seconds']:.3f} | {entry['metric_seconds']:.3f} |"
        )
    return "\n".join(lines) + "\n"
