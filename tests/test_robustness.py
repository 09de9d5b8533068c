"""The robustness experiment: Captum's sensitivity_max, infidelity and MinParamPerturbation on every method."""

from __future__ import annotations

import math

import pytest
import torch
from captum.metrics import sensitivity_max
from torch import nn

from captum_advise import LayerADVISE
from captum_advise.attr import for_captum_metrics
from captum_advise.cams import LayerGradCamLib
from captum_advise.data import labelled_folder, noise_generator, salt_and_pepper
from captum_advise.experiments import RobustnessConfig, run_robustness
from captum_advise.experiments.robustness import ROBUSTNESS_COLUMNS
from captum_advise.experiments.robustness_methods import robustness_explanation
from conftest import SHARED

SAMPLES = SHARED / "assets" / "imagenet-samples"
CONFIG = RobustnessConfig(methods=("advise", "gradcam"), sensitivity_samples=2, infidelity_samples=4)


@pytest.fixture(scope="module")
def two_photos():
    return labelled_folder(SAMPLES)[::300][:2]


def test_rows_resume_and_the_flip_density_changes_the_prediction(loaded_mobilenet, two_photos, tmp_path):
    rows = run_robustness(loaded_mobilenet, two_photos, tmp_path, CONFIG, progress=False)
    assert [(row["image"], row["method"]) for row in rows] == [
        (photo.name, method) for photo in two_photos for method in CONFIG.methods
    ]
    assert tuple(rows[0]) == ROBUSTNESS_COLUMNS
    for row in rows:
        assert float(row["sensitivity_max"]) >= 0 and math.isfinite(float(row["infidelity"]))
    preprocessor = loaded_mobilenet.preset.preprocessor.with_geometry(CONFIG.geometry)
    for photo in two_photos:
        row = next(r for r in rows if r["image"] == photo.name)
        density = float(row["flip_density"])
        assert 0 < density <= CONFIG.max_density
        image = preprocessor.to_uint8(photo.load())[None]
        noisy = salt_and_pepper(image, density, noise_generator(photo.name, CONFIG.seed))
        with torch.no_grad():
            predicted = int(loaded_mobilenet.model(preprocessor.normalize(noisy)).argmax())
        assert predicted != int(row["target"])
    for row in rows:
        assert all(-1 <= float(row[f"floor_{m}"]) <= 1 for m in ("spearman_abs", "spearman", "ssim", "hog"))
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("# Robustness: mobilenet_v2 (IMAGENET1K_V1 weights), layer features.18\n\n2 photos.")
    assert "| advise | 2 * |" in summary and "| advise minus gradcam |" in summary.split("Paired differences")[1]

    before = (tmp_path / "robustness.csv").read_text()
    assert run_robustness(loaded_mobilenet, two_photos, tmp_path, CONFIG, progress=False) == rows
    assert (tmp_path / "robustness.csv").read_text() == before  # nothing recomputed

    # A cut last line (a killed run) is dropped and that image's rows are computed again, identically.
    lines = before.splitlines(keepends=True)
    (tmp_path / "robustness.csv").write_text("".join(lines[:-2]) + lines[-2][:25])
    with pytest.warns(UserWarning, match="incomplete"):
        again = run_robustness(loaded_mobilenet, two_photos, tmp_path, CONFIG, progress=False)
    assert sorted(map(str, again)) == sorted(map(str, rows))


