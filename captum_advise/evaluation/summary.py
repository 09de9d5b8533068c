"""summary.md: a Table-1-style table from records.csv, with its controls, matched areas and paired tests.

The page stands on its own: a heading with the run's model, weights, layer, photos and options;
what the comparisons say, family by family, with the statistics the run declared before its data
(:mod:`captum_advise.evaluation.families`: primary measure, margin, families, Holm within each;
every verdict word follows its family's adjusted p); the table with short method names, AVX first,
and a legend below it for the rows present; where each line's AVX comes from (hit, the CS check's
pass rate, the share of its AVX earned on photos where the class was lost); AVX at matched areas
under every scoring; and the paired differences. A row of the random-groups twin is, per image,
the mean over its draws (the oracle's best group is taken within each draw first). Intervals are
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
from captum_advise.evaluation.families import FAMILIES, FAMILY_TEXT, AnalysisPlan, Comparison, compare
from captum_advise.evaluation.intervals import bounded_interval, mean_interval

__all__ = [
    "control_titles",
    "format_interval",
    "legend",
    "lost_class_table",
    "measure_title",
    "method_titles",
    "per_image_lines",
    "planned_comparisons",
    "sorted_lines",
    "summary_heading",
    "summary_rows",
    "summary_table",
    "tested_measures",
    "verdict_of",
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
    "masked photo and the photo are, **MSE** (↓) how far apart; only AD asks the model. **Hit** (↑) says "
    "whether the predicted class stays among the masked photo's top five. Where it does not, the reference "
    "penalises the four scores by the **CS** check, a property of the two top classes' maps, not of the masked "
    "photo: maps that correlate above τ score AVX 0, the others have their scores scaled by the probability "
    "gap (so a map can lose the class and keep a high AVX). The scoring *zero* (`avx/zero`) gives every lost "
    "class AVX 0 whatever its CS, and treats every method alike. **Deletion** (↓) and **insertion** (↑) AUC "
    "(RISE) follow the class's probability as pixels are removed or added in the map's order. The "
    "**controls** ({controls}, and ADVISE's random groups) use nothing the model learnt, or nothing of "
    "ADVISE's grouping; *Brightness* uses no model at all: a method shows something only where it scores "
    "above them. A map that keeps more of the photo scores higher whatever it shows, so every map is also "
    "scored keeping the same share of pixels (**matched areas**, q; ties between equal values broken at "
    "random). What the comparisons say comes first; the tables follow."
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
DEFAULT_PLAN = AnalysisPlan()
# Measures the comparisons test besides the AVX columns, and whether higher is better.
CURVES = {"insertion": True, "deletion": False}
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


def sorted_lines(lines: Iterable[str]) -> list[str]:
    """Table lines in the summaries' order: ADVISE's lines with their twins, the methods, the controls."""
    return sorted(lines, key=_order)


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


def _comparisons(titles: Iterable[str]) -> list[tuple[str, str, str]]:
    """(line, reference, family on the primary measure): each ADVISE line against its twin and Grad-CAM
    (primary) and every other baseline (secondary), and every method line against every control (controls)."""
    present = set(titles)
    controls_of_catalogue = [t for t in control_titles().values() if t in present]
    methods = [t for t in (*ADVISE_LINES, *method_titles().values()) if t in present]
    baselines = [t for t in method_titles().values() if t in present]
    gradcam = title_of("gradcam")
    pairs = []
    for advise in (line for line in ADVISE_LINES if line in present):
        if TWINS[advise] in present:
            pairs.append((advise, TWINS[advise], "primary"))
        pairs += [(advise, b, "primary" if b == gradcam else "secondary") for b in baselines]
    pairs += [(method, control, "controls") for method in methods for control in controls_of_catalogue]
    return pairs


def tested_measures(rows: list[dict[str, str]]) -> list[str]:
    """The columns the comparisons test: every AVX column (each area, each scoring), then deletion and
    insertion where the run computed them."""
    columns = list(rows[0]) if rows else []
    avx = [column for column in columns if column == "avx" or column.startswith(("avx@", "avx/"))]
    curves = [name for name in CURVES if any(row.get(name, "") != "" for row in rows)]
    return avx + curves


def default_primary_column(rows: list[dict[str, str]]) -> str:
    """The primary measure of records whose run did not name one: ``avx@0.5/zero`` where they have it,
    else the first of ``avx@0.5``, the largest area's AVX, ``avx``."""
    columns = list(rows[0]) if rows else ["avx"]
    for column in ("avx@0.5/zero", "avx@0.5"):
        if column in columns:
            return column
    areas = area_levels(rows)
    return f"avx@{max(areas, key=float)}" if areas else "avx"


