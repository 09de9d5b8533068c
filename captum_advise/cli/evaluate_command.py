"""``captum-advise evaluate`` and ``merge``: the AVX protocol over a folder of images."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from captum_advise.catalogue import ADVISE_RULES, CATALOGUE, method_names, title_of
from captum_advise.cli.arguments import add_model_arguments, add_new_argument, folder_records, method_list
from captum_advise.cli.choices import PENALTIES, UPSAMPLE_MODES

if TYPE_CHECKING:
    from captum_advise.data import ImageRecord
    from captum_advise.evaluation import AnalysisPlan, ProtocolOptions

__all__ = ["add_evaluate_command", "add_merge_command", "default_methods", "evaluator_method_options", "plan_line"]

LOGGER = logging.getLogger("captum_advise")


def _method_limits(text: str) -> dict[str, int]:
    limits = {}
    for item in filter(None, text.split(",")):
        name, _, count = item.partition("=")
        if name not in CATALOGUE or not count.isdigit():
            raise argparse.ArgumentTypeError(f"--method-limit wants METHOD=N[,METHOD=N], got {item!r}")
        limits[name] = int(count)
    return limits


def _areas(text: str) -> tuple[float, ...]:
    if text.strip() == "none":
        return ()
    areas = []
    for item in text.split(","):
        try:
            area = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--areas wants numbers in (0, 1) such as 0.1,0.25,0.5, got {item!r}"
            ) from None
        if not 0 < area < 1:
            raise argparse.ArgumentTypeError(f"--areas values must lie in (0, 1), got {item!r}")
        areas.append(area)
    if len({f"{area:g}" for area in areas}) != len(areas):
        raise argparse.ArgumentTypeError(f"--areas values must be distinct, got {text!r}")
    return tuple(areas)


def _penalties(text: str) -> tuple[str, ...]:
    names = tuple(item.strip() for item in text.split(","))
    unknown = [name for name in names if name not in PENALTIES]
    if unknown:
        raise argparse.ArgumentTypeError(f"--penalty wants names from {', '.join(PENALTIES)}, got {', '.join(unknown)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"--penalty names must be distinct, got {text!r}")
    return names


def _margin(text: str) -> float:
    try:
        margin = float(text)
    except ValueError:
        margin = float("nan")
    if not margin > 0 or margin == float("inf"):
        raise argparse.ArgumentTypeError(f"--margin wants a number > 0 (in AVX units, e.g. 0.02), got {text!r}")
    return margin


def _primary(text: str) -> str:
    import re

    if not re.fullmatch(r"avx(@[0-9.]+)?(/[a-z_]+)?", text):
        raise argparse.ArgumentTypeError(f"--primary wants avx, avx@Q, avx/PENALTY or avx@Q/PENALTY, got {text!r}")
    return text


def _draws(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--random-group-draws wants a whole number >= 1, got {text!r}")
    return int(text)


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()):
        raise argparse.ArgumentTypeError(f"--shard wants I/N (e.g. 2/4), got {text!r}")
    return int(index), int(count)


def _rules(text: str) -> tuple[str, ...]:
    rules = tuple(rule for rule in text.split(",") if rule and rule != "none")
    unknown = [rule for rule in rules if rule not in ADVISE_RULES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown ADVISE rule(s) {unknown}: choose from {','.join(ADVISE_RULES)}")
    return rules


def add_evaluate_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="the AVX protocol: ADVISE against the baselines on a folder of images",
        description="Explain every image with every method, mask it with each map, re-classify, and score "
        "(CS, Hit, AD, SSIM, FSIM, MSE, AVX). Writes records.csv (one row per image x method x ADVISE group; "
        "resumed if present) and summary.md (a Table-1-style table).",
    )
    add_model_arguments(parser)
    parser.add_argument("--images", type=Path, required=True, help="image folder")
    parser.add_argument(
        "--labels", type=Path, help="CSV of 'file,class' rows [default: class index from the file-name prefix, if any]"
    )
    parser.add_argument(
        "--methods",
        type=method_list,
        help=f"methods to compare, from {','.join(CATALOGUE)}, or 'all' (every one but the controls) [default on a "
        f"GPU: {','.join(default_methods('cuda'))}, the paper's set; on a CPU: {','.join(default_methods('cpu'))}, "
        "those of seconds per photo; the controls are added unless --no-controls]",
    )
    parser.add_argument(
        "--no-controls",
        action="store_true",
        help=f"leave out the controls ({','.join(method_names('control'))}) and ADVISE's random-groups twin "
        "[default: evaluate them with every run: a method only means something where it beats them]",
    )
    parser.add_argument(
        "--random-group-draws",
        type=_draws,
        default=2,
        help="random partitions of the units into groups of ADVISE's sizes per image (the advise-random-groups "
        "rows, averaged per image in the summary) [default: 2]",
    )
    parser.add_argument(
        "--areas",
        type=_areas,
        default=(0.1, 0.25, 0.5),
        help="matched areas: each map is also scored keeping exactly its top q of the pixels, for each q; "
        "'none' turns them off [default: 0.1,0.25,0.5]",
    )
    parser.add_argument(
        "--penalty",
        type=_penalties,
        default=("reference", "zero"),
        help="how a lost prediction (Hit = 0) is scored, one or more, all from the same masked images: "
        "reference (scaled by the probability gap where the two class maps pass the CS check, AVX 0 where they "
        "fail it), delta (every lost class scaled), zero (every lost class AVX 0), off (raw scores); the first "
        "gives the records' AD/SSIM/FSIM/MSE/AVX columns, each further one its own avx/NAME columns "
        "[default: reference,zero]",
    )
    parser.add_argument(
        "--ties",
        choices=("random", "row_major"),
        default="random",
        help="how the matched areas break ties between equal map values: at random, seeded by the map and the "
        "photo, or row-major (the top rows first) [default: random]",
    )
    parser.add_argument(
        "--primary",
        type=_primary,
        help="the primary measure, declared before the data: avx[@Q][/PENALTY] [default: avx@0.5/zero where the "
        "run computes it]",
    )
    parser.add_argument(
        "--margin",
        type=_margin,
        default=0.02,
        help="the equivalence margin of the paired comparisons, in AVX units [default: 0.02]",
    )
    parser.add_argument("--limit", type=int, help="only the first N images (after sharding)")
    parser.add_argument(
        "--method-limit", type=_method_limits, default={}, help="slow methods on fewer images: METHOD=N,..."
    )
    parser.add_argument("--shard", type=_shard, help="evaluate shard I of N (1-based, interleaved); merge shards later")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--batch-size", type=int, default=8, help="images per batch [default: 8]")
    parser.add_argument(
        "--mask", choices=("binary", "soft"), default="binary", help="[default: binary, as the reference]"
    )
    parser.add_argument("--tau", type=float, default=0.55, help="CS check threshold [default: 0.55, the reference's]")
    parser.add_argument("--o", choices=("max", "target"), default="max", help="AD's o [default: max, the reference's]")
    parser.add_argument(
        "--auc-steps",
        type=int,
        default=32,
        help="steps of RISE's deletion and insertion curves (extra columns, not AVX; each map costs "
        "2 x (N + 1) forward passes); 0 skips them [default: 32]",
    )
    parser.add_argument(
        "--advise-rules",
        type=_rules,
        default=ADVISE_RULES,
        help="ADVISE choices reported besides auto and the oracle: confidence (the group whose Score-CAM-masked "
        "input the model is surest of), weighted (groups weighted by that confidence; peaks='weighted'), or "
        "none [default: confidence,weighted]",
    )
    parser.add_argument("--value-range", choices=("fixed", "unit"), default="fixed", help="ADVISE [default: fixed]")
    parser.add_argument(
        "--upsample",
        choices=UPSAMPLE_MODES,
        default="matlab_bicubic",
        help="how layer-resolution maps reach the input size, for every method with such maps [default: "
        "matlab_bicubic, the reference's imresize]",
    )
    parser.add_argument(
        "--lime-samples", type=int, default=2048, help="LIME perturbations per map [default: 2048, imageLIME's]"
    )
    parser.add_argument(
        "--lime-surrogate",
        choices=("tree", "linear"),
        default="tree",
        help="LIME's surrogate model [default: tree, imageLIME's]",
    )
    parser.add_argument(
        "--scorecam-batch-size",
        type=int,
        default=32,
        help="masked images per forward pass in Score-CAM and Ablation-CAM [default: 32]",
    )
    parser.add_argument(
        "--aug-smooth",
        action="store_true",
        help="pytorch-grad-cam's test-time augmentation for its methods: the mean of the maps of the photo "
        "flipped or not and at 0.9, 1, 1.1 of its brightness (six times the cost; not FinerCAM, RefineCAM)",
    )
    parser.add_argument(
        "--eigen-smooth",
        action="store_true",
        help="pytorch-grad-cam's eigen_smooth for its methods: the first principal component of the weighted "
        "activations instead of their sum",
    )
    add_new_argument(parser)
    parser.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="leave out images that cannot be read, listed in --out/skipped.csv and the summary [default: stop, "
        "before any work, at the first]",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_evaluate, across_ranks=True, resumes=True)


def add_merge_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "merge",
        help="join the records.csv of evaluation shards and write one summary.md",
        description="Join shards' records.csv (duplicates dropped) into --out/records.csv and write summary.md.",
    )
    parser.add_argument("shards", nargs="+", type=Path, help="output folders of evaluate --shard runs")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.set_defaults(run=run_merge)


def default_methods(device: str) -> tuple[str, ...]:
    """The methods ``evaluate`` compares by default: the paper's set on a GPU; on a CPU, those of them
    that take seconds per photo (Score-CAM and LIME take minutes there)."""
    on_cpu = not str(device).startswith("cuda")
    return method_names(compared=True, cost="fast") if on_cpu else method_names(compared=True)


# Deletion and insertion: 2 x (steps + 1) masked forward passes per map, about 4 s per map at 32
# steps on a 2-core CPU.
DELETION_CPU_SECONDS_PER_STEP = 4.0 / 32


def plan_line(methods: list[str], photos: int, controls: bool, auc_steps: int, device: str) -> str:
    """What ``evaluate`` will run, and on a CPU roughly how long (from the catalogue's ``cpu_seconds``)."""
    run = [*methods, *(name for name in method_names("control") if controls and name not in methods)]
    line = f"{photos} photo{'s' * (photos != 1)} x {', '.join(run)} on {device}"
    if str(device).startswith("cuda"):
        return line
    rows = [CATALOGUE[name] for name in run]
    seconds = sum(row.cpu_seconds + row.maps_per_photo * auc_steps * DELETION_CPU_SECONDS_PER_STEP for row in rows)
    total = seconds * photos
    line += f": roughly {seconds:.0f} s per photo on a 2-core CPU, {_duration(total)} in all"
    slow = [name for name in method_names(compared=True, cost="slow") if name not in run]
    if slow:
        times = ", ".join(f"{title_of(name)} about {CATALOGUE[name].cpu_seconds:.0f} s" for name in slow)
        line += f"; left out here ({times} per photo): the paper's full set is --methods " + ",".join(
            method_names(compared=True)
        )
    return line


def _duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 120
        else f"{seconds / 60:.0f} min"
        if seconds < 7200
        else f"{seconds / 3600:.1f} h"
    )


