"""A run resumes only with the settings that made its rows; --new moves the old files aside, never deletes them."""

from __future__ import annotations

import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

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


@pytest.fixture
def one_photo(tmp_path, monkeypatch):
    """A folder holding one real photo, and TORCH_HOME at the offline weights (for the command line)."""
    monkeypatch.setenv("TORCH_HOME", str(SHARED / "assets" / "torch-home"))
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(SAMPLES / "001_n01443537_goldfish.JPEG", folder)
    return folder


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
def test_evaluate_refuses_to_resume_with_another_model_or_protocol_and_new_starts_afresh(one_photo, tmp_path, capsys):
    images = one_photo
    out = tmp_path / "out"
    run = [
        "evaluate",
        "--images",
        str(images),
        "--methods",
        "gradcam",
        "--no-controls",
        "--auc-steps",
        "0",
        "--out",
        str(out),
    ]
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


@pytest.mark.slow  # two processes run the real model end to end
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
    # Ctrl-C's default action, even when the tests themselves run as a background job (which ignores SIGINT).
    process = subprocess.Popen(
        run,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not (out / "records.csv").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr
    assert last.startswith("captum-advise evaluate: interrupted after ") and last.endswith(
        " of 36 explanations; rerun the same command to resume"  # 6 photos x (Grad-CAM and 5 controls)
    ), last
    done = {row["image"] for row in read_records(out / "records.csv")}
    assert 1 <= len(done) < 6
    finished = subprocess.run([*run, "--quiet"], capture_output=True, text=True, env=environment, timeout=600)
    assert finished.returncode == 0, finished.stderr
    from captum_advise.catalogue import method_names

    rows = read_records(out / "records.csv")
    # Every image once per method, its controls included: the rerun neither lost nor repeated a row.
    expected = [(path.name, method) for path in images.iterdir() for method in ("gradcam", *method_names("control"))]
    assert sorted((row["image"], row["method"]) for row in rows) == sorted(expected)


# --- every records file is checked, cell by cell, before any work ----------------------------------


def _record(image: str = "001_n01443537_goldfish.JPEG", method: str = "gradcam") -> dict[str, object]:
    from captum_advise.evaluation.records import COLUMNS

    values = {"image": image, "label": 1, "predicted": 1, "second": 2, "method": method, "group": "", "units": ""}
    values["draw"] = ""
    return {column: values.get(column, "0.5") for column in COLUMNS}


def test_a_wrong_cell_is_named_by_file_line_and_column(tmp_path):
    from captum_advise.evaluation import read_records
    from captum_advise.evaluation.records import COLUMNS
    from captum_advise.runs.output_files import csv_text

    path = tmp_path / "records.csv"
    good = csv_text(COLUMNS, [_record(), _record(method="layercam")])
    header, first, second = good.splitlines(keepends=True)
    path.write_text(header + first + ",".join(["junk"] * len(COLUMNS)) + "\n" + second)
    with pytest.raises(ValueError, match=r"records.csv line 3: label 'junk' is not a whole number >= 0"):
        read_records(path)
    path.write_text(csv_text(COLUMNS, [_record() | {"check": 1.5}]))
    with pytest.raises(ValueError, match=r"line 2: check '1.5' lies outside \[0, 1\]"):
        read_records(path)
    path.write_text(good)
    assert len(read_records(path)) == 2


@pytest.mark.shared
def test_evaluate_and_merge_stop_at_a_junk_row_before_any_work(one_photo, tmp_path, capsys):
    from captum_advise.evaluation.records import COLUMNS
    from captum_advise.runs.output_files import csv_text

    images = one_photo
    out = tmp_path / "out"
    out.mkdir()
    header, first = csv_text(COLUMNS, [_record()]).splitlines(keepends=True)
    junk = header + ",".join(["junk"] * len(COLUMNS)) + "\n" + first
    (out / "records.csv").write_bytes(junk.encode())
    run = [
        "evaluate",
        "--model",
        "mobilenet_v2",
        "--images",
        str(images),
        "--methods",
        "gradcam,layercam",
        "--no-controls",
    ]
    assert main([*run, "--auc-steps", "0", "--out", str(out), "--quiet"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{out / 'records.csv'} line 2: label 'junk'" in error, error
    assert (out / "records.csv").read_bytes() == junk.encode() and not (out / "summary.md").exists()
    assert main(["merge", str(out), "--out", str(tmp_path / "merged")]) == 1
    assert "line 2: label 'junk'" in capsys.readouterr().err


# --- unreadable images: one line before any work, or skipped and listed ------------------------------


@pytest.mark.shared
def test_an_unreadable_image_stops_evaluate_at_once_or_is_skipped_and_listed(one_photo, tmp_path, capsys):
    images = one_photo
    (images / "002_n01484850_broken.JPEG").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    run = ["evaluate", "--model", "mobilenet_v2", "--images", str(images), "--methods", "gradcam", "--no-controls"]
    run += ["--auc-steps", "0", "--out", str(out), "--quiet"]
    assert main(run) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "002_n01484850_broken.JPEG" in error, error
    assert not (out / "records.csv").exists()
    assert main([*run, "--skip-unreadable"]) == 0
    skipped = (out / "skipped.csv").read_text().splitlines()
    assert skipped[0] == "image,reason" and skipped[1].startswith("002_n01484850_broken.JPEG,")
    summary = (out / "summary.md").read_text()
    assert "Left out 1 unreadable image (skipped.csv): 002_n01484850_broken.JPEG." in summary
    assert "1 record in" in capsys.readouterr().out


# --- summary.md stands on its own ----------------------------------------------------------------------


def test_the_summary_has_a_heading_avx_first_intervals_in_range_and_notes_for_its_rows_only():
    from captum_advise.evaluation import summary_table
    from captum_advise.evaluation.summary import summary_heading

    rows = []
    for index, hit in enumerate((1, 0, 1, 0)):
        row = _record(image=f"{index:03d}_photo.JPEG")
        rows.append({key: str(value) for key, value in row.items()} | {"hit": str(hit), "avx": f"0.{index + 2}"})
    settings = run_settings("evaluate", "mobilenet_v2", "IMAGENET1K_V1", "features.18", protocol={"mask": "binary"})
    page = summary_table(rows, summary_heading(settings, 4, "photos/"))
    lines = page.splitlines()
    assert lines[0] == "# AVX evaluation: mobilenet_v2 (IMAGENET1K_V1 weights), layer features.18"
    assert lines[2].startswith("4 photos from photos/. Settings: captum-advise ") and "protocol.mask binary" in lines[2]
    header = next(line for line in lines if line.startswith("| method"))
    assert header.split(" | ")[2] == "AVX ↑"
    grad_cam = next(line for line in lines if line.startswith("| Grad-CAM |"))
    assert grad_cam.split(" | ")[1] == "4 *"
    # Wilson's interval for 2 hits in 4 stays in [0, 1] (a t interval would be 0.500 ± 0.919).
    assert grad_cam.split(" | ")[3] == "0.500 [0.150, 0.850]"
    assert "n < 10" in page and "**Grad-CAM**: pytorch-grad-cam's GradCAM" in page
    assert "What the ADVISE rows are" not in page and "ADVISE oracle" not in page


# --- weights, explain's own figures, a missing group -------------------------------------------------------


class _Payload:
    def __reduce__(self):
        return (print, ("this pickle ran code",))


def test_an_unsafe_weights_file_is_refused_in_one_line(tmp_path):
    import torch

    from captum_advise.models import WeightsUnavailableError, load_model

    path = tmp_path / "weights.pt"
    torch.save({"layer.weight": _Payload()}, path)
    with pytest.raises(WeightsUnavailableError) as error:
        load_model("mobilenet_v2", str(path))
    message = str(error.value)
    assert message.startswith(f"refused weights file {path}: it holds Python objects") and "\n" not in message
    assert "weights_only" not in message


@pytest.mark.shared
def test_explain_never_reads_its_own_figures_and_says_when_a_group_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(SHARED / "assets" / "torch-home"))
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("001_n01443537_goldfish.JPEG", "425_n02793495_barn.JPEG"):
        shutil.copy(SAMPLES / name, folder)
    run = ["explain", str(folder), "--model", "mobilenet_v2", "--out", str(folder)]
    for _ in range(2):
        assert main(run) == 0
    assert sorted(path.name for path in folder.glob("*.json")) == [
        "001_n01443537_goldfish.json",
        "425_n02793495_barn.json",
    ]
    assert "left out 2 figure(s) that captum-advise wrote" in capsys.readouterr().err
    photo = str(folder / "001_n01443537_goldfish.JPEG")
    assert main(["explain", photo, "--model", "mobilenet_v2", "--peaks", "99", "--out", str(tmp_path / "o")]) == 0
    assert "001_n01443537_goldfish.JPEG has no group with 99 peaks" in capsys.readouterr().err
    explained = json.loads((tmp_path / "o" / "001_n01443537_goldfish.json").read_text())
    assert explained["requested_group_missing"] is True and explained["groups"] == []


# --- library edge cases, packaging, small things ---------------------------------------------------------


def test_an_empty_batch_and_a_layer_too_small_for_a_density_are_one_line_errors():
    import torch
    from torch import nn

    from captum_advise import LayerADVISE

    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 4, 1), nn.Flatten())
    with pytest.raises(ValueError, match=r"inputs hold no examples \(shape \(0, 3, 8, 8\)\)"):
        LayerADVISE(net.eval(), net[0]).attribute(torch.rand(0, 3, 8, 8))
    with pytest.raises(ValueError, match=r"layer '3' gives each unit a 1 x 1 map \(output shape \(2, 4, 1, 1\)\)"):
        LayerADVISE(net, net[3]).attribute(torch.rand(2, 3, 8, 8))


