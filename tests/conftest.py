"""Shared fixtures: the read-only ``shared/`` folder beside the checkout (golden cases, real data).

Without that folder (a clone of the repository alone), the golden cases come from the subset
stored in ``tests/data`` and every test that needs the real photos or weights is skipped with a
one-line reason. Every such test is marked ``shared``: those that read the folder themselves by
hand, those that take one of :data:`ASSET_FIXTURES` here, so ``-m "not shared"`` is the tier that
runs on a bare clone. Tests marked ``gpu`` (every CUDA case) are skipped without a CUDA device.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("ADVISE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
ASSETS = SHARED / "assets"
HAS_ASSETS = (ASSETS / "imagenet-samples").is_dir() and (ASSETS / "torch-home").is_dir()
NO_ASSETS = f"needs the offline photos and weights in {ASSETS} (set ADVISE_SHARED)"
GOLDEN_SUBSET = Path(__file__).resolve().parent / "data" / "golden_subset.json.gz"
SUBSET_KEYS = {"kernel_synthetic.json.gz": "synthetic", "kernel_mobilenet_v2.json.gz": "mobilenet_v2"}
# The fixtures that read the offline photos or weights: a test that takes one is marked ``shared``.
ASSET_FIXTURES = {"mobilenet_v2", "loaded_mobilenet", "sample_photos"}
# The devices a test runs on: the CUDA case is marked ``gpu``.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def load_golden(name: str) -> list[dict]:
    """The golden cases of ``shared/golden/NAME``, or their stored subset where that folder is absent."""
    path = SHARED / "golden" / name
    if path.exists():
        with gzip.open(path, "rt") as handle:
            return json.load(handle)
    return load_golden_subset()[SUBSET_KEYS[name]]


def load_golden_subset() -> dict[str, list[dict]]:
    with gzip.open(GOLDEN_SUBSET, "rt") as handle:
        return json.load(handle)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_cuda = None
    for item in items:
        if item.path.suffix == ".ipynb":
            # The tutorials run real models on real photos for minutes.
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.shared)
        if ASSET_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared)
        if not HAS_ASSETS and item.get_closest_marker("shared"):
            item.add_marker(pytest.mark.skip(reason=NO_ASSETS))
        if item.get_closest_marker("gpu"):
            if has_cuda is None:
                import torch

                has_cuda = torch.cuda.is_available()
            if not has_cuda:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(scope="session")
def golden_synthetic() -> list[dict]:
    return load_golden("kernel_synthetic.json.gz")


@pytest.fixture(scope="session")
def golden_mobilenet() -> list[dict]:
    return load_golden("kernel_mobilenet_v2.json.gz")


@pytest.fixture(scope="session")
def mobilenet_v2():
    """The real ImageNet MobileNetV2 (torchvision weights from the offline cache), in eval mode."""
    import torchvision

    cache = ASSETS / "torch-home"
    if not HAS_ASSETS:
        pytest.skip(NO_ASSETS)
    previous = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(cache)
    try:
        model = torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1")
    finally:
        if previous is None:
            del os.environ["TORCH_HOME"]
        else:
            os.environ["TORCH_HOME"] = previous
    return model.eval()


@pytest.fixture(scope="session")
def loaded_mobilenet(mobilenet_v2):
    """The real MobileNetV2 as a preset's LoadedModel (the evaluator's input)."""
    from captum_advise.models import LoadedModel, load_model

    preset = load_model("mobilenet_v2", "none").preset
    return LoadedModel(mobilenet_v2, preset, "IMAGENET1K_V1", [str(c) for c in range(1000)])


@pytest.fixture(scope="session")
def sample_photos():
    """Three real ImageNet photos, preprocessed for MobileNetV2: (3, 3, 224, 224) and their labels."""
    import torch
    import torchvision
    from PIL import Image

    if not HAS_ASSETS:
        pytest.skip(NO_ASSETS)
    files = sorted((ASSETS / "imagenet-samples").glob("*.JPEG"))
    chosen = [files[1], files[340], files[720]]
    preprocess = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.transforms()
    images = torch.stack([preprocess(Image.open(path).convert("RGB")) for path in chosen])
    labels = [int(path.name[:3]) for path in chosen]
    return images, labels