def evaluator_method_options(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """Each catalogue method's evaluator options, from the command line: every option a method takes
    (its row's ``options``) gets the value of the command-line option that sets it."""
    values = {
        "value_range": args.value_range,
        "upsample": args.upsample,
        "rules": args.advise_rules,
        "random_group_draws": args.random_group_draws,
        "score_cam_batch_size": args.scorecam_batch_size,
        "n_samples": args.lime_samples,
        "surrogate": args.lime_surrogate,
        "aug_smooth": args.aug_smooth,
        "eigen_smooth": args.eigen_smooth,
    }
    return {row.name: {option: values[option] for option in row.options} for row in CATALOGUE.values() if row.options}


def _records(args: argparse.Namespace) -> list[ImageRecord]:
    from captum_advise.evaluation import shard

    records = folder_records(args.images, args.labels)
    if args.shard is not None:
        records = shard(records, *args.shard)
    return records[: args.limit] if args.limit is not None else records


def _protocol_and_plan(args: argparse.Namespace) -> tuple[ProtocolOptions, AnalysisPlan]:
    """The protocol's options and the analysis plan; a one-line error for a primary measure the run does not compute."""
    from captum_advise.evaluation import AnalysisPlan, ProtocolOptions

    protocol = ProtocolOptions(
        mask=args.mask,
        tau=args.tau,
        o=args.o,
        auc_steps=args.auc_steps,
        areas=args.areas,
        penalty=args.penalty,
        ties=args.ties,
    )
    plan = AnalysisPlan(primary=args.primary, margin=args.margin)
    plan.primary_measure(protocol.areas, protocol.penalties)
    return protocol, plan


def run_evaluate(args: argparse.Namespace) -> int:
    _protocol_and_plan(args)
    records = _records(args)
    if not records:
        raise ValueError(f"no images to evaluate in {args.images}")
    from captum_advise.runs.ranks import locked_run_output

    with locked_run_output(args.out):
        return _evaluate_locked(args, records)


def _evaluate_locked(args: argparse.Namespace, records: list[ImageRecord]) -> int:
    from captum_advise.evaluation import EvaluationConfig, run_evaluation
    from captum_advise.models import load_model
    from captum_advise.runs.ranks import is_main_rank

    methods = args.methods or list(default_methods(args.device))
    protocol, plan = _protocol_and_plan(args)
    loaded = load_model(args.model, args.weights, device=args.device)
    if is_main_rank() and not args.quiet:
        LOGGER.info(plan_line(methods, len(records), not args.no_controls, args.auc_steps, args.device))
    config = EvaluationConfig(
        methods=methods,
        controls=not args.no_controls,
        layer=args.layer,
        batch_size=args.batch_size,
        device=args.device,
        protocol=protocol,
        plan=plan,
        method_limits=args.method_limit,
        method_options=evaluator_method_options(args),
        geometry=args.geometry,
        skip_unreadable=args.skip_unreadable,
    )
    rows = run_evaluation(loaded, records, args.out, config, progress=not args.quiet, new=args.new)
    if not is_main_rank():
        return 0
    warning = " (RANDOM WEIGHTS: not a trained model)" if loaded.random_weights else ""
    print(f"{args.model}{warning}: {len(rows)} record{'s' * (len(rows) != 1)} in {args.out / 'records.csv'}\n")
    print((args.out / "summary.md").read_text())
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from captum_advise.evaluation import merge_records, read_records, summary_table
    from captum_advise.evaluation.families import plan_of_settings
    from captum_advise.evaluation.summary import summary_heading
    from captum_advise.runs.output_files import atomic_write_text, locked_output
    from captum_advise.runs.settings import check_settings, common_settings

    sources = [folder / "records.csv" for folder in args.shards]
    for source in sources:
        if not source.exists():
            raise FileNotFoundError(f"no records.csv in {source.parent}")
    settings = common_settings(args.shards)
    with locked_output(args.out):
        if settings is not None:
            check_settings(args.out, settings, (args.out / "records.csv").exists())
        count = merge_records(sources, args.out / "records.csv")
        rows = read_records(args.out / "records.csv")
        methods = {row["method"] for row in rows}
        heading = summary_heading(settings, len({row["image"] for row in rows}), methods=methods) if settings else ""
        plan, primary = plan_of_settings(settings or {})
        atomic_write_text(args.out / "summary.md", summary_table(rows, heading, plan, primary))
    print(f"merged {count} record{'s' * (count != 1)} from {len(sources)} shards into {args.out}\n")
    print((args.out / "summary.md").read_text())
    return 0
