"""Honest ADVISE: choose a group rule on a design half of the photos, report it on the check half.

The photos of a labelled folder (sorted by name) are split into two interleaved halves: design =
positions 0, 2, 4, ...; check = 1, 3, 5, .... ``--per-half N`` takes N photos spread evenly over
each half. Every network is evaluated on both halves with ADVISE (its groups, and the auto,
confidence and weighted rules) and the fast baselines (Grad-CAM, Grad-CAM++, Layer-CAM); Score-CAM
and LIME run on the first ``--slow-limit`` photos of the check half only. AVX, deletion and
insertion AUC are recorded for every map. The rule with the best worst-case lower bound of its
paired AVX difference against the baselines *on the design half* is the one reported; the check
half's numbers are printed for every rule, so a reader can see what the choice cost.

Run (CPU, about an hour for two networks at the defaults on a 2-core machine):

    TORCH_HOME=../shared/assets/torch-home python benchmarks/honest_advise.py \\
        --images ../shared/assets/imagenet-samples --out honest-advise

Resumable: every evaluation appends to its own records.csv under ``--out``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from captum_advise.data import labelled_folder
from captum_advise.evaluation import EvaluationConfig, ProtocolOptions, run_evaluation
from captum_advise.evaluation.intervals import mean_interval
from captum_advise.evaluation.summary import (
    ADVISE_RULES,
    ORACLE,
    method_titles,
    per_image_lines,
    summary_table,
)
from captum_advise.models import load_model
from captum_advise.runs.output_files import atomic_write_text

FAST = ("advise", "gradcam", "gradcampp", "layercam")
METHOD_TITLES = method_titles()
SLOW = ("scorecam", "lime")
RULE_TITLES = list(ADVISE_RULES.values())


def halves(folder: Path, per_half: int) -> dict[str, list]:
    records = labelled_folder(folder)
    split = {"design": records[0::2], "check": records[1::2]}
    return {name: half[:: max(1, len(half) // per_half)][:per_half] for name, half in split.items()}


def evaluate_half(model: str, records: list, out: Path, args: argparse.Namespace, slow: bool) -> list[dict]:
    loaded = load_model(model, "IMAGENET1K_V1", device=args.device)
    methods = [*FAST, *SLOW] if slow else list(FAST)
    config = EvaluationConfig(
        methods=methods,
        batch_size=args.batch_size,
        device=args.device,
        protocol=ProtocolOptions(auc_steps=args.auc_steps, areas=()),
        controls=False,
        method_limits={method: args.slow_limit for method in SLOW},
        method_options={"advise": {"rules": ("confidence", "weighted")}},
    )
    return run_evaluation(loaded, records, out, config, progress=True)


def paired(rows: list[dict], metric: str) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(ADVISE line, baseline) -> (mean difference, half-width, images) on the images both have."""
    lines = per_image_lines(rows)
    values = {
        title: {row["image"]: float(row[metric]) for row in chosen if row[metric] != ""}
        for title, chosen in lines.items()
    }
    result = {}
    for advise in [ORACLE, *RULE_TITLES]:
        for baseline in METHOD_TITLES.values():
            if advise not in values or baseline not in values:
                continue
            common = sorted(values[advise].keys() & values[baseline].keys())
            if len(common) >= 2:
                differences = [values[advise][image] - values[baseline][image] for image in common]
                mean, half = mean_interval(differences)
                result[(advise, baseline)] = (mean, half, len(common))
    return result


def worst_lower_bound(comparisons: dict, rule: str) -> float:
    bounds = [mean - half for (advise, _), (mean, half, _) in comparisons.items() if advise == rule]
    return min(bounds) if bounds else float("-inf")


def report(model: str, design: list[dict], check: list[dict]) -> str:
    design_avx = paired(design, "avx")
    chosen = max(RULE_TITLES, key=lambda rule: worst_lower_bound(design_avx, rule))
    lines = [f"## {model}", ""]
    lines.append("Design half, AVX: worst lower 95% bound of the paired difference against the fast baselines")
    lines.append("")
    for rule in RULE_TITLES:
        mark = " **(chosen)**" if rule == chosen else ""
        lines.append(f"- {rule}: {worst_lower_bound(design_avx, rule):+.3f}{mark}")
    lines += ["", "Check half: paired differences (ADVISE line - baseline), mean ± 95% interval (images)", ""]
    for metric, better in (("avx", "higher"), ("insertion", "higher"), ("deletion", "lower")):
        comparisons = paired(check, metric)
        lines += [f"{metric} ({better} is better):", "", "| ADVISE line | " + " | ".join(METHOD_TITLES.values()) + " |"]
        lines.append("|---|" + "---|" * len(METHOD_TITLES))
        for advise in [ORACLE, *RULE_TITLES]:
            cells = []
            for baseline in METHOD_TITLES.values():
                entry = comparisons.get((advise, baseline))
                cells.append("" if entry is None else f"{entry[0]:+.3f} ± {entry[1]:.3f} ({entry[2]})")
            lines.append(f"| {advise}{' (chosen)' if advise == chosen else ''} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Check half, every line:", "", summary_table(check)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_images = Path(os.environ.get("ADVISE_SHARED", "../shared")) / "assets" / "imagenet-samples"
    parser.add_argument("--images", type=Path, default=default_images)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_lite0")
    parser.add_argument("--per-half", type=int, default=100)
    parser.add_argument("--slow-limit", type=int, default=16, help="Score-CAM and LIME on this many check photos")
    parser.add_argument("--auc-steps", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--stage", choices=("design", "check", "slow", "report", "all"), default="all")
    args = parser.parse_args()
    split = halves(args.images, args.per_half)
    models = [m for m in args.models.split(",") if m]
    stages = ("design", "check", "slow") if args.stage == "all" else (args.stage,)
    for stage in stages:
        if stage == "report":
            continue
        for model in models:
            half = "design" if stage == "design" else "check"
            print(f"{model}: {stage} ({len(split[half])} photos)", flush=True)
            evaluate_half(model, split[half], args.out / model / half, args, slow=stage == "slow")
    from captum_advise.evaluation import read_records

    sections = []
    for model in models:
        design = read_records(args.out / model / "design" / "records.csv")
        check = read_records(args.out / model / "check" / "records.csv")
        if design and check:
            sections.append(report(model, design, check))
    text = "# Honest ADVISE: rule chosen on the design half, reported on the check half\n\n" + "\n\n".join(sections)
    atomic_write_text(args.out / "honest_advise.md", text)
    print(text)


if __name__ == "__main__":
    main()