def test_the_summary_keeps_each_interval_in_its_measures_range_and_flags_few_images():
    from captum_advise.experiments.robustness import robustness_summary

    def row(image: str, method: str, floor: float, sensitivity: float) -> dict[str, str]:
        values = dict.fromkeys(ROBUSTNESS_COLUMNS, "0.5") | {"image": image, "method": method, "label": ""}
        return values | {"floor_spearman_abs": str(floor), "sensitivity_max": str(sensitivity)}

    rows = [row(f"im{n}", "gradcam", floor, 0.1) for n, floor in enumerate((0.9, 1.0, 1.0))]
    rows += [row(f"im{n}", "advise", 0.5, sensitivity) for n, sensitivity in enumerate((0.01, 0.02, 0.6))]
    text = robustness_summary(rows)
    # floor: mean 0.9667, t(2) half-width 0.1434 -> [0.8232, 1.0];
    # advise's sensitivity: [-0.6291, 1.0491] -> [0, 1.0491]. A bootstrap median of 3 values is one of them:
    # the smallest (or the largest) with probability 7/27 each, so the 2.5% and 97.5% points are the extremes.
    assert "| gradcam | 3 * | median 0.1000 [0.1000, 0.1000]; mean 0.1000 [0.1000, 0.1000] (n=3) |" in text
    assert "median 1.0000 [0.9000, 1.0000]; mean 0.9667 [0.8232, 1.0000] (n=3)" in text
    assert "| advise | 3 * | median 0.0200 [0.0100, 0.6000]; mean 0.2100 [0.0000, 1.0491] (n=3) |" in text
    assert "fewer than 10 images" in text


def test_unknown_method_score_or_radius_is_refused():
    with pytest.raises(ValueError, match="unknown robustness method"):
        RobustnessConfig(methods=("advise", "lime"))
    with pytest.raises(ValueError, match="score must be 'softmax' or 'logit', got 'probability'"):
        RobustnessConfig(score="probability")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="floor_radius must be > 0"):
        RobustnessConfig(floor_radius=0.0)


def _small_cnn() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(6, 4),
    )  # fmt: skip
    return net.eval(), net[2]


def _seeded_sensitivity(explain, inputs: torch.Tensor, target: int) -> float:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        return float(sensitivity_max(for_captum_metrics(explain), inputs, target=target, n_perturb_samples=4)[0])


@pytest.mark.parametrize("score", ["softmax", "logit"])
def test_advise_all_units_and_grad_cam_on_one_score_are_equal_maps_and_equal_sensitivities(score):
    net, layer = _small_cnn()
    inputs = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    advise = robustness_explanation("advise-all", net, layer, score, inputs)
    grad_cam = robustness_explanation("gradcam", net, layer, score, inputs)
    assert torch.allclose(advise(inputs, target=2), grad_cam(inputs, target=2), rtol=1e-5, atol=1e-7)
    assert _seeded_sensitivity(advise, inputs, 2) == pytest.approx(_seeded_sensitivity(grad_cam, inputs, 2), rel=1e-4)
    # The score matters: the other one gives another map (so the equality above is not trivial).
    other = LayerGradCamLib(net, layer, score="logit" if score == "softmax" else "softmax")
    assert not torch.allclose(other.attribute(inputs, target=2, relu_attributions=True), grad_cam(inputs, target=2))


def test_frozen_groups_keep_the_clean_inputs_peak_counts():
    net, layer = _small_cnn()
    clean = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    advise = LayerADVISE(net, layer)
    frozen = robustness_explanation("advise-frozen", net, layer, "softmax", clean)
    assert torch.equal(frozen(clean, target=1), advise.attribute(clean, target=1))
    noise = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    perturbed = clean + 0.3 * noise
    groups = advise.relevance(clean).expand(2, -1)
    assert not torch.equal(advise.relevance(perturbed), groups)  # the perturbation moves some peak counts
    assert torch.equal(frozen(perturbed, target=1), advise.attribute(perturbed, target=1, relevance=groups))
    assert torch.equal(
        frozen((perturbed,), target=1), advise.attribute(perturbed, target=1, relevance=groups)
    )  # the tuple form sensitivity_max passes


def test_robustness_on_the_real_network_gives_advise_all_and_grad_cam_equal_sensitivities(
    loaded_mobilenet, two_photos, tmp_path
):
    config = RobustnessConfig(
        methods=("advise-all", "gradcam"), score="logit", sensitivity_samples=2, infidelity_samples=2, max_density=0.05
    )
    rows = run_robustness(loaded_mobilenet, two_photos[:1], tmp_path, config, progress=False)
    by_method = {row["method"]: row for row in rows}
    for measure in ("sensitivity_max", "infidelity", "floor_spearman_abs", "floor_ssim"):
        assert float(by_method["advise-all"][measure]) == pytest.approx(float(by_method["gradcam"][measure]), rel=1e-3)
