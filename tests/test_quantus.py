"""Quantus as the peer of the sanity experiment: where the definitions coincide, the numbers agree."""

from __future__ import annotations

import copy
import math
import sys

import numpy as np
import pytest
import torch
from helpers.networks import tiny_cnn, tiny_images
from quantus.helpers.model.pytorch_model import PyTorchModel

from captum_advise.cli import main
from captum_advise.data import labelled_folder
from captum_advise.experiments import (
    QuantusConfig,
    map_similarity,
    quantus_summary,
    randomizable_layers,
    run_quantus_checks,
    sanity_maps,
)
from captum_advise.experiments.quantus_checks import quantus_explain_func, quantus_metric, smoothed_explain_func
from captum_advise.models import LoadedModel, load_model
from conftest import SHARED

SAMPLES = SHARED / "assets" / "imagenet-samples"


@pytest.mark.parametrize("method", ["advise", "gradcam"])
def test_quantus_mprt_is_spearman_of_abs_maps_on_the_same_randomised_models(method):
    model = tiny_cnn()
    inputs = tiny_images(4)
    with torch.no_grad():
        targets = model(inputs).argmax(dim=1)
    scores = quantus_metric("mprt", seed=7)(
        model=copy.deepcopy(model),
        x_batch=inputs.numpy(),
        y_batch=targets.numpy(),
        a_batch=None,
        explain_func=quantus_explain_func(method, "1"),
        device="cpu",
        batch_size=4,
    )
    trained = sanity_maps(method, model, model[1], inputs, targets)
    # Quantus's own randomised models, in its order: the same modules as this project's "all"/"reset".
    generator = PyTorchModel(copy.deepcopy(model), channel_first=True).get_random_layer_generator("top_down", seed=7)
    layers = []
    for layer, randomized in generator:
        layers.append(layer)
        maps = sanity_maps(method, randomized, randomized[1], inputs, targets)
        ours = [map_similarity(a, b)["spearman_abs"] for a, b in zip(trained, maps, strict=True)]
        assert scores[layer] == pytest.approx(ours, abs=1e-9)
    assert list(scores) == ["original", *layers] and layers == randomizable_layers(model, "all", "reset")
    assert scores["original"] == pytest.approx([1.0] * 4)
    assert min(scores["0"]) < 0.9  # the fully randomised model's maps differ: the comparison is not vacuous


def test_smoothed_maps_average_the_photo_and_its_noisy_copies():
    model = tiny_cnn()
    inputs = tiny_images(2).numpy()
    targets = [1, 3]
    explain = quantus_explain_func("gradcam", "1")
    plain = explain(model, inputs, targets)  # softmax maps: values about 1e-4
    assert np.array_equal(smoothed_explain_func(explain, 1)(model, inputs, targets), plain)
    generator = np.random.default_rng(5)
    spread = (inputs.max(axis=(1, 2, 3)) - inputs.min(axis=(1, 2, 3))).reshape(2, 1, 1, 1)
    copies = [inputs] + [(inputs + generator.standard_normal(inputs.shape) * 0.1 * spread) for _ in range(2)]
    by_hand = sum(explain(model, c.astype(np.float32), targets) for c in copies) / 3
    smoothed = smoothed_explain_func(explain, 3, seed=5)
    assert smoothed(model, inputs, targets) == pytest.approx(by_hand, rel=1e-4, abs=1e-12)
    assert np.array_equal(smoothed(model, inputs, targets), smoothed(model, inputs, targets))  # the same noise
    assert np.abs(by_hand - plain).max() > 0.02 * np.abs(plain).max()


def test_quantus_summary_per_metric():
    rows = [
        {"metric": "mprt", "method": "gradcam", "image": image, "layer": layer, "score": score}
        for image, values in (("a", (1.0, 0.5, 0.1)), ("b", (1.0, 0.7, 0.3)), ("c", (1.0, 0.2, math.nan)))
        for layer, score in zip(("original", "6", "2"), values, strict=True)
    ]
    rows += [
        {"metric": "random-logit", "method": "gradcam", "image": i, "layer": "-", "score": s} for i, s in ("a3", "b5")
    ]
    summary = quantus_summary(rows)
    t = 12.706204736174707  # Student t, 1 degree of freedom, 97.5%
    assert summary[("mprt", "gradcam", "last layer")] == pytest.approx((0.2, t * 0.1, 1))  # c's NaN left out
    assert summary[("mprt", "gradcam", "mean over layers")] == pytest.approx((0.4, t * 0.1, 1))
    assert summary[("random-logit", "gradcam", "score")] == pytest.approx((4.0, t * 1.0, 0))
    only_last = quantus_summary([r for r in rows if r["layer"] != "6"])
    assert ("mprt", "gradcam", "mean over layers") not in only_last


@pytest.mark.shared
def test_quantus_checks_on_mobilenet(mobilenet_v2, tmp_path):
    loaded = LoadedModel(
        mobilenet_v2, load_model("mobilenet_v2", "none").preset, "IMAGENET1K_V1", [str(c) for c in range(1000)]
    )
    records = labelled_folder(SAMPLES)[::400][:2]
    before = copy.deepcopy(mobilenet_v2.state_dict())
    config = QuantusConfig(["gradcam"], ["mprt", "efficient-mprt", "random-logit"], last_layer_only=True)
    rows = run_quantus_checks(loaded, records, tmp_path, config, progress=False)
    assert all(torch.equal(value, before[key]) for key, value in mobilenet_v2.state_dict().items())
    assert not mobilenet_v2.training
    by_metric = {(r["metric"], r["layer"]) for r in rows}
    last = randomizable_layers(mobilenet_v2, "all", "reset")[-1]
    assert by_metric == {("mprt", "original"), ("mprt", last), ("efficient-mprt", "-"), ("random-logit", "-")}
    assert [float(r["score"]) for r in rows if r["layer"] == "original"] == pytest.approx([1.0, 1.0])
    assert len(rows) == 4 * 2 and (tmp_path / "quantus.csv").read_text().count("\n") == 1 + 8


def test_quantus_bad_input(monkeypatch, tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown Quantus metric"):
        QuantusConfig(metrics=["mprt", "roar"]).check()
    with pytest.raises(ValueError, match="smooth_samples must be at least 1"):
        QuantusConfig(smooth_samples=0).check()
    common = ["sanity-quantus", "--model", "mobilenet_v2", "--weights", "none", "--images", str(tmp_path)]
    assert main([*common, "--metrics", "roar", "--out", str(tmp_path / "q")]) == 1
    assert "unknown Quantus metric(s) ['roar']" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "quantus", None)
    assert main([*common, "--out", str(tmp_path / "q")]) == 1
    assert "Quantus is not installed: pip install 'captum-advise[quantus]'" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()
