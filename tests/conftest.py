"""Shared fixtures: the read-only ``shared/`` folder beside the checkout (golden cases, real data)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("ADVISE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def load_golden(name: str) -> list[dict]:
    path = SHARED / "golden" / name
    if not path.exists():
        pytest.fail(f"golden file {path} not found: set ADVISE_SHARED to the folder that holds golden/")
    with gzip.open(path, "rt") as handle:
        return json.load(handle)


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

    cache = SHARED / "assets" / "torch-home"
    if not cache.exists():
        pytest.fail(f"offline torchvision cache {cache} not found: set ADVISE_SHARED")
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

    folder = SHARED / "assets" / "imagenet-samples"
    files = sorted(folder.glob("*.JPEG"))
    if len(files) < 3:
        pytest.fail(f"sample photos not found in {folder}: set ADVISE_SHARED")
    chosen = [files[1], files[340], files[720]]
    preprocess = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.transforms()
    images = torch.stack([preprocess(Image.open(path).convert("RGB")) for path in chosen])
    labels = [int(path.name[:3]) for path in chosen]
    return images, labels