def planned_comparisons(
    rows: list[dict[str, str]], plan: AnalysisPlan = DEFAULT_PLAN, primary: str | None = None
) -> list[Comparison]:
    """Every comparison of :func:`_comparisons` on every tested measure, in its family, Holm within it.

    ``primary``: the primary measure's column (None: :func:`default_primary_column`). An oracle line
    takes each image's best group by the measure compared (it chooses by the measure it is scored with).
    """
    primary = primary or default_primary_column(rows)
    values = {}
    for measure in tested_measures(rows):
        lines = per_image_lines(rows, measure if measure.startswith("avx") else "avx")
        values[measure] = {
            title: {row["image"]: float(row[measure]) for row in chosen if row.get(measure, "") != ""}
            for title, chosen in lines.items()
        }
    titles = [title for title, by_image in values.get(primary, values.get("avx", {})).items() if by_image]
    return compare(values, _comparisons(titles), primary, plan)


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def measure_title(measure: str) -> str:
    """``avx@0.5/zero`` -> ``AVX, q = 0.5, zero``; ``avx`` -> ``AVX, mask``: where the pixels kept are
    chosen (the reference's mask or a matched area), then the scoring where it is not the run's first."""
    if measure in CURVES:
        return f"{measure} AUC"
    column, _, penalty = measure.partition("/")
    _, _, area = column.partition("@")
    title = f"AVX, q = {area}" if area else "AVX, mask"
    return f"{title}, {penalty}" if penalty else title


def verdict_of(comparison: Comparison, plan: AnalysisPlan) -> str:
    return comparison.verdict(plan, higher_is_better=CURVES.get(comparison.measure, True))


def _stated(comparison: Comparison) -> str:
    """``+0.012 ± 0.020, d 0.31, Holm p 0.210`` of one comparison."""
    return (
        f"{_signed(comparison.difference)}, d {comparison.effect:.2f}, Holm p {_p(comparison.holm)}"
        if not math.isnan(comparison.effect)
        else f"{_signed(comparison.difference)}, Holm p {_p(comparison.holm)}"
    )


def _plan_lines(comparisons: list[Comparison], plan: AnalysisPlan, primary: str) -> list[str]:
    sizes = {family: sum(c.family == family for c in comparisons) for family in FAMILIES}
    families = "; ".join(f"*{family}* ({sizes[family]}): {FAMILY_TEXT[family]}" for family in FAMILIES)
    return [
        "## What the comparisons say",
        "",
        f"Declared before the data (settings.json): the primary measure is **{primary}** "
        f"({measure_title(primary)}); the equivalence margin ±{plan.margin:g}; the families: {families}. "
        "Every verdict follows the paired sign-flip test's p, Holm-adjusted within its family, at "
        f"{plan.alpha:g}: *better* or *worse* where it is below {plan.alpha:g}, *equivalent within "
        f"±{plan.margin:g}* where the two one-sided tests' Holm-adjusted p is, else *not shown to differ*. "
        "Differences are the line minus the reference per photo (mean ± 95% interval), d the paired effect size.",
    ]


