"""Time ``adaptive_kde`` on the explained layers of the paper's four networks and MobileNetV2.

Real activation vectors (every unit of the golden MobileNetV2 file, cut or tiled to the layer's
size) against one forward + backward pass of torchvision's VGG16 (random weights, batch 1) timed in
the same process. Prints a table: on the CPU (numba kernel) at batch 1; on a machine with CUDA, the
same on the GPU for every backend (``triton``: the fused kernel, the default; ``triton-no-spill``:
the experimental second kernel; ``torch``: the batched tensor implementation) at batch 1, and the
fused kernels at batch 32. The ``triton-no-spill`` rows also say how far its result is from the
default kernel's (largest density difference, units whose peak counts differ).

    python benchmarks/bench_kde.py [--shared ../shared] [--repeats 3] [--no-cpu]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import time
from pathlib import Path

import torch
import torchvision

from captum_advise.density import adaptive_kde, count_peaks

FUSED = ("triton", "triton-no-spill")

LAYERS = [
    ("AlexNet conv5", 256, 169),
    ("VGG16 conv5_3", 512, 196),
    ("ResNet50 layer4", 2048, 49),
    ("Xception conv4", 2048, 100),
    ("MobileNetV2 features.18", 1280, 49),
]


def real_units(shared: Path, units: int, values: int) -> torch.Tensor:
    with gzip.open(shared / "golden" / "kernel_mobilenet_v2.json.gz", "rt") as handle:
        cases = json.load(handle)
    pool = [c["x"] for c in cases if len(c["x"]) >= values] or [c["x"] for c in cases]
    rows = [(pool[i % len(pool)] * (values // len(pool[0]) + 1))[:values] for i in range(units)]
    return torch.tensor(rows, dtype=torch.float64)


def median_time(repeats: int, work, device: torch.device) -> float:
    """Median seconds of ``repeats`` calls (after the caller's warm-up)."""
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def runs(devices: list[torch.device]):
    """(device, backend, batch) to time: the default backend everywhere, and on CUDA both Triton
    kernels and the tensor backend."""
    for device in devices:
        if device.type == "cpu":
            yield device, "numba", 1
        else:
            yield from ((device, backend, 1) for backend in FUSED)
            yield device, "torch", 1
            yield from ((device, backend, 32) for backend in FUSED)


def difference_from_default(result, default) -> str:
    """Largest density difference and count of units whose peaks differ, against the default kernel."""
    if default is None:
        return ""
    gap = (result.density - default.density).abs().nan_to_num(0.0).max().item()
    differing = (count_peaks(result.density) != count_peaks(default.density)).sum().item()
    return f"{gap:.1e}, {differing} units"


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
    parser.add_argument("--no-cpu", action="store_true", help="time the GPU only")
    args = parser.parse_args()
    devices = [] if args.no_cpu else [torch.device("cpu")]
    devices += [torch.device("cuda")] if torch.cuda.is_available() else []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; median of {args.repeats} after a warm-up")
    print(
        "| device | backend | layer | units x values | adaptive_kde ms | VGG16 fwd+bwd ms | ratio | peaks (mean) "
        "| triton-no-spill vs triton: density, peaks |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    baselines, defaults = {}, {}
    for device, backend, batch in runs(devices):
        if device not in baselines:
            step = vgg_forward_backward(device)
            step()
            baselines[device] = median_time(args.repeats, step, device)
        baseline = baselines[device]
        label = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
        for name, units, values in LAYERS:
            samples = real_units(args.shared, units * batch, values).to(device)
            result = adaptive_kde(samples, backend=backend)  # warm-up: compilation
            seconds = median_time(args.repeats, lambda s=samples, b=backend: adaptive_kde(s, backend=b), device)
            peaks = count_peaks(result.density).double().mean().item()
            key = (device, name, batch)
            compared = difference_from_default(result, defaults.get(key)) if backend == "triton-no-spill" else ""
            if backend == "triton":
                defaults[key] = result
            print(
                f"| {label} | {backend} | {name} x {batch} | {units * batch} x {values} | {seconds * 1e3:.1f} | "
                f"{baseline * 1e3:.1f} | {seconds / baseline:.2f} | {peaks:.2f} | {compared} |",
                flush=True,
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the whole process: {peak_mb:.0f} MB")
    if torch.cuda.is_available():
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
