"""summary.md: a Table-1-style table from records.csv, ADVISE with and without the oracle, and paired AVX differences.

The page stands on its own: a heading with the run's model, weights, layer, photos and options; the
table with short method names, AVX first, and a legend below it for the rows present. Intervals are
95% intervals over images: Wilson's for hit (a proportion), Student-t's for the other means (the
samples are often small: 8 or 16 images, where the normal z would be about 10-17% too narrow),
kept inside each measure's range; rows with fewer than 10 images are marked, since their intervals
are unreliable.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from captum_advise.evaluation.intervals import mean_interval

__all__ = ["METHOD_TITLES", "paired_rows", "per_image_lines", "summary_heading", "summary_rows", "summary_table"]

METHOD_TITLES = {
    "gradcam": "Grad-CAM",
    "gradcampp": "Grad-CAM++",
    "scorecam": "Score-CAM",
    "layercam": "Layer-CAM",
    "lime": "LIME",
}
ORACLE = "ADVISE oracle"
AUTO = "ADVISE auto"
CONFIDENCE = "ADVISE confidence"
WEIGHTED = "ADVISE weighted"
ADVISE_RULES = {"advise-auto": AUTO, "advise-confidence": CONFIDENCE, "advise-weighted": WEIGHTED}
ADVISE_LINES = (ORACLE, *ADVISE_RULES.values())
LEGEND = {
    ORACLE: "best of ADVISE's own groups per image, by AVX itself (the paper's Table 1)",
    AUTO: "the group with the most Grad-CAM evidence (no metric used)",
    CONFIDENCE: "the group whose Score-CAM-masked input the model is surest of (no metric used)",
    WEIGHTED: "the group maps weighted by that confidence (no metric used)",
    "Grad-CAM": "pytorch-grad-cam's GradCAM",
    "Grad-CAM++": "pytorch-grad-cam's GradCAMPlusPlus",
    "Score-CAM": "pytorch-grad-cam's ScoreCAM",
    "Layer-CAM": "pytorch-grad-cam's LayerCAM",
    "LIME": "MATLAB's imageLIME (superpixels, a tree surrogate, the top 5 kept)",
}
# Where a measure's mean must lie, so its interval is kept there too (AVX has no such bound: a
# negative SSIM can push it outside [0, 1]).
RANGES = {"ad": (0.0, 1.0), "ssim": (-1.0, 1.0), "fsim": (0.0, 1.0), "mse": (0.0, 1.0)}
RANGES |= {"deletion": (0.0, 1.0), "insertion": (0.0, 1.0)}
FEW_IMAGES = 10
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
METRICS = ("avx", "hit", "ad", "ssim", "fsim", "mse", "deletion", "insertion")
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
        entry["peak range"] = peak_range if title in ADVISE_LINES else ""
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
    for advise in ADVISE_LINES:
        for baseline in baselines if advise in values else []:
            common = sorted(values[advise].keys() & values[baseline].keys())
            differences = [values[advise][image] - values[baseline][image] for image in common]
            if not differences:
                continue
            table.append(
                {
                    "comparison": f"{advise} vs {baseline}",
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


def _wilson(successes: float, count: int, z: float = 1.959964) -> tuple[float, float]:
    share = successes / count
    centre = (share + z * z / (2 * count)) / (1 + z * z / count)
    half = z * math.sqrt(share * (1 - share) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return centre - half, centre + half


def _interval(metric: str, values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): Wilson's interval for hit, Student-t's otherwise, kept in the measure's range."""
    if not values:
        return math.nan, math.nan, math.nan
    mean, half = mean_interval(values)
    if metric == "hit":
        return (mean, *_wilson(sum(values), len(values)))
    low, high = RANGES.get(metric, (-math.inf, math.inf))
    return mean, max(mean - half, low), min(mean + half, high)


def _format(value: tuple[float, float, float]) -> str:
    mean, low, high = value
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" if math.isnan(low) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def summary_heading(settings: dict[str, object], photos: int, source: str | None = None) -> str:
    """The page's heading: what was evaluated, on what, and how (from the run's recorded settings)."""
    title = (
        f"# AVX evaluation: {settings.get('model')} ({settings.get('weights')} weights), layer {settings.get('layer')}"
    )
    where = f" from {source}" if source else ""
    shown = {key: value for key, value in settings.items() if key not in ("experiment", "model", "weights", "layer")}
    options = ", ".join(f"{key} {value}" for key, value in shown.items())
    return f"{title}\n\n{photos} photo{'s' * (photos != 1)}{where}. Settings: {options}.\n\n"


def summary_table(rows: list[dict[str, str]], heading: str = "") -> str:
    """The markdown page: ``heading``, the table (mean [95% interval] over images), paired differences, legend."""
    columns = ["method", "images", "AVX ↑", "hit ↑", "AD ↓", "SSIM ↑", "FSIM ↑", "MSE ↓"]
    columns += ["deletion AUC ↓", "insertion AUC ↑", "peak range", "s/image (maps)", "s/image (metrics)"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    entries = summary_rows(rows)
    lines_of = per_image_lines(rows)
    for entry in entries:
        chosen = lines_of[entry["method"]]  # type: ignore[index]
        intervals = [_interval(m, [float(r[m]) for r in chosen if r[m] != ""]) for m in METRICS]
        few = " *" if int(entry["images"]) < FEW_IMAGES else ""  # type: ignore[call-overload]
        lines.append(
            f"| {entry['method']} | {entry['images']}{few} | {' | '.join(_format(i) for i in intervals)} | "
            f"{entry['peak range']} | {entry['seconds']:.3f} | {entry['metric_seconds']:.3f} |"
        )
    notes = [
        "",
        "Mean [95% interval] over images: Wilson's for hit, Student-t's for the others, kept in each measure's range.",
    ]
    if any(int(entry["images"]) < FEW_IMAGES for entry in entries):  # type: ignore[call-overload]
        notes.append(f"\\* fewer than {FEW_IMAGES} images (n < {FEW_IMAGES}): intervals unreliable.")
    present = [str(entry["method"]) for entry in entries]
    notes += ["", "Methods: " + "; ".join(f"**{m}**: {LEGEND[m]}" for m in present if m in LEGEND) + "."]
    lines += notes
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
    advise_notes = "\n\n" + ROW_NOTES if any(m in ADVISE_LINES for m in present) else ""
    return heading + "\n".join(lines) + advise_notes + "\n"