def _verdict_section(comparisons: list[Comparison], plan: AnalysisPlan, primary: str) -> list[str]:
    """The primary family comparison by comparison, the controls family control by control, and how the
    secondary family came out."""
    lines = ["", *_plan_lines(comparisons, plan, primary), "", "Primary family:", ""]
    primary_family = [c for c in comparisons if c.family == "primary"]
    for c in primary_family:
        reference = "its random-groups twin" if c.reference in TWINS.values() else c.reference
        lines.append(f"- {c.line} minus {reference}, {c.images} images: {_stated(c)}: {verdict_of(c, plan)}.")
    if not primary_family:
        lines.append("- none: the run has no ADVISE line with its twin or Grad-CAM.")
    controls = [c for c in comparisons if c.family == "controls"]
    if controls:
        lines += ["", "Controls family (each method minus the control):", ""]
    for control in dict.fromkeys(c.reference for c in controls):
        verdicts: dict[str, list[str]] = defaultdict(list)
        for c in (c for c in controls if c.reference == control):
            verdicts[verdict_of(c, plan)].append(f"{c.line} ({_stated(c)})")
        parts = [
            f"{verdict} than it: {', '.join(names)}"
            for verdict, names in verdicts.items()
            if verdict in ("better", "worse")
        ]
        parts += [
            f"{verdict}: {', '.join(names)}"
            for verdict, names in verdicts.items()
            if verdict not in ("better", "worse")
        ]
        lines.append(f"- {control}: " + "; ".join(parts) + ".")
    secondary = [c for c in comparisons if c.family == "secondary"]
    if secondary:
        counts: dict[str, int] = defaultdict(int)
        for c in secondary:
            counts[verdict_of(c, plan)] += 1
        told = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
        lines += ["", f"Secondary family ({len(secondary)} comparisons, every measure): {told}; see the tables below."]
    return lines


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
    # The analysis plan is stated where the comparisons are.
    hidden = ("experiment", "model", "weights", "layer")
    shown = {k: v for k, v in settings.items() if k not in hidden and not k.startswith("analysis.")}
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


def summary_table(
    rows: list[dict[str, str]], heading: str = "", plan: AnalysisPlan = DEFAULT_PLAN, primary: str | None = None
) -> str:
    """The markdown page: ``heading``, what the comparisons say (the declared families and their
    verdicts), the table (mean [95% interval] over images), where each line's AVX comes from, AVX at
    matched areas under every scoring, the paired differences, and the legend.

    ``primary``: the primary measure's records column (None: :func:`default_primary_column`).
    """
    primary = primary or default_primary_column(rows)
    comparisons = planned_comparisons(rows, plan, primary)
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
        "Mean [95% interval] over images: Wilson's for hit, Student-t's for the others, kept in each measure's range; "
        "AD, SSIM, FSIM, MSE and AVX under the run's first scoring. *Area kept*: the share of the image the "
        "reference's mask keeps (the map at or above 0.5); a map that keeps more of the image scores higher under "
        "AVX whatever it shows, so compare methods at matched areas too.",
    ]
    if any(int(entry["images"]) < FEW_IMAGES for entry in entries):  # type: ignore[call-overload]
        notes.append(f"\\* fewer than {FEW_IMAGES} images (n < {FEW_IMAGES}): intervals unreliable.")
    present = [str(entry["method"]) for entry in entries]
    lines_legend = legend()
    notes += ["", "Methods: " + "; ".join(f"**{m}**: {lines_legend[m]}" for m in present if m in lines_legend) + "."]
    lines += notes
    areas = area_levels(rows)
    guide = READING_GUIDE.format(controls=", ".join(control_titles().values()))
    lines = [guide, *_verdict_section(comparisons, plan, primary), "", "## The measures, method by method", "", *lines]
    lines += ["", *lost_class_table(rows, areas)]
    avx_measures = [m for m in tested_measures(rows) if m.startswith("avx") and m != "avx"]
    if avx_measures:
        lines += [
            "",
            "AVX at matched areas and under the other scorings: each map keeps exactly its top q of the pixels "
            "(ties broken at random, seeded by the map and the photo, unless the run asked for row-major ties).",
            "",
            "| method | " + " | ".join(measure_title(m) for m in avx_measures) + " |",
            "|---|" + "---|" * len(avx_measures),
        ]
        by_measure = {m: per_image_lines(rows, m) for m in avx_measures}
        for title in sorted(lines_of, key=_order):
            values = [[float(r[m]) for r in by_measure[m][title] if r.get(m, "") != ""] for m in avx_measures]
            lines.append(f"| {title} | " + " | ".join(format_interval(_interval("avx", v)) for v in values) + " |")
    lines += _paired_tables(comparisons, plan)
    advise_notes = "\n\n" + ROW_NOTES if any(m in ADVISE_LINES for m in present) else ""
    return heading + "\n".join(lines) + advise_notes + "\n"


