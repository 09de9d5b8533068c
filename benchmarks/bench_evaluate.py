"""Seconds per photo of ``captum-advise evaluate``, this working tree beside a git revision, on the same photos.

``--against REV`` exports the source of REV (``git archive``) next to the working tree and runs
both evaluators through their own command line (``captum_advise.cli.main.main``, so each side
has its own process settings) in fresh processes, interleaved: round r runs one side then the
other on the same photos (``--shard r/ROUNDS``-like spread over the classes), the order
alternating between rounds. Each process first evaluates one other photo (imports, weights,
compiled kernels), then times the round's photos: CPU seconds (user + system, all threads) and
wall seconds. The report gives seconds per photo, the ratio REV / working tree, and how far the
two sides' records are apart (every metric column; hit, check and groups compared exactly).

Without ``--against`` only the working tree is timed. ``--threads`` sets torch's and numba's
threads in both (default 1: seconds of one core). Also: ``seconds``, each method's maps per photo, from the
working tree's records. The GPU check runs it with ``--device cuda`` and reports photos per
second.

    ADVISE_SHARED=../shared python benchmarks/bench_evaluate.py --against main --rounds 2 --photos 2
    ADVISE_SHARED=../shared python benchmarks/bench_evaluate.py --against main --methods scorecam \\
        --warm-up-methods gradcam --extra='--no-controls' --rounds 2 --photos 1
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = Path(os.environ.get("ADVISE_SHARED", ROOT.parent / "shared"))
TIME_COLUMNS = ("seconds", "metric_seconds")
EXACT_COLUMNS = ("image", "method", "group", "units", "draw", "predicted", "second", "check")

# Run inside each fresh process: the evaluator of ``tree`` (first on sys.path), one warm-up photo,
# then the timed photos; prints the times as JSON on its last line.
DRIVER = """
import json, os, resource, sys, time
tree, threads, warm, timed = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
sys.path.insert(0, tree)
import torch
torch.set_num_threads(threads)
from captum_advise.cli.main import main
assert main(warm) == 0
before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
assert main(timed) == 0
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
print(json.dumps({"cpu": cpu, "system": after.ru_stime - before.ru_stime, "wall": time.perf_counter() - start}))
"""


def export_revision(revision: str, into: Path) -> Path:
    """The source tree of ``revision`` (``git archive``) under ``into``."""
    into.mkdir(parents=True)
    archive = into / "source.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", revision], stdout=out, check=True)
    tree = into / "tree"
    with tarfile.open(archive) as source:
        source.extractall(tree, filter="data")
    return tree


def evaluate_args(args: argparse.Namespace, shard: str, limit: int, out: Path, methods: str) -> list[str]:
    command = ["evaluate", "--model", args.model, "--images", str(args.shared / "assets" / "imagenet-samples")]
    command += ["--shard", shard, "--limit", str(limit), "--methods", methods, "--device", args.device]
    command += ["--auc-steps", str(args.auc_steps), "--out", str(out), "--quiet", *shlex.split(args.extra)]
    return command


def run_side(tree: Path, args: argparse.Namespace, round_index: int, out: Path) -> dict[str, float]:
    """One fresh process of one side: a warm-up photo, then the round's photos, timed."""
    warm = evaluate_args(args, f"{args.stride}/{args.stride}", 1, out / "warm-up", args.warm_up_methods or args.methods)
    timed = evaluate_args(args, f"{round_index + 1}/{args.stride}", args.photos, out / "timed", args.methods)
    threads = str(args.threads)
    env = dict(os.environ, TORCH_HOME=str(args.shared / "assets" / "torch-home"), PYTHONPATH=str(tree))
    env |= {"OMP_NUM_THREADS": threads, "NUMBA_NUM_THREADS": threads}
    command = [sys.executable, "-c", DRIVER, str(tree), str(args.threads), json.dumps(warm), json.dumps(timed)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the evaluator of {tree} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def records_apart(mine: Path, theirs: Path) -> tuple[int, int, float]:
    """(rows, rows whose exact columns differ, largest difference of a metric) between two records.csv."""

    def rows(path: Path) -> dict[tuple[str, ...], dict[str, str]]:
        with path.open(newline="") as handle:
            return {(r["image"], r["method"], r["group"], r["draw"]): r for r in csv.DictReader(handle)}

    a, b = rows(mine), rows(theirs)
    if a.keys() != b.keys():
        return len(a), abs(len(a) - len(b)) or len(a.keys() ^ b.keys()), math.inf
    exact = worst = 0
    for key, row in a.items():
        other = b[key]
        columns = [c for c in row if c in other and c not in TIME_COLUMNS]
        exact += any(row[c] != other[c] for c in columns if c in EXACT_COLUMNS or c.startswith("hit"))
        for column in columns:
            if column not in EXACT_COLUMNS and not column.startswith("hit") and row[column] != other[column]:
                worst = max(worst, abs(float(row[column] or "nan") - float(other[column] or "nan")))
    return len(a), exact, worst


def maps_seconds(records: Path) -> dict[str, float]:
    """Seconds per photo of each method's maps (the records' ``seconds``)."""
    with records.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    per_method: dict[str, dict[str, float]] = {}
    for row in rows:
        per_method.setdefault(row["method"], {})[row["image"]] = float(row["seconds"])
    return {method: sum(photos.values()) / len(photos) for method, photos in per_method.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="git revision to compare with (e.g. main); none: the working tree alone")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--methods", default="advise,gradcam,gradcampp,layercam")
    parser.add_argument("--warm-up-methods", help="the warm-up photo's methods [default: --methods]")
    parser.add_argument(
        "--extra", default="", help='more evaluate options, as one argument: --extra="--no-controls --areas none"'
    )
    parser.add_argument("--auc-steps", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--photos", type=int, default=2, help="photos per round")
    parser.add_argument("--stride", type=int, default=100, help="round r takes photos r, r + stride, ...")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.rounds >= args.stride:
        raise SystemExit("--rounds must stay below --stride (the last shard is the warm-up photo's)")

    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        sides = {"working tree": ROOT}
        if args.against:
            sides = {args.against: export_revision(args.against, scratch_path / "against"), **sides}
        times: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        apart = []
        for round_index in range(args.rounds):
            order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
            for side in order:
                out = scratch_path / f"round-{round_index}" / side.replace(" ", "-").replace("/", "-")
                times[side].append(run_side(sides[side], args, round_index, out))
                print(f"round {round_index + 1}/{args.rounds}, {side}: {times[side][-1]}", file=sys.stderr)
            if args.against:
                outs = [scratch_path / f"round-{round_index}" / s.replace(" ", "-").replace("/", "-") for s in sides]
                apart.append(records_apart(*(out / "timed" / "records.csv" for out in outs)))
        mine = scratch_path / "round-0" / "working-tree" / "timed" / "records.csv"
        own_maps = maps_seconds(mine)

    photos = args.rounds * args.photos
    machine = platform.processor() or platform.machine()
    print(f"\n`{' '.join(sys.argv)}`\n")
    print(f"{args.model}, methods {args.methods} {args.extra}".rstrip() + f", auc-steps {args.auc_steps}, ", end="")
    print(
        f"{photos} photos ({args.rounds} rounds of {args.photos}), {args.device}, {args.threads} thread(s), {machine}\n"
    )
    print("| code | CPU s / photo | of which system | wall s / photo | photos / wall s |")
    print("|---|---|---|---|---|")
    per_photo = {}
    for side, runs in times.items():
        cpu, system, wall = (sum(run[key] for run in runs) / photos for key in ("cpu", "system", "wall"))
        per_photo[side] = (cpu, wall)
        print(f"| {side} | {cpu:.2f} | {system:.2f} | {wall:.2f} | {1 / wall:.3f} |")
    if args.against:
        (old_cpu, old_wall), (new_cpu, new_wall) = per_photo[args.against], per_photo["working tree"]
        print(f"\n{args.against} / working tree: CPU {old_cpu / new_cpu:.2f}x, wall {old_wall / new_wall:.2f}x")
        rows = sum(a[0] for a in apart)
        print(
            f"Records: {rows} rows; rows whose hit, check or groups differ: {sum(a[1] for a in apart)}; "
            f"largest difference of a metric: {max(a[2] for a in apart):.2g}"
        )
    print(
        "\nMaps, seconds per photo (working tree's records): " + ", ".join(f"{m} {s:.3f}" for m, s in own_maps.items())
    )


if __name__ == "__main__":
    main()
