"""summary.md: a Table-1-style table from records.csv, with its controls, matched areas and paired tests.

The page stands on its own: a heading with the run's model, weights, layer, photos and options; the
table with short method names, AVX first, and a legend below it for the rows present; what the
comparisons say, in sentences (which controls score at or above which methods; each ADVISE row
against its random-groups twin); AVX at matched areas; and the paired differences with Holm-adjusted
p-values. A row of the random-groups twin is, per image, the mean over its draws (the oracle's
best group is taken within each draw first). Intervals are
95% intervals over images: Wilson's for hit (a proportion), Student-t's for the other means (the
samples are often small: 8 or 16 images, where the normal z would be about 10-17% too narrow),
kept inside each measure's range; rows with fewer than 10 images are marked, since their intervals
are unreliable.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from captum_advise.catalogue import CATALOGUE, method_names, title_of
from captum_advise.evaluation.intervals import bounded_interval, holm, mean_interval, paired_p_value

__all__ = [
    "control_titles",
    "format_interval",
    "legend",
    "method_titles",
    "paired_rows",
    "per_image_lines",
    "summary_heading",
    "summary_rows",
    "summary_table",
]

ORACLE = "ADVISE oracle"
AUTO = "ADVISE auto"
CONFIDENCE = "ADVISE confidence"
WEIGHTED = "ADVISE weighted"
ADVISE_RULES = {"advise-auto": AUTO, "advise-confidence": CONFIDENCE, "advise-weighted": WEIGHTED}
ADVISE_LINES = (ORACLE, *ADVISE_RULES.values())
TWIN = "random-groups"
TWIN_SUFFIX = ", random groups"
# Each ADVISE line's random-groups twin: the same rule on a random partition of the same group sizes.
TWINS = {line: line + TWIN_SUFFIX for line in ADVISE_LINES}
ADVISE_LEGEND = {
    ORACLE: "best of ADVISE's own groups per image, by AVX itself (the paper's Table 1)",
    AUTO: "the group with the most Grad-CAM evidence (no metric used)",
    CONFIDENCE: "the group whose Score-CAM-masked input the model is surest of (no metric used)",
    WEIGHTED: "the group maps weighted by that confidence (no metric used)",
}
ADVISE_LEGEND |= {
    twin: f"control: {line}'s rule on a random partition of the units into groups of ADVISE's sizes"
    for line, twin in TWINS.items()
}


def method_titles() -> dict[str, str]:
    """The title of each catalogue method compared with ADVISE (pytorch-grad-cam's and LIME), by name."""
    return {name: title_of(name) for name in method_names("library", "lime")}


def control_titles() -> dict[str, str]:
    """The title of each control of the catalogue, by name."""
    return {name: title_of(name) for name in method_names("control")}


def legend() -> dict[str, str]:
    """Each table line's one-line explanation, by title: ADVISE's lines and every catalogue method's."""
    rows = {CATALOGUE[name].title: CATALOGUE[name].legend for name in method_names("library", "lime", "control")}
    return ADVISE_LEGEND | rows


# Where a measure's mean must lie, so its interval is kept there too (AVX has no such bound: a
# negative SSIM can push it outside [0, 1]).
RANGES = {"ad": (0.0, 1.0), "ssim": (-1.0, 1.0), "fsim": (0.0, 1.0), "mse": (0.0, 1.0)}
RANGES |= {"deletion": (0.0, 1.0), "insertion": (0.0, 1.0), "area": (0.0, 1.0)}
FEW_IMAGES = 10
READING_GUIDE = (
    "How to read this page. Each method's map of a photo is used as a mask, and the masked photo is given to "
    "the model again. **AVX** (↑, the paper's score) is the harmonic mean of 1 - AD, SSIM, FSIM and 1 - MSE: "
    "**AD** (↓) is the drop of the predicted class's probability, **SSIM** and **FSIM** (↑) how alike the "
    "masked photo and the photo are, **MSE** (↓) how far apart. **Hit** (↑) says whether the predicted class "
    "stays among the masked photo's top five; where it does not, the four scores are penalised (scaled down, "
    "or AVX 0 when the maps of the two top classes correlate above τ: the **CS** check). **Deletion** (↓) and "
    "**insertion** (↑) AUC (RISE) follow the class's probability as pixels are removed or added in the map's "
    "order. The **controls** (random map, centre prior, RandomCAM, SobelCAM and ADVISE's random groups) use "
    "nothing the model learnt, or nothing of ADVISE's grouping: a method shows something only where it scores "
    "above them. A map that keeps more of the photo scores higher whatever it shows, so every map is also "
    "scored keeping the same share of pixels (**matched areas**, q). What the comparisons say comes first; "
    "the tables follow."
)
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
METRICS = ("avx", "hit", "ad", "ssim", "fsim", "mse", "deletion", "insertion", "area")
PAIRED = (
    ("avx", "AVX", "higher is better"),
    ("insertion", "insertion AUC", "higher is better"),
    ("deletion", "deletion AUC", "lower is better"),
)
# Columns of a records row that are not averaged over a twin's draws.
LABEL_COLUMNS = ("image", "label", "predicted", "second", "method", "group", "units", "draw")


def _line_of(method: str) -> str:
    """The table line of a records method name (``advise`` rows are the oracle's candidates)."""
    twin = method.startswith(f"advise-{TWIN}")
    base = method.replace(f"-{TWIN}", "") if twin else method
    title = ORACLE if base == "advise" else ADVISE_RULES.get(base) or title_of(base)
    return TWINS[title] if twin else title


def _mean_row(rows: list[dict[str, str]]) -> dict[str, str]:
    """Rows of one image (a twin's draws) as one: each number the mean over the rows that have it."""
    if len(rows) == 1:
        return rows[0]
    merged = dict(rows[0])
    for column in merged:
        if column in LABEL_COLUMNS:
            continue
        values = [float(row[column]) for row in rows if row[column] != ""]
        merged[column] = f"{sum(values) / len(values):.6g}" if values else ""
    return merged


def per_image_lines(rows: Iterable[dict[str, str]], by: str = "avx") -> dict[str, list[dict[str, str]]]:
    """Group the rows into the table's lines: one row per image for each line.

    The oracle lines take each image's best group by ``by`` (AVX, or AVX at a matched area: the
    oracle chooses by the measure it is scored with), within each draw for a twin; a twin's draws
    are then averaged per image.
    """
    draws: dict[tuple[str, str], dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    best: dict[tuple[str, str, str], dict[str, str]] = {}
    for row in rows:
        line = _line_of(row["method"])
        if line in (ORACLE, TWINS[ORACLE]):
            key = (line, row["image"], row["draw"])
            if key not in best or float(row[by]) > float(best[key][by]):
                best[key] = row
        else:
            draws[(line, row["image"])][row["draw"]].append(row)
    for (line, image, draw), row in best.items():
        draws[(line, image)][draw].append(row)
    lines: dict[str, list[dict[str, str]]] = defaultdict(list)
    for (line, _), by_draw in draws.items():
        lines[line].append(_mean_row([chosen[0] for chosen in by_draw.values()]))
    return dict(lines)


def _order(title: str) -> int:
    order = [
        *(line for pair in TWINS.items() for line in pair),
        *method_titles().values(),
        *control_titles().values(),
    ]
    return order.index(title) if title in order else len(order)


def area_levels(rows: list[dict[str, str]]) -> list[str]:
    """The matched areas the rows hold, as written in their columns (``"0.1"``, ``"0.25"``, ...)."""
    return [column.partition("@")[2] for column in (rows[0] if rows else {}) if column.startswith("avx@")]


def summary_rows(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """One entry per table line: title, images, peak range, (mean, half-width) per metric (``avx@q`` at
    each matched area too), seconds."""
    advise_groups = [int(row["group"]) for row in rows if row["method"] == "advise" and row["group"] != ""]
    peak_range = f"{min(advise_groups)}-{max(advise_groups)}" if advise_groups else ""
    lines = per_image_lines(rows)
    matched = {f"avx@{area}": per_image_lines(rows, f"avx@{area}") for area in area_levels(rows)}
    table = []
    for title in sorted(lines, key=_order):
        chosen = lines[title]
        entry: dict[str, object] = {"method": title, "images": len(chosen)}
        entry["peak range"] = peak_range if title in ADVISE_LINES or title in TWINS.values() else ""
        for metric in [*METRICS, *matched]:
            # Deletion and insertion are empty in records of runs that did not compute them; the
            # oracle at a matched area is the best group at that area.
            by_metric = matched[metric][title] if metric in matched else chosen
            values = [float(row[metric]) for row in by_metric if row[metric] != ""]
            entry[metric] = mean_interval(values) if values else (math.nan, math.nan)
        entry["seconds"] = sum(float(row["seconds"]) for row in chosen) / len(chosen)
        entry["metric_seconds"] = sum(float(row["metric_seconds"]) for row in chosen) / len(chosen)
        table.append(entry)
    return table


def _comparisons(titles: Iterable[str]) -> list[tuple[str, str]]:
    """(line, reference) pairs: each ADVISE line against every baseline and its own twin, and every
    method line against every control."""
    present = set(titles)
    controls_of_catalogue = control_titles().values()
    methods = [t for t in (*ADVISE_LINES, *method_titles().values()) if t in present]
    baselines = [t for t in method_titles().values() if t in present]
    controls = [t for t in (*TWINS.values(), *controls_of_catalogue) if t in present]
    pairs = [(advise, baseline) for advise in ADVISE_LINES if advise in present for baseline in baselines]
    pairs += [(advise, TWINS[advise]) for advise in ADVISE_LINES if advise in present and TWINS[advise] in present]
    pairs += [(method, control) for method in methods for control in controls if control in controls_of_catalogue]
    return pairs


def paired_rows(rows: list[dict[str, str]], metric: str = "avx") -> list[dict[str, object]]:
    """Paired differences on the images both lines have: each ADVISE line against every baseline and
    its random-groups twin, and every method against every control.

    Returns:
        One entry per comparison: ``comparison``, ``line``, ``reference``, ``images``, (mean,
        half-width) of the per-image difference (line minus reference), the paired t-test's
        two-sided ``p`` and its Holm-adjusted ``holm`` over the comparisons of this metric, and how
        many images it wins, ties and loses.
    """
    lines = per_image_lines(rows, metric if metric.startswith("avx") else "avx")
    values = {
        title: {row["image"]: float(row[metric]) for row in chosen if row.get(metric, "") != ""}
        for title, chosen in lines.items()
    }
    table = []
    for line, reference in _comparisons(title for title, by_image in values.items() if by_image):
        common = sorted(values[line].keys() & values[reference].keys())
        differences = [values[line][image] - values[reference][image] for image in common]
        if not differences:
            continue
        table.append(
            {
                "comparison": f"{line} vs {reference}",
                "line": line,
                "reference": reference,
                "images": len(common),
                "difference": mean_interval(differences),
                "p": paired_p_value(differences),
                "wins": sum(d > 0 for d in differences),
                "ties": sum(d == 0 for d in differences),
                "losses": sum(d < 0 for d in differences),
            }
        )
    for entry, adjusted in zip(table, holm([float(entry["p"]) for entry in table]), strict=True):
        entry["holm"] = adjusted
    return table


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def _verdicts(rows: list[dict[str, str]], metric: str, title: str) -> list[str]:
    """In words: where each control stands against each method, and each ADVISE line against its twin.

    A control is said to score above a method only where the paired interval of the method minus
    the control lies below 0; where it holds 0 they are not shown to differ.
    """
    paired = paired_rows(rows, metric)
    sentences = []
    above: dict[str, list[str]] = defaultdict(list)
    level: dict[str, list[str]] = defaultdict(list)
    for entry in paired:
        mean, half = entry["difference"]  # type: ignore[misc]
        control = str(entry["reference"])
        if control not in control_titles().values() or mean - half > 0:
            continue
        (above if mean + half < 0 else level)[control].append(f"{entry['line']} ({_signed((mean, half))})")
    for control in control_titles().values():
        if not any(entry["reference"] == control for entry in paired):
            continue
        if above.get(control):
            sentences.append(
                f"- {control} scores above {', '.join(above[control])} (the method minus the control: the 95% "
                "interval below 0)."
            )
        if level.get(control):
            sentences.append(
                f"- {control} is not shown to differ from {', '.join(level[control])} (the method minus the "
                "control: the 95% interval holds 0)."
            )
        if not above.get(control) and not level.get(control):
            sentences.append(f"- {control} is beaten by every method (each paired interval above 0).")
    for entry in paired:
        if entry["reference"] not in TWINS.values():
            continue
        mean, half = entry["difference"]  # type: ignore[misc]
        verdict = (
            "better than random groups of the same sizes"
            if mean - half > 0
            else "worse than random groups of the same sizes"
            if mean + half < 0
            else "not shown to differ from random groups of the same sizes"
        )
        sentences.append(
            f"- {entry['line']} minus its random-groups twin: {_signed((mean, half))} over {entry['images']} "
            f"images (Holm p {_p(float(entry['holm']))}): {verdict}."  # type: ignore[arg-type]
        )
    return [f"What {title} says:", "", *sentences] if sentences else []


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
    if metric == "hit":
        return (sum(values) / len(values), *_wilson(sum(values), len(values)))
    return bounded_interval(values, *RANGES.get(metric, (-math.inf, math.inf)))


def format_interval(value: tuple[float, float, float]) -> str:
    """``mean [lower, upper]`` to three places; the mean alone without an interval, ``n/a`` without a mean."""
    mean, low, high = value
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" if math.isnan(low) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def summary_heading(
    settings: dict[str, object],
    photos: int,
    source: str | None = None,
    methods: Iterable[str] | None = None,
    title: str = "AVX evaluation",
) -> str:
    """The page's heading: what was evaluated, on what, and how (from the run's recorded settings).

    ``methods``: the records' method names; the heading then states the options of those methods
    only (ADVISE's rows count as ``advise``).
    """
    weights = f"{settings.get('weights')} weights"
    title = f"# {title}: {settings.get('model')} ({weights}), layer {settings.get('layer')}"
    where = f" from {source}" if source else ""
    shown = {key: value for key, value in settings.items() if key not in ("experiment", "model", "weights", "layer")}
    options = ", ".join(f"{key} {value}" for key, value in shown.items() if not key.startswith("method_options."))
    if methods is not None:
        ran = {name.partition("-")[0] if name.startswith("advise") else name for name in methods}
        shown = {key: value for key, value in shown.items() if _option_method(key) in ran | {None}}
    method_options = _method_options(shown)
    settings_text = f"{options}; the methods' options: {method_options}" if method_options else options
    return f"{title}\n\n{photos} photo{'s' * (photos != 1)}{where}. Settings: {settings_text}.\n\n"


def _option_method(key: str) -> str | None:
    """The method of a ``method_options.METHOD.OPTION`` setting (None for another setting)."""
    return key.split(".")[1] if key.startswith("method_options.") else None


def _method_options(settings: dict[str, object]) -> str:
    """The flattened ``method_options.METHOD.OPTION`` settings, one entry per option: its value, or each
    value with the methods that have it where they differ."""
    by_option: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for key, value in settings.items():
        if key.startswith("method_options."):
            method, _, option = key.removeprefix("method_options.").partition(".")
            by_option[option][str(value)].append(method)
    entries = []
    for option, values in by_option.items():
        if len(values) == 1:
            entries.append(f"{option} {next(iter(values))}")
        else:
            entries.append(f"{option} " + ", ".join(f"{v} ({', '.join(m)})" for v, m in values.items()))
    return ", ".join(entries)


def summary_table(rows: list[dict[str, str]], heading: str = "") -> str:
    """The markdown page: ``heading``, the table (mean [95% interval] over images), what the comparisons
    say, AVX at matched areas, paired differences with Holm-adjusted p-values, and the legend."""
    columns = ["method", "images", "AVX ↑", "hit ↑", "AD ↓", "SSIM ↑", "FSIM ↑", "MSE ↓"]
    columns += ["deletion AUC ↓", "insertion AUC ↑", "area kept", "peak range", "s/image (maps)", "s/image (metrics)"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    entries = summary_rows(rows)
    lines_of = per_image_lines(rows)
    for entry in entries:
        chosen = lines_of[entry["method"]]  # type: ignore[index]
        intervals = [_interval(m, [float(r[m]) for r in chosen if r.get(m, "") != ""]) for m in METRICS]
        few = " *" if int(entry["images"]) < FEW_IMAGES else ""  # type: ignore[call-overload]
        lines.append(
            f"| {entry['method']} | {entry['images']}{few} | {' | '.join(format_interval(i) for i in intervals)} | "
            f"{entry['peak range']} | {entry['seconds']:.3f} | {entry['metric_seconds']:.3f} |"
        )
    notes = [
        "",
        "Mean [95% interval] over images: Wilson's for hit, Student-t's for the others, kept in each measure's range. "
        "*Area kept*: the share of the image the reference's mask keeps (the map at or above 0.5); a map that keeps "
        "more of the image scores higher under AVX whatever it shows, so compare methods at matched areas too.",
    ]
    if any(int(entry["images"]) < FEW_IMAGES for entry in entries):  # type: ignore[call-overload]
        notes.append(f"\\* fewer than {FEW_IMAGES} images (n < {FEW_IMAGES}): intervals unreliable.")
    present = [str(entry["method"]) for entry in entries]
    lines_legend = legend()
    notes += ["", "Methods: " + "; ".join(f"**{m}**: {lines_legend[m]}" for m in present if m in lines_legend) + "."]
    lines += notes
    areas = area_levels(rows)
    verdicts = _verdict_section(rows, areas)
    lines = [READING_GUIDE, *verdicts, "", "## The measures, method by method", "", *lines]
    if areas:
        lines += [
            "",
            "AVX at matched areas: each map keeps exactly its top q of the pixels (ties in row-major order).",
            "",
        ]
        lines += [
            "| method | " + " | ".join(f"AVX, q = {area}" for area in areas) + " |",
            "|---|" + "---|" * len(areas),
        ]
        by_area = {area: per_image_lines(rows, f"avx@{area}") for area in areas}
        for title in sorted(lines_of, key=_order):
            values = [[float(r[f"avx@{a}"]) for r in by_area[a][title]] for a in areas]
            cells = [format_interval(_interval("avx", area_values)) for area_values in values]
            lines.append(f"| {title} | " + " | ".join(cells) + " |")
    paired_metrics = [*PAIRED[:1], *((f"avx@{a}", f"AVX at q = {a}", "higher is better") for a in areas), *PAIRED[1:]]
    for metric, title, better in paired_metrics:
        paired = paired_rows(rows, metric)
        if not paired:
            continue
        lines += [
            "",
            f"Paired differences in {title} on the images both rows have (mean ± 95% interval; {better}; "
            f"{len(paired)} comparisons, paired t-test p and Holm's adjustment over them):",
        ]
        lines += [
            "",
            f"| comparison | images | {title} difference | p | Holm p | higher / ties / lower |",
            "|---|---|---|---|---|---|",
        ]
        for entry in paired:
            lines.append(
                f"| {entry['comparison']} | {entry['images']} | {_signed(entry['difference'])} | "  # type: ignore[arg-type]
                f"{_p(float(entry['p']))} | {_p(float(entry['holm']))} | "  # type: ignore[arg-type]
                f"{entry['wins']} / {entry['ties']} / {entry['losses']} |"
            )
    advise_notes = "\n\n" + ROW_NOTES if any(m in ADVISE_LINES for m in present) else ""
    return heading + "\n".join(lines) + advise_notes + "\n"


def _verdict_section(rows: list[dict[str, str]], areas: list[str]) -> list[str]:
    section = []
    for metric, title in [("avx", "AVX under the reference's mask"), *((f"avx@{a}", f"AVX at q = {a}") for a in areas)]:
        verdicts = _verdicts(rows, metric, title)
        section += ["", *verdicts] if verdicts else []
    return section
