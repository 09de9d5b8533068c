"""Seconds per image of the AVX protocol per method, on the real MobileNetV2 and real photos.

For each method: the maps for c1 and c2 (what the paper times) and the metrics (masking,
re-classification, SSIM, FSIM, deletion and insertion, ...), per image, with the ratio to
Grad-CAM measured in the same process. ADVISE's rows: ``advise`` (every group's maps),
``advise-auto`` (the same computation), and ``advise-confidence`` (plus the confidence rule's
forward pass per group). Prints a table; pass --device cuda on a GPU machine.

    TORCH_HOME=../shared/assets/torch-home python benchmarks/bench_evaluate.py [--images 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

from captum_advise.data import labelled_folder
from captum_advise.evaluation import EvaluationConfig, ProtocolOptions, run_evaluation
from captum_advise.models import load_model

FAST_METHODS = ("gradcam", "gradcampp", "layercam", "advise")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("ADVISE_SHARED", "../shared")))
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", default=",".join(FAST_METHODS))
    args = parser.parse_args()

    os.environ.setdefault("TORCH_HOME", str(args.shared / "assets" / "torch-home"))
    loaded = load_model("mobilenet_v2", "IMAGENET1K_V1", device=args.device)
    records = labelled_folder(args.shared / "assets" / "imagenet-samples")[:: 800 // args.images][: args.images]
    methods = args.methods.split(",")
    # The methods' own cost: no controls, no matched areas.
    config = EvaluationConfig(
        methods=methods,
        batch_size=args.batch_size,
        device=args.device,
        controls=False,
        protocol=ProtocolOptions(areas=()),
    )
    # Warm-up: compiles the density kernel and fills caches, so the timed run measures steady state.
    with tempfile.TemporaryDirectory() as warm:
        run_evaluation(loaded, records[:2], Path(warm), config, progress=False)
    with tempfile.TemporaryDirectory() as out:
        rows = run_evaluation(loaded, records, Path(out), config, progress=False)

    # Every name the rows report: ADVISE's group maps ("advise"), its auto group, and each rule's
    # rows, whose time adds the rule's own forward passes to the group maps'.
    per_method: dict[str, tuple[float, float]] = {}
    for method in dict.fromkeys(row["method"] for row in rows):
        mine = {row["image"]: row for row in rows if row["method"] == method}
        maps = sum(float(row["seconds"]) for row in mine.values()) / len(mine)
        metrics = sum(float(row["metric_seconds"]) for row in mine.values()) / len(mine)
        per_method[method] = (maps, metrics)
    base_maps, base_metrics = per_method.get("gradcam", next(iter(per_method.values())))
    on_gpu = args.device.startswith("cuda")
    device = torch.cuda.get_device_name() if on_gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"MobileNetV2 features.18, {len(records)} photos, batch {args.batch_size}, {device}\n")
    print("| method | s/image maps | maps / Grad-CAM maps | s/image metrics | s/image total | total / Grad-CAM total |")
    print("|---|---|---|---|---|---|")
    for method, (maps, metrics) in per_method.items():
        total = maps + metrics
        print(
            f"| {method} | {maps:.3f} | {maps / base_maps:.2f} | {metrics:.3f} | {total:.3f} | "
            f"{total / (base_maps + base_metrics):.2f} |"
        )


if __name__ == "__main__":
    main()