def test_the_package_declares_its_licence_and_ships_no_paths_of_this_repository():
    import re
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["license"] == "BSD-3-Clause" and (root / "LICENSE").read_text().startswith("BSD 3-Clause License")
    description = (root / project["readme"]).read_text()
    assert not re.findall(r"\]\((?!https?://)[^)]*\)", description), "relative links break off the repository"
    for module in (root / "captum_advise").rglob("*.py"):
        assert "../shared" not in module.read_text(), module


def test_an_images_file_is_named_as_a_file_and_warnings_go_above_the_progress_bar(tmp_path):
    from captum_advise.data import ImageReadError, image_files

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"x")
    with pytest.raises(ImageReadError, match=r"photo.jpg is a file, not a folder of images"):
        image_files(photo)
    code = (
        "import sys, warnings\n"
        "from tqdm import tqdm\n"
        "from captum_advise.cli.main import show_library_messages\n"
        "show_library_messages()\n"
        "bar = tqdm(total=2, desc='evaluate', file=sys.stderr, ascii=True)\n"
        "bar.update(1); warnings.warn('a library warning'); bar.update(1); bar.close()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = result.stderr.replace("\r", "\n").splitlines()
    assert any(line.endswith("UserWarning: a library warning") for line in lines), lines


@pytest.mark.shared
def test_sanity_refuses_to_replace_rows_of_other_settings_and_counts_its_rows(one_photo, tmp_path, capsys):
    images = one_photo
    shutil.copy(SAMPLES / "425_n02793495_barn.JPEG", images)  # the network's spread needs two photos
    out = tmp_path / "out"
    run = ["sanity", "--model", "mobilenet_v2", "--images", str(images), "--methods", "gradcam", "--steps", "1"]
    run += ["--out", str(out), "--quiet"]
    assert main(run) == 0
    rows = (out / "sanity.csv").read_bytes()
    count = len(rows.decode().splitlines()) - 1
    assert f"{count} rows in {out / 'sanity.csv'}" in capsys.readouterr().out
    assert main([*run, "--seed", "1"]) == 1
    assert "seed 0 -> 1" in capsys.readouterr().err and (out / "sanity.csv").read_bytes() == rows
    assert main([*run, "--seed", "1", "--new"]) == 0
    (aside,) = out.glob("replaced-*")
    assert (aside / "sanity.csv").read_bytes() == rows


@pytest.mark.shared
def test_ablate_refuses_a_resume_with_other_noise_and_new_moves_every_setting_aside(one_photo, tmp_path, capsys):
    images = one_photo
    out = tmp_path / "out"
    run = ["ablate", "--model", "mobilenet_v2", "--images", str(images), "--methods", "gradcam"]
    run += ["--densities", "0.05", "--relu", "on", "--out", str(out), "--quiet"]
    assert main(run) == 0
    rows = (out / "relu-on_d0.05" / "records.csv").read_bytes()
    assert main([*run, "--seed", "1"]) == 1
    assert "noise_seed 0 -> 1" in capsys.readouterr().err
    assert (out / "relu-on_d0.05" / "records.csv").read_bytes() == rows
    assert main([*run, "--seed", "1", "--new"]) == 0
    (aside,) = out.glob("replaced-*")
    assert (aside / "relu-on_d0.05" / "records.csv").read_bytes() == rows and (aside / "ablation.csv").exists()


def test_an_interrupted_sanity_run_keeps_its_finished_steps_and_resumes_at_the_step_it_reached(
    tmp_path, capsys, monkeypatch
):
    """Random MobileNetV2 weights, made-up photos: the run's bookkeeping, not a sanity verdict."""
    import torch

    from captum_advise.experiments import sanity as sanity_module

    images = tmp_path / "images"
    images.mkdir()
    for n in range(2):
        pixels = np.random.default_rng(n).integers(0, 256, (40, 56, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"photo{n}.png")
    run = ["sanity", "--model", "mobilenet_v2", "--weights", "none", "--images", str(images), "--methods", "gradcam"]
    run += ["--steps", "3", "--quiet"]

    def sanity(out) -> int:
        torch.manual_seed(0)  # the same random network in every run
        return main([*run, "--out", str(out)])

    assert sanity(tmp_path / "whole") == 0
    whole = (tmp_path / "whole" / "sanity.csv").read_text()

    explained_steps = []
    step_rows = sanity_module._step_rows

    def interrupted_at_step_two(step, *args, **kwargs):
        if step == 2:
            raise KeyboardInterrupt
        explained_steps.append(step)
        return step_rows(step, *args, **kwargs)

    monkeypatch.setattr(sanity_module, "_step_rows", interrupted_at_step_two)
    out = tmp_path / "cut"
    assert sanity(out) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
    kept = (out / "sanity.csv").read_text().splitlines()
    assert explained_steps == [0, 1] and {line.split(",")[3] for line in kept[1:]} == {"0", "1"}
    assert kept == whole.splitlines()[: len(kept)]  # the finished steps, as the whole run wrote them

    explained_steps.clear()

    def counted(step, *args, **kwargs):
        explained_steps.append(step)
        return step_rows(step, *args, **kwargs)

    monkeypatch.setattr(sanity_module, "_step_rows", counted)
    assert sanity(out) == 0
    assert explained_steps == [2, 3]  # only the steps not on disk
    assert (out / "sanity.csv").read_text() == whole
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Parameter randomisation: mobilenet_v2 (none weights), layer features.18\n\n2 photos.")
    assert "| noise floor | none | gradcam |" in summary and "| 0 | none | gradcam | 1.000 [1.000, 1.000] |" in summary
    assert "Fewer than 10 photos" in summary


@pytest.mark.parametrize(("setting", "applied"), [("", "True"), ("system", "False")])
def test_the_command_line_keeps_freed_memory_unless_told_not_to(setting, applied):
    """glibc: large buffers come from the heap and stay there; CAPTUM_ADVISE_MALLOC=system leaves malloc alone."""
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    code = "from captum_advise.runs.allocator import keep_freed_memory; print(keep_freed_memory())"
    env = dict(os.environ, CAPTUM_ADVISE_MALLOC=setting)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == applied


def test_importing_the_library_leaves_malloc_alone_and_the_command_sets_it(monkeypatch, tmp_path):
    cli_main = importlib.import_module("captum_advise.cli.main")  # the module, not the function it exports
    code = "import sys, captum_advise; print('captum_advise.runs.allocator' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    calls = []
    monkeypatch.setattr(cli_main, "keep_freed_memory", lambda: calls.append(1) or True)
    assert cli_main.main(["merge", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 1
    assert calls == [1]
