"""What ADVISE costs a Captum user next to Grad-CAM, per call, on one device.

For each model (MobileNetV2 with its ImageNet weights when the torch cache has them; ResNet50 and
VGG16 with random weights, which cost the same as trained ones but explain nothing) and batch size,
times in one process, on real photos and the predicted classes: one forward + backward pass,
Captum's ``LayerGradCam``, pytorch-grad-cam's ``GradCAM`` (as ``LayerGradCamLib``, the project's
binding: the library's map at the layer's resolution), ``LayerADVISE.attribute`` (peaks "auto"),
``LayerADVISE.explain`` and ``adaptive_kde`` alone on the layer's activations. Each time is the
median of ``--repeats`` calls after two warm-up calls; ratios are to ``LayerGradCam``. On CUDA also
the peak GPU memory of each method's call, and ``LayerADVISE.attribute`` and ``adaptive_kde`` again
with the experimental Triton kernel (``density_backend`` / ``backend="triton-no-spill"``).

    TORCH_HOME=../shared/assets/torch-home python benchmarks/bench_attribution.py --device cuda
    python benchmarks/bench_attribution.py --device cpu --batches 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from captum_advise import LayerADVISE
from captum_advise.attr.unit_relevance import flatten_column_major
from captum_advise.data import labelled_folder
from captum_advise.density import adaptive_kde
from captum_advise.models import WeightsUnavailableError, load_model

MODELS = ("mobilenet_v2", "resnet50", "vgg16")
DEFAULT_SHARED = Path(os.environ.get("ADVISE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(work: Callable[[], object], device: torch.device, repeats: int) -> tuple[float, float]:
    """Median seconds of ``repeats`` calls after two warm-ups, and the peak GPU memory in MB (NaN on CPU)."""
    for _ in range(2):
        work()
    _synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        work()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return statistics.median(times), peak


def load(name: str, device: torch.device):
    weights = "IMAGENET1K_V1" if name == "mobilenet_v2" else None
    try:
        return load_model(name, weights, device=device, download=False)
    except WeightsUnavailableError:
        return load_model(name, None, device=device)


def layer_activations(model: torch.nn.Module, layer: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    captured = []
    handle = layer.register_forward_hook(lambda _module, _inputs, output: captured.append(output.detach()))
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        handle.remove()
    return captured[0]


def methods(loaded, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, Callable[[], object]]:
    from captum.attr import LayerGradCam

    from captum_advise.cams import LayerGradCamLib

    model, layer = loaded.model, loaded.layer()
    grad_cam = LayerGradCam(model, layer)
    advise = LayerADVISE(model, layer)
    no_spill = LayerADVISE(model, layer, density_backend="triton-no-spill")
    library = LayerGradCamLib(model, layer)
    samples = flatten_column_major(layer_activations(model, layer, inputs))

    def forward_backward():
        leaf = inputs.detach().requires_grad_(True)
        score = model(leaf).gather(1, targets[:, None]).sum()
        torch.autograd.grad(score, leaf)

    calls = {
        "forward+backward": forward_backward,
        "Captum LayerGradCam": lambda: grad_cam.attribute(inputs, target=targets),
        "pytorch-grad-cam GradCAM (LayerGradCamLib)": lambda: library.attribute(inputs, target=targets),
        "LayerADVISE.attribute": lambda: advise.attribute(inputs, target=targets),
        "LayerADVISE.explain": lambda: advise.explain(inputs, target=targets),
        f"adaptive_kde ({samples.shape[0]} x {samples.shape[1]})": lambda: adaptive_kde(samples),
    }
    if inputs.device.type == "cuda":
        calls["LayerADVISE.attribute, triton-no-spill"] = lambda: no_spill.attribute(inputs, target=targets)
        calls["adaptive_kde, triton-no-spill"] = lambda: adaptive_kde(samples, backend="triton-no-spill")
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--photos", type=Path, default=DEFAULT_SHARED / "assets" / "imagenet-samples")
    args = parser.parse_args()
    device = torch.device(args.device)
    records = labelled_folder(args.photos)[: max(args.batches)]
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{label}; torch {torch.__version__}; median of {args.repeats} calls after 2 warm-ups\n")
    print("| model (weights), layer | batch | method | ms per call | x LayerGradCam | peak GPU MB |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        loaded = load(name, device)
        weights = "random weights" if loaded.random_weights else loaded.weights
        preprocessor = loaded.preset.preprocessor.with_geometry("crop")
        for batch in args.batches:
            inputs = preprocessor([r.load() for r in records[:batch]]).to(device)
            with torch.no_grad():
                targets = loaded.model(inputs).argmax(dim=1)
            timed = {}
            for method, work in tqdm(methods(loaded, inputs, targets).items(), desc=f"{name} x {batch}", leave=False):
                timed[method] = time_call(work, device, args.repeats)
            baseline = timed["Captum LayerGradCam"][0]
            for method, (seconds, peak) in timed.items():
                print(
                    f"| {name} ({weights}), {loaded.preset.reference_layer} | {batch} | {method} | "
                    f"{seconds * 1e3:.1f} | {seconds / baseline:.2f} | {peak:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
