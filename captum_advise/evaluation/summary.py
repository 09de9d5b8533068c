"""summary.md: a Table-1-style table from records.csv, ADVISE with and without the oracle, and paired AVX differences.

Intervals are Student-t 95% intervals of the mean over images (the samples are often small: 8 or
16 images, where the normal z would be about 10-17% too narrow).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from captum_advise.evaluation.intervals import mean_interval

__all__ = ["METHOD_TITLES", "paired_rows", "per_image_lines", "summary_rows", "summary_table"]

METHOD_TITLES = {
    "gradcam": "Grad-CAM",
    "gradcampp": "Grad-CAM++",
    "scorecam": "Score-CAM",
    "layercam": "Layer-CAM",
    "lime": "LIME",
}
ORACLE = "ADVISE oracle: best of its own groups per image, by AVX itself (paper's Table 1)"
AUTO = "ADVISE auto: the group with the most Grad-CAM evidence (no metric used)"
CONFIDENCE = "ADVISE confidence: the group whose Score-CAM-masked input the model is surest of (no metric used)"
WEIGHTED = "ADVISE weighted: the group maps weighted by that confidence (no metric used)"
ADVISE_RULES = {"advise-auto": AUTO, "advise-confidence": CONFIDENCE, "advise-weighted": WEIGHTED}
SHORT = {ORACLE: "ADVISE oracle", AUTO: "ADVISE auto", CONFIDENCE: "ADVISE confidence", WEIGHTED: "ADVISE weighted"}
ROW_NOTES = (
    "What the ADVISE rows are. *Oracle*: for each image, the highest AVX over ADVISE's own kept peak groups "
    "(one map per group); the choice uses the test metric itself, as the paper's Table 1 does. The authors' "
    "`imMain.m` prints a maximum over every row of its run, which with its display flag on (its default) "
    "also includes the Grad-CAM and LIME rows; this table does not. *Auto*: one map per image, the group "
    '`peaks="auto"` picks from the model\'s activations and gradients alone (largest share of the '
    "Grad-CAM evidence), chosen before any masked image is scored. Peak range: the peak counts of the "
    "ADVISE groups scored. *Confidence*: one map per image, the group whose map, used as Score-CAM uses a "
    "unit's map (bilinear, normalised, multiplied into the input), leaves the model surest of the class: "
    "one forward pass per group, no evaluation mask or measure. *Weighted*: the groups' normalised maps "
    "summed with those confidences as weights. Deletion and insertion AUC (RISE) are not part of AVX and "
    "no rule was chosen with them."
)
METRICS = ("ad", "ssim", "fsim", "mse", "avx", "hit", "deletion", "insertion")
PAIRED = (
    ("avx", "AVX", "higher is better"),
    ("insertion", "insertion AUC", "higher is better"),
    ("deletion", "deletion AUC", "lower is better"),
)


def per_image_lines(rows: Iterable[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """Group the rows into the table's lines: one row per image for each line."""
    lines: dict[str, list[dict[str, str]]] = defaultdict(list)
    best: dict[str, dict[str, str]] = {}
    for row in rows:
        method = row["method"]
        if method == "advise":
            if row["image"] not in best or float(row["avx"]) > float(best[row["image"]]["avx"]):
                best[row["image"]] = row
        elif method in ADVISE_RULES:
            lines[ADVISE_RULES[method]].append(row)
        else:
            lines[METHOD_TITLES.get(method, method)].append(row)
    lines[ORACLE] = list(best.values())
    return {title: chosen for title, chosen in lines.items() if chosen}


def summary_rows(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """One entry per table line: title, images, peak range, (mean, half-width) per metric, seconds."""
    advise_groups = [int(row["group"]) for row in rows if row["method"] == "advise" and row["group"] != ""]
    peak_range = f"{min(advise_groups)}-{max(advise_groups)}" if advise_groups else ""
    order = [ORACLE, *ADVISE_RULES.values(), *METHOD_TITLES.values()]
    lines = per_image_lines(rows)
    table = []
    for title in sorted(lines, key=lambda t: order.index(t) if t in order else len(order)):
        chosen = lines[title]
        entry: dict[str, object] = {"method": title, "images": len(chosen)}
        entry["peak range"] = peak_range if title in SHORT else ""
        for metric in METRICS:
            # Deletion and insertion are empty in records of runs that did not compute them.
            values = [float(row[metric]) for row in chosen if row[metric] != ""]
            entry[metric] = mean_interval(values) if values else (math.nan, math.nan)
        entry["seconds"] = sum(float(row["seconds"]) for row in chosen) / len(chosen)
        entry["metric_seconds"] = sum(float(row["metric_seconds"]) for row in chosen) / len(chosen)
        table.append(entry)
    return table


def paired_rows(rows: list[dict[str, str]], metric: str = "avx") -> list[dict[str, object]]:
    """ADVISE's rows (oracle and each rule) against every baseline, paired on the images both have.

    Returns:
        One entry per comparison: ``comparison``, ``images``, (mean, half-width) of the per-image
        difference, and how many images it wins, ties and loses.
    """
    lines = per_image_lines(rows)
    values = {
        title: {row["image"]: float(row[metric]) for row in chosen if row[metric] != ""}
        for title, chosen in lines.items()
    }
    baselines = [title for title in METHOD_TITLES.values() if title in values]
    table = []
    for advise, short in SHORT.items():
        for baseline in baselines if advise in values else []:
            common = sorted(values[advise].keys() & values[baseline].keys())
            differences = [values[advise][image] - values[baseline][image] for image in common]
            if not differences:
                continue
            table.append(
                {
                    "comparison": f"{short} vs {baseline}",
                    "images": len(common),
                    "difference": mean_interval(differences),
                    "wins": sum(d > 0 for d in differences),
                    "ties": sum(d == 0 for d in differences),
                    "losses": sum(d < 0 for d in differences),
                }
            )
    return table


def _signed(value: tuple[float, float]) -> str:
    mean, half = value
    text = f"{mean:+.3f}"
    return text if math.isnan(half) else f"{text} ± {half:.3f}"


def _format(value: tuple[float, float]) -> str:
    mean, half = value
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def summary_table(rows: list[dict[str, str]]) -> str:
    """The markdown table (mean ± 95% interval half-width over images)."""
    columns = ["method", "images", "peak range", "AD ↓", "SSIM ↑", "FSIM ↑", "MSE ↓", "AVX ↑", "hit"]
    columns += ["deletion AUC ↓", "insertion AUC ↑"]
    columns += ["s/image (maps)", "s/image (metrics)"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for entry in summary_rows(rows):
        metrics = " | ".join(_format(entry[m]) for m in METRICS)  # type: ignore[arg-type]
        lines.append(
            f"| {entry['method']} | {entry['images']} | {entry['peak range']} | {metrics} | "
            f"{entry['seconds']:.3f} | {entry['metric_seconds']:.3f} |"
        )
    for metric, title, better in PAIRED:
        paired = paired_rows(rows, metric)
        if not paired:
            continue
        lines += ["", f"Paired differences in {title} on the images both rows have (mean ± 95% interval; {better}):"]
        lines += ["", f"| comparison | images | {title} difference | higher / ties / lower |", "|---|---|---|---|"]
        for entry in paired:
            lines.append(
                f"| {entry['comparison']} | {entry['images']} | {_signed(entry['difference'])} | "  # type: ignore[arg-type]
                f"{entry['wins']} / {entry['ties']} / {entry['losses']} |"
            )
    return "\n".join(lines) + "\n\n" + ROW_NOTES + "\n"
