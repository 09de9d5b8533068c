"""How long a new user waits: ``captum-advise --help`` and explaining one photo, from a fresh process.

Each command runs ``--repeats`` times in a new Python process (median wall time). For scale, the
same machine's ``import torch, torchvision`` alone in a fresh process, which any command that
touches a model pays.

    TORCH_HOME=../shared/assets/torch-home python benchmarks/bench_startup.py [--photo PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SHARED = Path(os.environ.get("ADVISE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def wall_time(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photo", type=Path, default=DEFAULT_SHARED / "assets/imagenet-samples/001_n01443537_goldfish.JPEG"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "captum_advise"]
    with tempfile.TemporaryDirectory() as out:
        rows = {
            "captum-advise --help": wall_time([*cli, "--help"], args.repeats),
            "captum-advise explain --help": wall_time([*cli, "explain", "--help"], args.repeats),
            "python -c 'import torch, torchvision'": wall_time(
                [sys.executable, "-c", "import torch, torchvision"], args.repeats
            ),
            "captum-advise explain (one photo, mobilenet_v2)": wall_time(
                [*cli, "explain", str(args.photo), "--model", "mobilenet_v2", "--out", out], args.repeats
            ),
        }
    print(f"median of {args.repeats} fresh processes, {os.cpu_count()} CPUs\n")
    print("| command | seconds |")
    print("|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
