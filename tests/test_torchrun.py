"""torchrun: evaluate, sanity and ablate split across 2 CPU processes equal the one-process runs.

Each test launches ``python -m torch.distributed.run --nproc-per-node 2`` on the real MobileNetV2 and
real photos. Every image is evaluated in a batch of its own in both runs, and the one-process run
also uses one thread, as each torchrun rank does: float32 activations move by ~1e-7 with batch
composition and thread count, and that can move a unit between ADVISE's peak groups (measured: the
'chain' photo's group 0 had 607 units with 2 threads, 606 with 1), which changes that group's map.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from captum_advise.cli import main
from captum_advise.evaluation import read_records
from captum_advise.experiments.sanity import FLOOR_MODE, SANITY_COLUMNS
from captum_advise.runs.output_files import locked_output
from conftest import SHARED

# Each test launches torchrun (several Python processes loading the real model): minutes in all.
pytestmark = [pytest.mark.slow, pytest.mark.shared]

SAMPLES = SHARED / "assets" / "imagenet-samples"
PHOTOS = [
    "000_n01440764_tench.JPEG",
    "163_n02088466_bloodhound.JPEG",
    "325_n02281406_sulphur_butterfly.JPEG",
    "488_n02999410_chain.JPEG",
    "650_n03759954_microphone.JPEG",
    "813_n04270147_spatula.JPEG",
]
METRICS = ("cs", "check", "hit", "y", "o", "ad", "ssim", "fsim", "mse", "avx", "deletion", "insertion")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
HELPER = Path(__file__).parent / "helpers" / "rank_dies.py"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        shutil.copy(SAMPLES / name, folder / name)
    return folder


@pytest.fixture(autouse=True)
def launcher_temporary_folder(tmp_path, monkeypatch) -> None:
    # torchrun leaves a torchelastic_* folder in the temporary directory of each launch.
    folder = tmp_path / "launcher-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))


def run(*command: str, script: Path | None = None, launcher=TORCHRUN) -> subprocess.CompletedProcess:
    environment = os.environ | {"TORCH_HOME": str(SHARED / "assets" / "torch-home"), "OMP_NUM_THREADS": "1"}
    target = [str(script)] if script else ["-m", "captum_advise"]
    # A session of its own: on a timeout the launcher's workers are killed with it, not orphaned.
    process = subprocess.Popen(
        [*launcher, *target, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def torchrun(*command: str, script: Path | None = None) -> subprocess.CompletedProcess:
    return run(*command, script=script)


def one_process(*command: str) -> None:
    result = run(*command, launcher=[sys.executable])
    assert result.returncode == 0, result.stderr[-3000:]


def evaluate_command(photos: Path, out: Path) -> list[str]:
    return ["evaluate", "--model", "mobilenet_v2", "--images", str(photos), "--methods", "gradcam,advise",
            "--no-controls", "--areas", "none", "--batch-size", "1", "--auc-steps", "2", "--out", str(out),
            "--quiet"]  # fmt: skip


def rows_by_key(rows: list[dict[str, str]], key: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, str]]:
    keyed = {tuple(row[column] for column in key): row for row in rows}
    assert len(keyed) == len(rows), "duplicate rows"
    return keyed


def assert_same_rows(merged, single, key, metrics, exact=()) -> None:
    merged, single = rows_by_key(merged, key), rows_by_key(single, key)
    assert merged.keys() == single.keys()
    for name, row in single.items():
        assert [merged[name][column] for column in exact] == [row[column] for column in exact], name
        for metric in metrics:
            assert float(merged[name][metric]) == pytest.approx(float(row[metric]), abs=1e-4), (name, metric)


@pytest.fixture(scope="module")
def single_evaluation(photos, tmp_path_factory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("single")
    one_process(*evaluate_command(photos, out))
    return read_records(out / "records.csv")


def test_torchrun_evaluate_merges_to_the_one_process_rows(photos, single_evaluation, tmp_path):
    result = torchrun(*evaluate_command(photos, tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    merged = read_records(tmp_path / "records.csv")
    assert_same_rows(merged, single_evaluation, ("image", "method", "group"), METRICS, exact=("units", "predicted"))
    assert [row["image"] for row in merged if row["method"] == "gradcam"] == PHOTOS  # image order
    assert not (tmp_path / "ranks").exists()  # merged, then the rank files removed
    assert (tmp_path / "summary.md").read_text().count("| Grad-CAM | 6 * |") == 1
    assert result.stdout.count("records in") == 1  # only rank 0 reports


def test_a_killed_rank_keeps_its_rows_and_a_rerun_completes_without_duplicates(photos, single_evaluation, tmp_path):
    killed = torchrun(*evaluate_command(photos, tmp_path), script=HELPER)
    assert killed.returncode != 0
    left = read_records(tmp_path / "ranks" / "rank-1-of-2" / "records.csv")
    assert {row["image"] for row in left} == {PHOTOS[1]}  # rank 1's first image, then it died
    assert not (tmp_path / "records.csv").exists()

    resumed = torchrun(*evaluate_command(photos, tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    lines = (tmp_path / "records.csv").read_text().splitlines()
    assert len(lines) == 1 + len(single_evaluation)  # header + every row once
    assert_same_rows(read_records(tmp_path / "records.csv"), single_evaluation, ("image", "method", "group"), METRICS)


def test_torchrun_fails_at_once_on_a_folder_another_run_holds(photos, tmp_path):
    with locked_output(tmp_path):
        result = torchrun(*evaluate_command(photos, tmp_path))
    assert result.returncode != 0
    assert result.stderr.count("another run is writing to") == 2  # every rank says why, in one line
    assert not (tmp_path / "records.csv").exists() and not (tmp_path / "run_info.json").exists()


def test_torchrun_sanity_equals_one_process(photos, tmp_path):
    command = ["sanity", "--model", "mobilenet_v2", "--images", str(photos), "--limit", "3", "--steps", "3",
               "--methods", "gradcam,advise", "--quiet"]  # fmt: skip
    one_process(*command, "--out", str(tmp_path / "single"))
    result = torchrun(*command, "--out", str(tmp_path / "ranks"))
    assert result.returncode == 0, result.stderr[-3000:]
    key = ("mode", "step", "method", "image")
    single = read_records(tmp_path / "single" / "sanity.csv", SANITY_COLUMNS, key)
    merged = read_records(tmp_path / "ranks" / "sanity.csv", SANITY_COLUMNS, key)
    assert [row["step"] for row in merged] == [row["step"] for row in single]  # 4 steps: rank 0 took 0 and 2
    assert sum(row["mode"] == FLOOR_MODE for row in merged) == 2 * 3  # the main rank's noise floor, once
    assert_same_rows(merged, single, key, ("spearman_abs", "ssim", "ssim_abs", "activation_spread"), ("layer",))
    assert (tmp_path / "ranks" / "sanity.png").exists()


def test_torchrun_ablate_equals_one_process(photos, tmp_path):
    command = ["ablate", "--model", "mobilenet_v2", "--images", str(photos), "--limit", "3", "--methods", "gradcam",
               "--densities", "0.1", "--relu", "on", "--batch-size", "1", "--quiet"]  # fmt: skip
    one_process(*command, "--out", str(tmp_path / "single"))
    result = torchrun(*command, "--out", str(tmp_path / "ranks"))
    assert result.returncode == 0, result.stderr[-3000:]
    single = (tmp_path / "single" / "ablation.csv").read_text()
    assert (tmp_path / "ranks" / "ablation.csv").read_text() == single
    assert_same_rows(
        read_records(tmp_path / "ranks" / "relu-on_d0.1" / "records.csv"),
        read_records(tmp_path / "single" / "relu-on_d0.1" / "records.csv"),
        ("image", "method", "group"),
        METRICS[:-2],
        exact=("deletion", "insertion"),  # the ablation reports AVX only: both empty
    )


def test_commands_that_do_not_split_refuse_torchrun(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["robustness", "--model", "mobilenet_v2", "--images", ".", "--out", "x"]) == 1
    assert "robustness does not split across torchrun's processes" in capsys.readouterr().err
    assert main(["evaluate", "--model", "mobilenet_v2", "--images", ".", "--out", "x", "--shard", "1/2"]) == 1
    assert "--shard and torchrun both split the images" in capsys.readouterr().err
