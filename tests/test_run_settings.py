"""A run resumes only with the settings that made its rows; --new moves the old files aside, never deletes them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

from captum_advise.cli import main
from captum_advise.runs.settings import (
    SettingsMismatchError,
    check_settings,
    common_settings,
    move_aside,
    run_settings,
    weights_identity,
)
from conftest import SHARED

SAMPLES = SHARED / "assets" / "imagenet-samples"


def test_settings_are_recorded_and_a_difference_is_named_on_one_line(tmp_path):
    first = run_settings("evaluate", "mobilenet_v2", "IMAGENET1K_V1", "features.18", protocol={"mask": "binary"})
    assert first["protocol.mask"] == "binary" and first["layer"] == "features.18"
    check_settings(tmp_path, first, has_rows=False)
    assert json.loads((tmp_path / "settings.json").read_text()) == first
    check_settings(tmp_path, first, has_rows=True)  # the same settings resume
    other = first | {"model": "resnet50", "protocol.mask": "soft"}
    with pytest.raises(SettingsMismatchError) as error:
        check_settings(tmp_path, other, has_rows=True)
    message = str(error.value)
    assert "\n" not in message and "--new" in message
    assert "model 'mobilenet_v2' -> 'resnet50'" in message and "protocol.mask 'binary' -> 'soft'" in message
    assert json.loads((tmp_path / "settings.json").read_text()) == first  # nothing was written
    check_settings(tmp_path, other, has_rows=False)  # a folder without rows takes the new settings
    assert json.loads((tmp_path / "settings.json").read_text()) == other


def test_a_weights_file_is_known_by_its_content_and_folders_to_merge_must_agree(tmp_path):
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights")
    assert weights_identity(str(weights)).startswith("model.pt (sha256 ")
    assert weights_identity("IMAGENET1K_V1") == "IMAGENET1K_V1"
    left, right = tmp_path / "a", tmp_path / "b"
    for folder, tau in ((left, 0.55), (right, 0.9)):
        folder.mkdir()
        check_settings(folder, {"protocol.tau": tau}, has_rows=False)
    assert common_settings([left, left]) == {"protocol.tau": 0.55}
    assert common_settings([tmp_path]) is None
    with pytest.raises(SettingsMismatchError, match=r"protocol.tau 0.55 -> 0.9.*cannot be merged"):
        common_settings([left, right])


def test_moving_aside_keeps_every_file(tmp_path):
    (tmp_path / "records.csv").write_text("rows\n")
    (tmp_path / "ranks").mkdir()
    (tmp_path / "keep.txt").write_text("a user's file\n")
    aside = move_aside(tmp_path, ("records.csv", "ranks", "summary.md"))
    assert aside.parent == tmp_path and aside.name.startswith("replaced-")
    assert (aside / "records.csv").read_text() == "rows\n" and (aside / "ranks").is_dir()
    assert (tmp_path / "keep.txt").exists() and not (tmp_path / "records.csv").exists()
    assert move_aside(tmp_path, ("records.csv",)) is None


@pytest.mark.shared
def test_evaluate_refuses_to_resume_with_another_model_or_protocol_and_new_starts_afresh(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(SAMPLES / "001_n01443537_goldfish.JPEG", images)
    out = tmp_path / "out"
    run = ["evaluate", "--images", str(images), "--methods", "gradcam", "--auc-steps", "0", "--out", str(out)]
    assert main([*run, "--model", "mobilenet_v2", "--quiet"]) == 0
    recorded = (out / "records.csv").read_bytes()
    capsys.readouterr()

    # Another process, another model (random weights): refused before any work, the rows untouched.
    environment = os.environ | {"TORCH_HOME": str(SHARED / "assets" / "torch-home")}
    command = [sys.executable, "-m", "captum_advise", *run, "--model", "resnet50", "--weights", "none", "--quiet"]
    other = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert other.returncode == 1
    assert other.stderr.count("\n") == 1 and "model 'mobilenet_v2' -> 'resnet50'" in other.stderr, other.stderr
    assert (out / "records.csv").read_bytes() == recorded

    assert main([*run, "--model", "mobilenet_v2", "--mask", "soft", "--quiet"]) == 1
    assert "protocol.mask 'binary' -> 'soft'" in capsys.readouterr().err
    assert (out / "records.csv").read_bytes() == recorded

    assert main([*run, "--model", "mobilenet_v2", "--mask", "soft", "--new", "--quiet"]) == 0
    (aside,) = out.glob("replaced-*")
    assert (aside / "records.csv").read_bytes() == recorded
    assert json.loads((out / "settings.json").read_text())["protocol.mask"] == "soft"
    assert (out / "records.csv").read_bytes() != recorded


@pytest.mark.shared
def test_robustness_refuses_another_radius(loaded_mobilenet, tmp_path):
    from captum_advise.data import labelled_folder
    from captum_advise.experiments import RobustnessConfig, run_robustness

    photo = labelled_folder(SAMPLES)[:1]
    config = RobustnessConfig(methods=("gradcam",), sensitivity_samples=2, infidelity_samples=2, max_density=0.05)
    rows = run_robustness(loaded_mobilenet, photo, tmp_path, config, progress=False)
    before = (tmp_path / "robustness.csv").read_bytes()
    with pytest.raises(SettingsMismatchError, match=r"radius 0.02 -> 0.5"):
        run_robustness(loaded_mobilenet, photo, tmp_path, replace(config, radius=0.5), progress=False)
    assert (tmp_path / "robustness.csv").read_bytes() == before
    # Another method is not another setting: it adds its rows.
    more = run_robustness(loaded_mobilenet, photo, tmp_path, replace(config, methods=("gradcam", "layercam")))
    assert len(more) == len(rows) + 1


@pytest.mark.shared
def test_ctrl_c_stops_evaluate_with_one_line_and_status_130_and_a_rerun_resumes(tmp_path):
    import signal
    import time

    from captum_advise.evaluation import read_records

    images = tmp_path / "images"
    images.mkdir()
    for photo in sorted(SAMPLES.glob("*.JPEG"))[:6]:
        shutil.copy(photo, images)
    out = tmp_path / "out"
    environment = os.environ | {"TORCH_HOME": str(SHARED / "assets" / "torch-home")}
    run = [sys.executable, "-m", "captum_advise", "evaluate", "--model", "mobilenet_v2", "--images", str(images)]
    run += ["--methods", "gradcam", "--auc-steps", "0", "--batch-size", "1", "--out", str(out)]
    process = subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    deadline = time.monotonic() + 300
    while not (out / "records.csv").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr
    assert last.startswith("captum-advise evaluate: interrupted after ") and last.endswith(
        " of 6 images; rerun the same command to resume"
    ), last
    done = {row["image"] for row in read_records(out / "records.csv")}
    assert 1 <= len(done) < 6
    finished = subprocess.run([*run, "--quiet"], capture_output=True, text=True, env=environment, timeout=600)
    assert finished.returncode == 0, finished.stderr
    rows = read_records(out / "records.csv")
    assert sorted(row["image"] for row in rows) == sorted(path.name for path in images.iterdir())
