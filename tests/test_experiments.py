"""Noise, randomisation and similarity: the sanity and robustness experiments."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from helpers.networks import tiny_cnn, tiny_images
from torch import nn

from captum_advise.attr import LayerADVISE
from captum_advise.cli import main
from captum_advise.data import PAPER_DENSITIES, labelled_folder, noise_generator, salt_and_pepper
from captum_advise.experiments import (
    SanityConfig,
    map_similarity,
    noise_floor,
    randomizable_layers,
    run_data_randomization,
    run_parameter_randomization,
    sanity_maps,
    summarize_data_randomization,
    summarize_similarity,
)
from captum_advise.experiments.data_randomization import COMPARISONS, shapes_dataset, small_cnn
from captum_advise.experiments.network_signal import network_signal
from captum_advise.experiments.noise_ablation import relu_options
from captum_advise.experiments.randomization import cascading_randomization, independent_randomization, randomize_layer
from captum_advise.experiments.sanity import FLOOR_MODE
from captum_advise.experiments.similarity import SIMILARITY_MEASURES
from captum_advise.matlab import upsample_maps
from captum_advise.models import LoadedModel, load_model
from conftest import SHARED

SAMPLES = SHARED / "assets" / "imagenet-samples"


def test_salt_and_pepper_density_and_reproducibility():
    images = torch.full((4, 3, 50, 50), 128, dtype=torch.uint8)
    assert torch.equal(salt_and_pepper(images, 0.0), images)
    noisy = salt_and_pepper(images, 0.2, torch.Generator().manual_seed(1))
    salt, pepper = (noisy == 255).float().mean(), (noisy == 0).float().mean()
    assert abs(float(salt) - 0.1) < 0.01 and abs(float(pepper) - 0.1) < 0.01
    assert torch.equal(noisy, salt_and_pepper(images, 0.2, torch.Generator().manual_seed(1)))
    assert torch.equal(
        salt_and_pepper(images, 0.1, noise_generator("a.jpg", 0)),
        salt_and_pepper(images, 0.1, noise_generator("a.jpg", 0)),
    )
    assert not torch.equal(
        salt_and_pepper(images, 0.1, noise_generator("a.jpg", 0)),
        salt_and_pepper(images, 0.1, noise_generator("b.jpg", 0)),
    )
    assert PAPER_DENSITIES == (0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.225)
    with pytest.raises(ValueError, match="uint8"):
        salt_and_pepper(images.float(), 0.1)


def tiny_batchnorm_cnn() -> nn.Sequential:
    torch.manual_seed(4)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(6, 5),
    )  # fmt: skip
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-0.5, 0.5)
    return net.eval()


def test_randomize_all_includes_batchnorm_and_conv_linear_leaves_it_trained():
    net = tiny_batchnorm_cnn()
    assert randomizable_layers(net) == ["5", "1", "0"]
    assert randomizable_layers(net, "conv-linear") == ["5", "0"]
    assert randomizable_layers(net, "all", init="reset") == ["5", "1", "0"]  # BatchNorm has reset_parameters
    trained = copy.deepcopy(net[1].state_dict())
    scaled = copy.deepcopy(net)
    randomize_layer(scaled, "1", seed=2)
    drawn = scaled[1]
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert not torch.equal(drawn.state_dict()[name], trained[name]), name
    assert (drawn.running_var >= 0).all() and torch.equal(drawn.num_batches_tracked, trained["num_batches_tracked"])
    # Not centred on zero: the scale stays near the trained scales' mean (about 1).
    assert float(drawn.weight.detach().mean()) == pytest.approx(float(trained["weight"].mean()), abs=0.5)
    reset = copy.deepcopy(net)
    randomize_layer(reset, "1", seed=2, init="reset")
    assert torch.equal(reset[1].running_mean, torch.zeros(6)) and torch.equal(reset[1].running_var, torch.ones(6))
    steps = [name for _, name, _ in cascading_randomization(net, randomize="conv-linear")]
    assert steps == ["5", "0"]
    with pytest.raises(ValueError, match="randomize must be one of"):
        randomizable_layers(net, "batchnorm")
    with pytest.raises(ValueError, match="no module to randomise"):
        randomizable_layers(nn.Sequential(nn.ReLU(), nn.Flatten()))


def test_cascading_randomizes_exactly_the_top_k_layers_on_a_copy():
    net = tiny_cnn()
    original = copy.deepcopy(net.state_dict())
    layers = randomizable_layers(net)
    assert layers == ["6", "2", "0"] == randomizable_layers(net, "conv-linear")
    for step, name, randomized in cascading_randomization(net, seed=3):
        assert name == layers[step - 1]
        changed = {
            key.split(".")[0] for key, value in randomized.state_dict().items() if not torch.equal(value, original[key])
        }
        assert changed == set(layers[:step])
    for step, name, randomized in independent_randomization(net, steps=2):
        changed = {
            key.split(".")[0] for key, value in randomized.state_dict().items() if not torch.equal(value, original[key])
        }
        assert changed == {name} and name == layers[step - 1]
    assert all(torch.equal(value, original[key]) for key, value in net.state_dict().items())
    first = [copy.deepcopy(m.state_dict()) for _, _, m in cascading_randomization(net, steps=1, seed=5)]
    again = [copy.deepcopy(m.state_dict()) for _, _, m in cascading_randomization(net, steps=1, seed=5)]
    assert all(torch.equal(first[0][k], again[0][k]) for k in first[0])


def test_similarity_of_a_map_with_itself_is_one_and_with_its_negation_is_minus_one():
    torch.manual_seed(0)
    a = torch.rand(20, 20) - 0.5
    ones = dict.fromkeys(("spearman_abs", "spearman", "ssim_abs", "ssim", "hog_abs", "hog"), 1.0)
    assert map_similarity(a, a) == pytest.approx(ones)
    assert map_similarity(a, -a)["spearman"] == pytest.approx(-1.0)
    assert map_similarity(a, -a)["spearman_abs"] == pytest.approx(1.0)
    assert map_similarity(a, -a)["ssim_abs"] == pytest.approx(1.0) and map_similarity(a, -a)["ssim"] < 0
    # A non-negative map has equal absolute and signed forms: every _abs measure equals its signed one.
    b = torch.rand(20, 20)
    pair = map_similarity(b, b.flip(0))
    assert all(pair[f"{name}_abs"] == pytest.approx(pair[name]) for name in ("spearman", "ssim", "hog"))
    # Both forms are min-max scaled: a map and an affine copy of it are equal for SSIM too.
    assert map_similarity(b, 3 * b + 2)["ssim"] == pytest.approx(1.0)
    assert map_similarity(a, torch.zeros(20, 20))["spearman"] == 0.0
    assert map_similarity(a, torch.zeros(20, 20))["hog"] == 0.0
    # HOG sees edges: a bright square and the same square moved by half its size share fewer of them.
    square = torch.zeros(64, 64)
    square[16:40, 16:40] = 1
    moved = torch.roll(square, shifts=12, dims=1)
    assert map_similarity(square, 2 * square + 1)["hog"] == pytest.approx(1.0)  # min-max scaling first
    assert map_similarity(square, moved)["hog"] < 0.8


def test_network_signal_by_hand_and_a_dead_network():
    linear = nn.Sequential(nn.Identity(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        linear[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 3.0]]))
    inputs = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # per-coordinate std across the two: sqrt(2)
    signal = network_signal(linear, linear[0], inputs)
    assert signal.activation_spread == pytest.approx(2**0.5)
    assert signal.logit_spread == pytest.approx((2**0.5 + 3 * 2**0.5) / 2)
    assert signal.distinct_predictions == 2  # logits (0, 0) -> class 0 (first of a tie), (2, 6) -> class 1
    dead = nn.Sequential(nn.Identity(), nn.Linear(2, 2))
    with torch.no_grad():
        dead[1].weight.zero_()
    dead_signal = network_signal(dead, dead[0], inputs)
    assert dead_signal.logit_spread == 0 and not dead_signal.alive(signal) and signal.alive(signal)


def test_scaled_reinitialisation_keeps_each_layers_scale_and_reset_is_pytorchs():
    net = tiny_cnn()
    trained_std = float(net[0].weight.detach().std())
    scaled = copy.deepcopy(net)
    randomize_layer(scaled, "0", seed=3)
    assert float(scaled[0].weight.std()) == pytest.approx(trained_std, rel=0.2)
    assert not torch.equal(scaled[0].weight, net[0].weight)
    reset = copy.deepcopy(net)
    randomize_layer(reset, "0", seed=3, init="reset")
    expected = copy.deepcopy(net)
    torch.manual_seed(3)
    expected[0].reset_parameters()
    assert torch.equal(reset[0].weight, expected[0].weight)
    with pytest.raises(ValueError, match="init must be"):
        randomize_layer(copy.deepcopy(net), "0", seed=3, init="uniform")


def test_sanity_maps_keep_the_sign_and_ablation_options_switch_relu():
    net, images = tiny_cnn(), tiny_images()
    targets = torch.tensor([0, 1, 2])
    for method in ("advise", "gradcam", "gradcampp", "layercam"):
        maps = sanity_maps(method, net, net[1], images, targets)
        assert maps.shape == (3, 14, 14) and torch.isfinite(maps).all()
    # Grad-CAM's sanity map is ADVISE with every unit in one group, raw: same score, no scaling, sign kept.
    grad_cam = sanity_maps("gradcam", net, net[1], images, targets)
    all_units = LayerADVISE(net, net[1]).attribute(images, target=targets, peaks="all", relu_attributions=False)
    torch.testing.assert_close(grad_cam, upsample_maps(all_units.detach()[:, 0], (14, 14)), rtol=1e-5, atol=1e-7)
    assert (grad_cam < 0).any()
    with pytest.raises(ValueError, match="no sanity maps for method 'lime'"):
        sanity_maps("lime", net, net[1], images, targets)
    assert relu_options(["advise", "gradcam", "layercam", "lime"], False) == {
        "advise": {"relu_attributions": False},
        "gradcam": {"relu": False, "gradient_relu": False},
        "layercam": {"relu": False, "gradient_relu": False},
    }


def test_randomizing_the_top_layers_lowers_grad_cam_similarity_on_mobilenet(mobilenet_v2, tmp_path):
    loaded = LoadedModel(
        mobilenet_v2, load_model("mobilenet_v2", "none").preset, "IMAGENET1K_V1", [str(c) for c in range(1000)]
    )
    records = labelled_folder(SAMPLES)[::200][:3]
    before = copy.deepcopy(mobilenet_v2.state_dict())
    config = SanityConfig(methods=["gradcam", "advise"], steps=4, seed=0)
    rows = run_parameter_randomization(loaded, records, tmp_path, config, progress=False)
    assert all(torch.equal(value, before[key]) for key, value in mobilenet_v2.state_dict().items())
    summary = summarize_similarity(rows)
    assert summary[(0, "none", "gradcam")]["spearman_abs"][0] == pytest.approx(1.0)
    assert summary[(0, "none", "advise")]["ssim"][0] == pytest.approx(1.0)
    by_step = {(step, method): measures for (step, _, method), measures in summary.items()}
    # Every module with parameters, from the top: the classifier, then features.18's BatchNorm, then its conv.
    assert [layer for (step, layer, method) in sorted(summary) if method == "gradcam"][:4] == [
        "none",
        "classifier.1",
        "features.18.1",
        "features.18.0",
    ]
    assert {row["randomize"] for row in rows} == {"all"}
    floor = noise_floor(rows)
    assert set(floor) == {"gradcam", "advise"}
    assert sum(row["mode"] == FLOOR_MODE for row in rows) == 2 * len(records)
    # An imperceptible perturbation barely moves Grad-CAM: its floor is far above the randomised step's.
    assert floor["gradcam"]["spearman_abs"][0] > 0.95 > by_step[(4, "gradcam")]["spearman_abs"][0]
    assert by_step[(4, "gradcam")]["spearman_abs"][0] < 0.9
    assert (tmp_path / "sanity.png").stat().st_size > 10_000
    again = run_parameter_randomization(loaded, records, tmp_path / "again", config, progress=False)
    assert again == rows
    assert (tmp_path / "again" / "sanity.csv").read_text() == (tmp_path / "sanity.csv").read_text()
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["options"]["config"]["seed"] == 0 and info["options"]["config"]["init"] == "scaled"
    assert info["versions"]["torch"] in (torch.__version__, torch.__version__.split("+")[0])
    assert info["torch_threads"] == torch.get_num_threads()
    # The signal per step: alive with the scaled re-initialisation, dead after 3 steps with PyTorch's reset.
    step_signal = {int(row["step"]): row for row in rows if row["method"] == "gradcam"}
    assert float(step_signal[0]["activation_spread"]) == pytest.approx(1.0) and step_signal[0]["alive"] == "1"
    assert all(row["alive"] == "1" for row in step_signal.values())
    reset = SanityConfig(methods=["gradcam"], steps=4, seed=0, init="reset", randomize="conv-linear")
    reset_rows = run_parameter_randomization(loaded, records, tmp_path / "reset", reset, progress=False)
    reset_signal = {int(row["step"]): row for row in reset_rows}
    assert reset_signal[4]["alive"] == "0" and float(reset_signal[4]["activation_spread"]) < 0.01


@pytest.mark.slow
def test_shapes_task_and_data_randomization(tmp_path):
    images, labels = shapes_dataset(30, seed=4)
    assert images.shape == (30, 3, 32, 32) and set(labels.tolist()) == {0, 1, 2}
    assert torch.equal(shapes_dataset(30, seed=4)[0], images)
    # 48 training images: few enough for the permuted labels to be memorised in seconds; 32 test
    # images, enough for the two test accuracies to differ by more than chance.
    result = run_data_randomization(tmp_path, ["gradcam"], train_count=48, test_count=32, max_epochs=300, seeds=[0])
    true, twin, permuted = (result.model(0, role) for role in ("true", "true twin", "permuted"))
    assert result.memorized and min(m.train_accuracy for m in result.models) >= 0.95
    assert true.epochs < permuted.epochs and twin.epochs < permuted.epochs
    # Chance (1/3) on 32 test images lies within [0.19, 0.5] with 95% probability: the permuted-label
    # model is inside that range, both true-label models above it.
    assert min(true.test_accuracy, twin.test_accuracy) > 0.6 > 0.5 > permuted.test_accuracy
    # Three independent initialisations: no two models start from the same weights.
    assert len({m.init_seed for m in result.models}) == 3
    first_weights = [small_cnn(m.init_seed)[0].weight for m in result.models]
    assert not torch.equal(first_weights[0], first_weights[1]) and not torch.equal(first_weights[0], first_weights[2])
    assert [(r["comparison"], r["image"]) for r in result.rows] == [
        (comparison, index) for comparison in COMPARISONS for index in range(32)
    ]
    summary = summarize_data_randomization(result.rows)
    assert math.isnan(summary[("gradcam", "true vs true")]["spearman_abs"][1])  # one seed: no interval
    quick = {"train_count": 48, "test_count": 8, "max_epochs": 1, "seeds": [0]}
    unfit = run_data_randomization(tmp_path / "unfit", ["gradcam"], **quick)
    assert unfit.model(0, "permuted").epochs == 1 and not unfit.memorized
    run_data_randomization(tmp_path / "again", ["gradcam"], **quick)
    assert (tmp_path / "again" / "data_randomization.csv").read_text() == (
        tmp_path / "unfit" / "data_randomization.csv"
    ).read_text()


def test_data_randomization_summary_across_seeds():
    # Two seeds, two images each: seed means 0.2 and 0.4 (test), 0.6 and 1.0 (ceiling).
    values = {("true vs permuted", 0): (0.1, 0.3), ("true vs permuted", 1): (0.4, 0.4),
              ("true vs true", 0): (0.5, 0.7), ("true vs true", 1): (0.9, 1.1)}  # fmt: skip
    rows = [
        {"seed": seed, "comparison": comparison, "method": "gradcam", "image": index}
        | dict.fromkeys(SIMILARITY_MEASURES, value)
        for (comparison, seed), pair in values.items()
        for index, value in enumerate(pair)
    ]
    summary = summarize_data_randomization(rows)
    t = 12.706204736174707  # Student t, 1 degree of freedom, 97.5%
    assert summary[("gradcam", "true vs permuted")]["spearman_abs"] == pytest.approx((0.3, t * 0.1))
    assert summary[("gradcam", "true vs true")]["hog"] == pytest.approx((0.8, t * 0.2))
    assert summary[("gradcam", "ceiling - test")]["ssim_abs"] == pytest.approx((0.5, t * 0.1))


def test_data_randomization_bad_input(tmp_path):
    with pytest.raises(ValueError, match="at least one seed"):
        run_data_randomization(tmp_path, ["gradcam"], seeds=[])
    with pytest.raises(ValueError, match="no sanity maps for method"):
        run_data_randomization(tmp_path, ["lime"], seeds=[0])
    assert not any(tmp_path.iterdir())


@pytest.mark.shared
def test_experiment_commands(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TORCH_HOME", str(SHARED / "assets" / "torch-home"))
    common = ["--model", "mobilenet_v2", "--images", str(SAMPLES), "--limit", "2", "--quiet"]
    assert (
        main(
            [
                "ablate",
                *common,
                "--methods",
                "gradcam",
                "--densities",
                "0,0.2",
                "--relu",
                "on",
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    ablation = (tmp_path / "a" / "ablation.csv").read_text().splitlines()
    assert len(ablation) == 3 and ablation[1].startswith("0.0,True,Grad-CAM")
    # The same arguments on the same machine give the same table.
    rerun = ["ablate", *common, "--methods", "gradcam", "--densities", "0,0.2", "--relu", "on"]
    assert main([*rerun, "--out", str(tmp_path / "a2")]) == 0
    assert (tmp_path / "a2" / "ablation.csv").read_text().splitlines() == ablation
    assert json.loads((tmp_path / "a" / "run_info.json").read_text())["options"]["densities"] == [0.0, 0.2]
    assert main(["sanity", *common, "--methods", "gradcam", "--steps", "1", "--out", str(tmp_path / "s")]) == 0
    assert "step   1 classifier.1" in capsys.readouterr().out
    assert main(["sanity", *common, "--methods", "lime", "--out", str(tmp_path / "s")]) == 1
    assert "unknown sanity method" in capsys.readouterr().err
    for command in ("ablate", "sanity", "sanity-data", "evaluate", "merge"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
    quick = ["--methods", "gradcam", "--train", "24", "--test", "4", "--max-epochs", "1", "--quiet"]
    assert main(["sanity-data", *quick, "--seeds", "0,1", "--out", str(tmp_path / "d")]) == 0
    printed = capsys.readouterr().out
    assert "WARNING: a permuted-label model did not reach 0.95" in printed and "gradcam    ceiling - test" in printed
    assert len((tmp_path / "d" / "data_randomization.csv").read_text().splitlines()) == 1 + 2 * 2 * 4
    with pytest.raises(SystemExit):
        main(["sanity-data", "--seeds", "0,0", "--out", str(tmp_path / "d2")])
    assert "seeds must be distinct" in capsys.readouterr().err and not (tmp_path / "d2").exists()