def lost_class_table(rows: list[dict[str, str]], areas: list[str]) -> list[str]:
    """Per line: the CS check's pass rate, and under the reference's mask and at each matched area, hit
    (Wilson) and the share of its AVX earned on photos where the class was lost (the first scoring)."""
    places = [("", "mask")] + [(f"@{area}", f"q = {area}") for area in areas]
    header = ["method", "CS check passed"]
    for _, name in places:
        header += [f"hit, {name}", f"AVX from lost class, {name}"]
    table = [
        "Where the AVX comes from: hit [Wilson 95% interval]; the share of the photos whose maps pass the CS check "
        "(a property of the two class maps, the same at every area); and the share of the line's summed AVX that "
        "comes from masked photos that lost the class (under the reference's penalty a lost class keeps a scaled AVX "
        "where the check passes).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    # Each area's lines once (the oracle picks its group by that area's AVX).
    by_area = {suffix: per_image_lines(rows, f"avx{suffix}") for suffix, _ in places if suffix}
    for title, chosen in sorted(per_image_lines(rows).items(), key=lambda item: _order(item[0])):
        checks = [float(r["check"]) for r in chosen if r.get("check", "") != ""]
        cells = [title, f"{sum(checks) / len(checks):.2f}" if checks else "n/a"]
        for suffix, _ in places:
            by_measure = by_area[suffix][title] if suffix else chosen
            hits = [float(r[f"hit{suffix}"]) for r in by_measure if r.get(f"hit{suffix}", "") != ""]
            scores = [
                (float(r[f"avx{suffix}"]), float(r[f"hit{suffix}"]))
                for r in by_measure
                if r.get(f"hit{suffix}", "") != ""
            ]
            total = sum(value for value, _ in scores)
            lost = sum(value * (1 - hit) for value, hit in scores)
            cells += [format_interval(_interval("hit", hits)), f"{lost / total:.2f}" if total > 0 else "n/a"]
        table.append("| " + " | ".join(cells) + " |")
    return table


def _paired_tables(comparisons: list[Comparison], plan: AnalysisPlan) -> list[str]:
    """One table per measure: every comparison with its family, tests and verdict."""
    lines = []
    for measure in dict.fromkeys(c.measure for c in comparisons):
        mine = [c for c in comparisons if c.measure == measure]
        better = "lower is better" if not CURVES.get(measure, True) else "higher is better"
        lines += [
            "",
            f"Paired differences in {measure_title(measure)} (`{measure}`; {better}) on the images both rows have: "
            "mean ± 95% interval, paired effect size d, the paired t-test's p, the sign-flip test's p and its Holm "
            f"adjustment within the family, and the equivalence test's (±{plan.margin:g}) Holm-adjusted p.",
            "",
            "| comparison | family | images | difference | d | t-test p | sign-flip p | Holm p | "
            "equivalence Holm p | higher / ties / lower | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in mine:
            effect = "n/a" if math.isnan(c.effect) else f"{c.effect:.2f}"
            lines.append(
                f"| {c.line} vs {c.reference} | {c.family} | {c.images} | {_signed(c.difference)} | {effect} | "
                f"{_p(c.p_t)} | {_p(c.p)} | {_p(c.holm)} | {_p(c.holm_equivalence)} | "
                f"{c.wins} / {c.ties} / {c.losses} | {verdict_of(c, plan)} |"
            )
    return lines
