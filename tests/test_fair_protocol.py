"""The fair protocol: penalties that do not ask CS, random ties, the brightness control, and statistics
declared before the data (families, Holm within each, equivalence, sign-flip tests)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from helpers.methods import class_maps
from helpers.networks import tiny_cnn

from captum_advise.cams import LayerBrightness
from captum_advise.cams.controls import luminance
from captum_advise.cli import main
from captum_advise.evaluation import AnalysisPlan, ProtocolOptions, read_records, score_maps
from captum_advise.evaluation.methods import ControlMethod
from captum_advise.evaluation.paired_tests import (
    bootstrap_median_interval,
    equivalence_p_value,
    paired_effect_size,
    sign_flip_p_value,
)
from captum_advise.evaluation.protocol import area_columns
from captum_advise.evaluation.records import COLUMNS, append_records, record_columns
from captum_advise.metrics import top_area_masks


def _enumerated_p(differences: list[float]) -> float:
    """The two-sided sign-flip p by listing every sign pattern by hand."""
    observed = sum(differences)
    sums = [
        sum(s * d for s, d in zip(signs, differences, strict=True))
        for signs in itertools.product((1, -1), repeat=len(differences))
    ]
    upper = sum(s >= observed - 1e-12 for s in sums) / len(sums)
    lower = sum(s <= observed + 1e-12 for s in sums) / len(sums)
    return min(1.0, 2 * min(upper, lower))


def test_sign_flip_p_is_the_share_of_sign_patterns_as_extreme():
    differences = [0.3, -0.1, 0.2, 0.25, 0.05, -0.02]
    assert sign_flip_p_value(differences) == pytest.approx(_enumerated_p(differences))
    # Zeros carry no sign: they change nothing.
    assert sign_flip_p_value([*differences, 0.0, 0.0]) == sign_flip_p_value(differences)
    assert sign_flip_p_value([0.0, 0.0]) == 1.0 and math.isnan(sign_flip_p_value([]))
    # Symmetric under a change of sign; 5 positive differences: 2 of 32 patterns as extreme.
    assert sign_flip_p_value([-d for d in differences]) == sign_flip_p_value(differences)
    assert sign_flip_p_value([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2 / 32)


def test_sign_flip_p_by_drawn_patterns_is_seeded_and_close_to_exact():
    generator = np.random.default_rng(3)
    differences = list(generator.normal(0.05, 0.2, size=17))  # above 16: drawn patterns
    first, again = sign_flip_p_value(differences, seed=1), sign_flip_p_value(differences, seed=1)
    assert first == again and 0 < first <= 1
    exact = _enumerated_p(differences)  # 131,072 patterns
    assert abs(first - exact) < 0.015  # 10,000 draws: a binomial standard error of at most 0.005
    assert sign_flip_p_value([1.0] * 40, seed=0) == pytest.approx(2 / 10_001)  # never 0


def test_equivalence_is_shown_only_inside_the_margin():
    small = [0.004, -0.006, 0.002, 0.001, -0.003, 0.005, -0.001, 0.0]
    assert equivalence_p_value(small, margin=0.02) == pytest.approx(1 / 256)  # 8 shifted values, none 0
    assert equivalence_p_value(small, margin=0.002) > 0.05
    shifted = [d + 0.03 for d in small]  # every difference above +0.02: not equivalent
    assert equivalence_p_value(shifted, margin=0.02) == 1.0
    with pytest.raises(ValueError, match="margin must be > 0"):
        equivalence_p_value(small, margin=0)


def test_paired_effect_size_and_bootstrap_median_by_hand():
    assert paired_effect_size([0.1, 0.3]) == pytest.approx(0.2 / math.sqrt(0.02))
    assert math.isnan(paired_effect_size([0.1, 0.1])) and math.isnan(paired_effect_size([0.1]))
    median, low, high = bootstrap_median_interval([1.0, 2.0, 3.0, 4.0, 100.0], seed=2)
    assert median == 3.0 and 1.0 <= low <= median <= high <= 100.0
    assert bootstrap_median_interval([1.0, 2.0, 3.0, 4.0, 100.0], seed=2) == (median, low, high)
    assert math.isnan(bootstrap_median_interval([5.0])[1])


def test_brightness_is_the_photos_luma_averaged_over_the_layers_cells():
    images = torch.zeros(2, 3, 4, 6, dtype=torch.uint8)
    images[0, 0] = 100  # red 100: luma 29.9
    images[1, :, :2, :3] = 255  # the top-left quarter white
    cells = luminance(images, (2, 2))
    assert cells.dtype == torch.float64
    torch.testing.assert_close(cells[0, 0], torch.full((2, 2), 29.9, dtype=torch.float64))
    torch.testing.assert_close(cells[1, 0], torch.tensor([[255.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="uint8 RGB"):
        luminance(images.float(), (2, 2))


def test_brightness_control_is_the_same_for_both_classes_and_reads_the_uint8_photo():
    net = tiny_cnn()
    torch.manual_seed(0)
    photos = (torch.rand(3, 3, 14, 14) * 255).to(torch.uint8)
    inputs = photos.float() / 255 * 4 - 2
    maps = LayerBrightness(net, net[1]).attribute(inputs, target=0, images=photos)
    assert maps.shape == (3, 1, 14, 14) and maps.dtype == torch.float32
    torch.testing.assert_close(maps, luminance(photos, (14, 14)).float())
    torch.testing.assert_close(maps, LayerBrightness(net, net[1]).attribute(inputs, target=[1, 2, 3], images=photos))
    # Without the photos, a float input is read by its min and max: here the same photo up to rounding.
    from_inputs = LayerBrightness(net, net[1]).attribute(inputs, target=0)
    assert (from_inputs - maps).abs().max() < 2.0
    control = class_maps(ControlMethod("brightness"), net, net[1], inputs, torch.tensor([0, 1, 2]), images=photos)
    lowest, highest = maps.amin(dim=(1, 2, 3), keepdim=True), maps.amax(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(control, ((maps - lowest) / (highest - lowest))[:, 0], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="2 images for 3 inputs"):
        LayerBrightness(net, net[1]).attribute(inputs, target=0, images=photos[:2])


def test_random_ties_keep_a_uniformly_spread_set_of_a_constant_map_and_are_reproducible():
    constant = torch.zeros(2, 224, 224)
    keep = top_area_masks(constant, 0.25, seeds=[5, 6])
    assert keep.flatten(1).sum(1).tolist() == [12544, 12544]
    for mask in keep:
        # Every band of 28 rows and every band of 28 columns keeps about a quarter of its pixels.
        rows = mask.view(8, 28, 224).float().mean(dim=(1, 2))
        columns = mask.view(224, 8, 28).float().mean(dim=(0, 2))
        assert (rows - 0.25).abs().max() < 0.02 and (columns - 0.25).abs().max() < 0.02
    assert not torch.equal(keep[0], keep[1])
    assert torch.equal(top_area_masks(constant[:1], 0.25, seeds=[5])[0], keep[0])  # batched == alone
    # Distinct values are kept by value whatever the seed; ties only are shuffled.
    ordered = torch.arange(12.0).view(1, 3, 4)
    assert torch.equal(top_area_masks(ordered, 0.5, seeds=[1]), top_area_masks(ordered, 0.5))
    row_major = top_area_masks(constant[:1], 0.25)
    assert row_major[0, :56].all() and not row_major[0, 56:].any()
    with pytest.raises(ValueError, match="1 tie-breaking seeds for 2 maps"):
        top_area_masks(constant, 0.25, seeds=[1])


def _case(seed: int, count: int, classes: int = 50):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 14 * 14, classes)).eval()

    def classify(batch: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(batch.float() / 255), dim=1)

    images = (torch.rand(count, 3, 14, 14) * 255).to(torch.uint8)
    with torch.no_grad():
        probabilities = classify(images)
    return {
        "classify": classify,
        "images": images,
        "probabilities": probabilities,
        "predicted": probabilities.argmax(1),
    }


def test_every_penalty_scores_lost_classes_as_documented_from_one_set_of_masked_images():
    count = 12
    case = _case(2, count)
    maps = torch.zeros(count, 14, 14)
    maps[:, :3] = 1
    second = maps.clone()
    torch.manual_seed(100)
    second[count // 2 :] = torch.rand(count - count // 2, 14, 14)  # half the maps pass the check
    options = {"areas": (0.25,), "auc_steps": 0, "tau": 0.5}
    scored = {
        p: score_maps(
            **case,
            image_index=torch.arange(count),
            maps=maps,
            second_maps=second,
            options=ProtocolOptions(penalty=p, **options),
        )
        for p in ("reference", "delta", "zero", "off")
    }
    together = score_maps(
        **case,
        image_index=torch.arange(count),
        maps=maps,
        second_maps=second,
        options=ProtocolOptions(penalty=("reference", "delta", "zero", "off"), **options),
    )
    lost, check = scored["off"]["hit"] == 0, scored["off"]["check"] == 1
    assert lost.any() and (~lost).any() and (lost & check).any() and (lost & ~check).any()
    raw, delta = scored["off"], 1 - (scored["off"]["y"] - scored["off"]["o"]).abs()
    for penalty in ("delta", "zero", "off"):
        for column in ("avx", "avx@0.25"):
            torch.testing.assert_close(together[f"{column}/{penalty}"], scored[penalty][column], rtol=0, atol=1e-12)
    torch.testing.assert_close(together["avx"], scored["reference"]["avx"], rtol=0, atol=0)
    assert (scored["zero"]["avx"][lost] == 0).all()
    torch.testing.assert_close(scored["zero"]["avx"][~lost], raw["avx"][~lost])
    torch.testing.assert_close(scored["delta"]["ssim"][lost], raw["ssim"][lost] * delta[lost])
    torch.testing.assert_close(
        scored["reference"]["ssim"][lost & check], raw["ssim"][lost & check] * delta[lost & check]
    )
    assert (scored["reference"]["avx"][lost & ~check] == 0).all()
    # The reference lets a lost class that passes the check keep a positive AVX; zero never does.
    assert (scored["reference"]["avx"][lost & check] > 0).all()


def test_records_hold_each_further_scorings_avx_columns_and_read_back(tmp_path):
    columns = record_columns((0.1, 0.5), ("reference", "zero"))
    assert columns[-3:] == ("avx/zero", "avx@0.1/zero", "avx@0.5/zero")
    assert record_columns((0.1,)) == (*COLUMNS, *area_columns((0.1,)))
    row = {column: "0.5" for column in columns} | {
        "image": "a",
        "method": "gradcam",
        "label": "",
        "group": "",
        "units": "",
        "draw": "",
        "predicted": "1",
        "second": "2",
        "deletion": "",
        "insertion": "",
    }
    append_records(tmp_path / "records.csv", [row], columns)
    (read,) = read_records(tmp_path / "records.csv")
    assert read["avx@0.5/zero"] == "0.5" and list(read) == list(columns)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--penalty", "reference,none"], "--penalty wants names from reference, delta, zero, off, got none"),
        (["--penalty", "zero,zero"], "--penalty names must be distinct"),
        (["--margin", "0"], "--margin wants a number > 0"),
        (["--margin", "x"], "--margin wants a number > 0"),
        (["--primary", "ssim@0.5"], "--primary wants avx, avx@Q, avx/PENALTY or avx@Q/PENALTY"),
        (["--ties", "columns"], "invalid choice: 'columns'"),
    ],
)
def test_bad_scoring_options_fail_in_one_line_before_any_work(option, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--model", "mobilenet_v2", "--images", str(tmp_path), "--out", str(tmp_path / "o"), *option])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            ["--primary", "avx@0.3/zero"],
            "the measure avx@0.3/zero needs matched area 0.3, and the run scores areas 0.1, 0.25, 0.5",
        ),
        (["--primary", "avx/delta"], "the measure avx/delta needs penalty delta, and the run scores reference, zero"),
        (
            ["--areas", "none", "--primary", "avx@0.5"],
            "the measure avx@0.5 needs matched area 0.5, and the run scores areas none",
        ),
    ],
)
def test_a_primary_measure_the_run_does_not_compute_is_refused_before_any_work(option, message, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"not read before the check")
    code = main(["evaluate", "--model", "mobilenet_v2", "--images", str(photos), "--out", str(tmp_path / "o"), *option])
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"captum-advise evaluate: error: {message}"]
    assert not (tmp_path / "o").exists()


def test_the_default_primary_measure_follows_what_the_run_computes():
    assert AnalysisPlan().primary_measure((0.1, 0.25, 0.5), ("reference", "zero")) == "avx@0.5/zero"
    assert AnalysisPlan().primary_measure((0.1, 0.25, 0.5), ("zero",)) == "avx@0.5"
    assert AnalysisPlan().primary_measure((0.1, 0.25), ("reference",)) == "avx@0.25"
    assert AnalysisPlan().primary_measure((), ("reference", "zero")) == "avx/zero"
    with pytest.raises(ValueError, match="margin must be a number > 0"):
        AnalysisPlan(margin=-0.1)


def test_a_folder_is_not_resumed_under_other_scoring_or_another_plan(tmp_path):
    from types import SimpleNamespace

    from captum_advise.evaluation import EvaluationConfig
    from captum_advise.evaluation.runner import evaluation_settings
    from captum_advise.runs.settings import SettingsMismatchError, check_settings

    loaded = SimpleNamespace(preset=SimpleNamespace(name="mobilenet_v2", reference_layer="features.18"), weights="w")
    first = evaluation_settings(loaded, EvaluationConfig(methods=["gradcam"]))
    assert first["analysis.primary"] == "avx@0.5/zero" and first["protocol.penalty"] == ["reference", "zero"]
    assert first["protocol.ties"] == "random" and first["analysis.margin"] == 0.02
    check_settings(tmp_path, first, has_rows=False)
    check_settings(tmp_path, first, has_rows=True)
    for config, changed in (
        (EvaluationConfig(methods=["gradcam"], protocol=ProtocolOptions(penalty="reference")), "protocol.penalty"),
        (EvaluationConfig(methods=["gradcam"], protocol=ProtocolOptions(ties="row_major")), "protocol.ties"),
        (EvaluationConfig(methods=["gradcam"], plan=AnalysisPlan(margin=0.05)), "analysis.margin"),
        (EvaluationConfig(methods=["gradcam"], plan=AnalysisPlan(primary="avx@0.1/zero")), "analysis.primary"),
    ):
        with pytest.raises(SettingsMismatchError, match=changed):
            check_settings(tmp_path, evaluation_settings(loaded, config), has_rows=True)
