"""Time ``adaptive_kde`` on the explained layers of the paper's four networks.

Real activation vectors (every unit of the golden MobileNetV2 file, cut or tiled to the layer's
size) against one forward + backward pass of torchvision's VGG16 (random weights, batch 1) timed in
the same process. Prints a table; on a machine with CUDA, the same on the GPU.

    python benchmarks/bench_kde.py [--shared ../shared] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import time
from pathlib import Path

import torch
import torchvision

from captum_advise.density import adaptive_kde, count_peaks

LAYERS = [
    ("AlexNet conv5", 256, 169),
    ("VGG16 conv5_3", 512, 196),
    ("ResNet50 layer4", 2048, 49),
    ("Xception conv4", 2048, 100),
]


def real_units(shared: Path, units: int, values: int) -> torch.Tensor:
    with gzip.open(shared / "golden" / "kernel_mobilenet_v2.json.gz", "rt") as handle:
        cases = json.load(handle)
    pool = [c["x"] for c in cases if len(c["x"]) >= values] or [c["x"] for c in cases]
    rows = [(pool[i % len(pool)] * (values // len(pool[0]) + 1))[:values] for i in range(units)]
    return torch.tensor(rows, dtype=torch.float64)


def best_of(repeats: int, work, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def vgg_forward_backward(device: torch.device):
    model = torchvision.models.vgg16().to(device).eval()
    image = torch.rand(1, 3, 224, 224, device=device, requires_grad=True)

    def step():
        model(image).max().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print("| device | layer | units x values | adaptive_kde s | VGG16 fwd+bwd s | ratio | peaks (mean) |")
    print("|---|---|---|---|---|---|---|")
    for device in devices:
        step = vgg_forward_backward(device)
        step()
        baseline = best_of(args.repeats, step, device)
        for name, units, values in LAYERS:
            samples = real_units(args.shared, units, values).to(device)
            result = adaptive_kde(samples)  # warm-up: numba compilation, CUDA kernels
            seconds = best_of(args.repeats, lambda samples=samples: adaptive_kde(samples), device)
            peaks = count_peaks(result.density).double().mean().item()
            label = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
            print(
                f"| {label} | {name} | {units} x {values} | {seconds:.4f} | {baseline:.4f} | "
                f"{seconds / baseline:.2f} | {peaks:.2f} |"
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the whole process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
