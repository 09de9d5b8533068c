"""The protocol on hand-made cases, and the runner on real photos: records, resume, shards, summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.networks import tiny_cnn

from captum_advise.cli import main
from captum_advise.data import labelled_folder
from captum_advise.evaluation import (
    EvaluationConfig,
    ProtocolOptions,
    merge_records,
    read_records,
    run_evaluation,
    score_maps,
    shard,
)
from captum_advise.evaluation import runner as runner_module
from captum_advise.evaluation import summary as summary_module
from captum_advise.evaluation.records import COLUMNS
from captum_advise.evaluation.summary import summary_rows
from captum_advise.matlab import imresize
from captum_advise.metrics import fsim_chromatic, mask_images, normalized_mse, ssim_volume, top_area_masks
from captum_advise.models import load_model
from conftest import SHARED

SAMPLES = SHARED / "assets" / "imagenet-samples"
# What the tests of the runner do not need: the controls and the matched areas (their own tests run them).
CHEAP = ProtocolOptions(areas=(), penalty="reference")


def test_a_map_that_keeps_everything_scores_avx_one_and_an_empty_map_scores_low():
    net = tiny_cnn()
    torch.manual_seed(1)
    images = (torch.rand(2, 3, 14, 14) * 255).to(torch.uint8)

    def classify(batch: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(batch.float() / 255), dim=1)

    with torch.no_grad():
        probabilities = classify(images)
    predicted = probabilities.argmax(dim=1)
    maps = torch.stack([torch.ones(14, 14), torch.zeros(14, 14)])
    second = torch.rand(2, 14, 14)
    result = score_maps(
        classify=classify,
        images=images,
        probabilities=probabilities,
        predicted=predicted,
        image_index=torch.tensor([0, 1]),
        maps=maps,
        second_maps=second,
    )
    assert result["ssim"][0] == pytest.approx(1.0) and result["fsim"][0] == pytest.approx(1.0, abs=1e-6)
    assert result["mse"][0] == 0 and result["ad"][0] == 0 and result["avx"][0] == pytest.approx(1.0, abs=1e-6)
    assert result["hit"].tolist() == [1.0, 1.0]  # five classes: always in the top five
    assert result["mse"][1] > 0.1 and result["avx"][1] < 0.9
    assert result["cs"][1] == 0  # a constant map has no correlation
    soft = score_maps(
        classify=classify,
        images=images,
        probabilities=probabilities,
        predicted=predicted,
        image_index=torch.tensor([0]),
        maps=maps[:1] * 0.5,
        second_maps=second[:1],
        options=ProtocolOptions(mask="soft"),
    )
    assert 0 < soft["mse"][0] < 0.5


def test_maps_scored_together_equal_maps_scored_one_set_and_one_image_at_a_time():
    """The runner scores every method's maps, under the reference's mask and at every area, in shared
    forward passes: the same numbers as each method's maps scored alone, one masked image per pass
    (the old path), and as the metrics computed directly on the masked images."""
    net = tiny_cnn()
    generator = torch.Generator().manual_seed(6)
    images = torch.randint(0, 256, (3, 3, 14, 14), generator=generator, dtype=torch.uint8)

    def classify(batch: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(batch.float() / 255), dim=1)

    with torch.no_grad():
        probabilities = classify(images)
    predicted = probabilities.argmax(dim=1)
    sets = [torch.tensor([0, 1, 2]), torch.tensor([2, 0, 0, 1])]  # two methods' maps: which image each explains
    maps = [torch.rand(len(index), 14, 14, generator=generator) for index in sets]
    second = [torch.rand(len(index), 14, 14, generator=generator) for index in sets]
    bound = dict(classify=classify, images=images, probabilities=probabilities, predicted=predicted)
    calls = []
    together = score_maps(
        **bound,
        image_index=torch.cat(sets),
        maps=torch.cat(maps),
        second_maps=torch.cat(second),
        options=ProtocolOptions(batch_size=5, areas=(0.25, 0.5), auc_steps=0),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(5, 21), (10, 21), (15, 21), (20, 21), (21, 21)]  # 7 maps x (reference + 2 areas)
    alone = [
        score_maps(
            **bound,
            image_index=index,
            maps=part,
            second_maps=other,
            options=ProtocolOptions(batch_size=1, areas=(0.25, 0.5), auc_steps=0),
        )
        for index, part, other in zip(sets, maps, second, strict=True)
    ]
    for name, values in together.items():
        one_by_one = torch.cat([scores[name] for scores in alone])
        if name.startswith(("hit", "check")):
            assert torch.equal(values, one_by_one), name
        else:
            torch.testing.assert_close(values, one_by_one, rtol=0, atol=1e-6, equal_nan=True, msg=name)
    # Unpenalised, the image metrics are those of the masked images themselves, to the bit.
    raw = score_maps(
        **bound,
        image_index=sets[1],
        maps=maps[1],
        second_maps=second[1],
        options=ProtocolOptions(batch_size=3, areas=(0.25,), auc_steps=0, penalty="off"),
    )
    originals = images[sets[1]]
    for suffix, masked in (
        ("", mask_images(originals, maps[1])),
        ("@0.25", torch.where(top_area_masks(maps[1], 0.25).unsqueeze(1), originals, 0)),
    ):
        assert torch.equal(raw[f"ssim{suffix}"], ssim_volume(masked, originals))
        assert torch.equal(raw[f"fsim{suffix}"], fsim_chromatic(masked, originals))
        assert torch.equal(raw[f"mse{suffix}"], normalized_mse(masked, originals))


@pytest.fixture(scope="module")
def photos():
    records = labelled_folder(SAMPLES)
    return [records[1], records[340], records[720]]


def test_runner_records_resume_and_summary(loaded_mobilenet, photos, tmp_path, monkeypatch):
    config = EvaluationConfig(methods=["advise", "gradcam"], batch_size=2, controls=False, protocol=CHEAP)
    rows = run_evaluation(loaded_mobilenet, photos, tmp_path, config, progress=False)
    assert tuple(rows[0]) == COLUMNS  # no matched areas, one scoring: the base columns only
    for record in photos:
        mine = [row for row in rows if row["image"] == record.name]
        assert [row["method"] for row in mine].count("gradcam") == 1
        assert [row["method"] for row in mine].count("advise-auto") == 1
        groups = [int(row["group"]) for row in mine if row["method"] == "advise"]
        assert groups == sorted(groups) and len(groups) >= 2
        assert all(row["label"] == str(record.label) for row in mine)
        for row in mine:
            assert 0 <= float(row["avx"]) <= 1 and float(row["seconds"]) > 0
        # The confidence rule's forward passes are charged to its own rows, not to the group maps.
        maps_seconds = {row["seconds"] for row in mine if row["method"] in ("advise", "advise-auto")}
        rule_seconds = {row["seconds"] for row in mine if row["method"] == "advise-confidence"}
        assert len(maps_seconds) == len(rule_seconds) == 1
        assert float(rule_seconds.pop()) > float(maps_seconds.pop())
    # Spec §5: check is decided on the raw CS, so a NaN (recorded as 0) never passes it.
    assert not [row for row in rows if float(row["cs"]) == 0 and float(row["check"]) == 1]
    summary = {entry["method"]: entry for entry in summary_rows(rows)}
    oracle = summary[summary_module.ORACLE]
    auto = summary[summary_module.AUTO]
    assert oracle["images"] == auto["images"] == summary["Grad-CAM"]["images"] == 3
    assert oracle["avx"][0] >= auto["avx"][0]
    text = (tmp_path / "summary.md").read_text()
    assert "Grad-CAM" in text and "What the ADVISE rows are" in text and "imMain.m" in text

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished image was explained again")

    monkeypatch.setattr(runner_module, "ExplanationBatch", must_not_run)
    before = (tmp_path / "records.csv").read_text()
    assert run_evaluation(loaded_mobilenet, photos, tmp_path, config, progress=False) == rows
    assert (tmp_path / "records.csv").read_text() == before

    monkeypatch.undo()
    more = EvaluationConfig(
        methods=["advise", "gradcam", "layercam"],
        batch_size=2,
        method_limits={"layercam": 1},
        controls=False,
        protocol=CHEAP,
    )
    extended = run_evaluation(loaded_mobilenet, photos, tmp_path, more, progress=False)
    assert extended[: len(rows)] == rows
    assert [row["image"] for row in extended[len(rows) :]] == [photos[0].name]
    assert extended[-1]["method"] == "layercam"


@pytest.mark.slow
def test_shards_merge_into_the_unsharded_result(loaded_mobilenet, photos, tmp_path):
    # One image per batch in both runs: float32 maps move by ~1e-6 with batch composition, and the
    # binary mask at 0.5 can turn that into a flipped pixel and a different masked-image score.
    config = EvaluationConfig(methods=["gradcam", "advise"], batch_size=1, controls=False, protocol=CHEAP)
    whole = run_evaluation(loaded_mobilenet, photos, tmp_path / "whole", config, progress=False)
    for index in (1, 2):
        run_evaluation(loaded_mobilenet, shard(photos, index, 2), tmp_path / f"shard{index}", config, progress=False)
    assert [r.name for r in shard(photos, 1, 2)] == [photos[0].name, photos[2].name]
    count = merge_records(
        [tmp_path / "shard1" / "records.csv", tmp_path / "shard2" / "records.csv"], tmp_path / "merged.csv"
    )
    merged = read_records(tmp_path / "merged.csv")
    assert count == len(whole) == len(merged)
    key = lambda row: (row["image"], row["method"], row["group"])  # noqa: E731
    by_key = {key(row): row for row in whole}
    for row in merged:
        for metric in ("cs", "ad", "ssim", "fsim", "mse", "avx"):
            assert float(row[metric]) == pytest.approx(float(by_key[key(row)][metric]), abs=1e-4)
    with pytest.raises(ValueError, match="shard must be I/N"):
        shard(photos, 3, 2)


@pytest.mark.shared
def test_random_weights_are_flagged_in_the_summary(photos, tmp_path):
    loaded = load_model("mobilenet_v2", "none")
    run_evaluation(
        loaded,
        photos[:1],
        tmp_path,
        EvaluationConfig(methods=["gradcam"], controls=False, protocol=CHEAP),
        progress=False,
    )
    assert (tmp_path / "summary.md").read_text().startswith("**RANDOM WEIGHTS")


@pytest.mark.shared
def test_evaluate_and_merge_commands(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TORCH_HOME", str(SHARED / "assets" / "torch-home"))
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("001_n01443537_goldfish.JPEG", "425_n02793495_barn.JPEG"):
        shutil.copy(SAMPLES / name, folder / name)
    for index in (1, 2):
        run = ["evaluate", "--model", "mobilenet_v2", "--images", str(folder), "--methods", "gradcam,advise"]
        run += ["--no-controls", "--areas", "none"]
        assert main([*run, "--shard", f"{index}/2", "--out", str(tmp_path / f"s{index}"), "--quiet"]) == 0
    assert main(["merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "all")]) == 0
    out = capsys.readouterr().out
    assert "ADVISE auto" in out and "Grad-CAM" in out
    assert {row["image"] for row in read_records(tmp_path / "all" / "records.csv")} == {
        "001_n01443537_goldfish.JPEG",
        "425_n02793495_barn.JPEG",
    }
    with pytest.raises(SystemExit):
        main(
            ["evaluate", "--model", "mobilenet_v2", "--images", str(folder), "--methods", "gradcam,magic", "--out", "x"]
        )
    assert "unknown method(s) ['magic']" in capsys.readouterr().err


def test_the_runner_squashes_the_whole_photo_by_default_and_crops_on_request(loaded_mobilenet, photos):
    from captum_advise.evaluation.runner import _network_image

    photo = photos[0].load()
    squashed = _network_image(loaded_mobilenet, photos[0], EvaluationConfig(methods=["gradcam"]))
    rgb = torch.from_numpy(np.array(photo.convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(squashed, imresize(rgb, (224, 224)))
    cropped = _network_image(loaded_mobilenet, photos[0], EvaluationConfig(methods=["gradcam"], geometry="crop"))
    assert torch.equal(cropped, loaded_mobilenet.preset.preprocessor.to_uint8(photo))
    assert not torch.equal(squashed, cropped)


# Records written by captum-advise 0.1.0 before the method catalogue (tests/data; the evaluator before masked
# images were scored in shared forward passes wrote the same), and the command that wrote them.
RECORDS_BEFORE = Path(__file__).parent / "data" / "evaluate_records_0.1.0.csv"
PHOTOS_BEFORE = ("499_n03041632_cleaver.JPEG", "874_n04487081_trolleybus.JPEG")
METHODS_BEFORE = "advise,gradcam,gradcampp,layercam,hirescam,eigencam,fullgrad,finercam,refinecam"


@pytest.mark.slow
@pytest.mark.shared
def test_evaluate_records_agree_with_those_written_before_shared_forward_passes(tmp_path, monkeypatch):
    """Two photos of classes far apart: hit, check, classes, groups and units exactly; every metric within
    1e-5 (a masked image's probabilities move by ~1e-7 with the others in its forward pass). The reference's
    penalty alone and row-major ties reproduce those records; the brightness control is newer."""
    monkeypatch.setenv("TORCH_HOME", str(SHARED / "assets" / "torch-home"))
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS_BEFORE:
        (photos / name).symlink_to(SAMPLES / name)
    out = tmp_path / "out"
    args = ["evaluate", "--model", "mobilenet_v2", "--images", str(photos), "--methods", METHODS_BEFORE]
    scoring = ["--penalty", "reference", "--ties", "row_major", "--primary", "avx@0.5"]
    assert main([*args, *scoring, "--auc-steps", "2", "--out", str(out), "--quiet"]) == 0
    before, after = read_records(RECORDS_BEFORE), read_records(out / "records.csv")
    assert [row["method"] for row in after].count("brightness") == 2
    after = [row for row in after if row["method"] != "brightness"]
    assert len(after) == len(before) == 66 and list(after[0]) == list(before[0])
    timings = ("seconds", "metric_seconds")
    exact = ("image", "label", "predicted", "second", "method", "group", "units", "draw", "check")
    for old, new in zip(before, after, strict=True):
        for column, value in old.items():
            if column in exact or column.startswith("hit") or not value:
                assert new[column] == value, column
            elif column not in timings:
                assert abs(float(new[column]) - float(value)) <= 1e-5, (column, new[column], value)
