"""A user's files are never lost: inputs never overwritten, locked and resumable outputs, atomic
writes, every PIL mode read without clipping, and errors before the work."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from PIL import Image

from captum_advise.cli import main
from captum_advise.cli.explain_command import output_stems
from captum_advise.data import ImageReadError, ImageRecord, labelled_folder, read_image, to_rgb
from captum_advise.evaluation import EvaluationConfig, read_records, run_evaluation
from captum_advise.evaluation.records import append_records, record_columns
from captum_advise.evaluation.summary import summary_rows
from captum_advise.runs.output_files import OutputFolderError, atomic_write, atomic_write_text, locked_output
from conftest import SHARED

SAMPLES = SHARED / "assets" / "imagenet-samples"
TENCH = SAMPLES / "000_n01440764_tench.JPEG"


@pytest.fixture
def torch_home(monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(SHARED / "assets" / "torch-home"))


# --- explain never overwrites an input, and names colliding stems apart ---------------------------


@pytest.mark.shared
def test_explain_refuses_an_out_folder_where_it_would_overwrite_an_input(torch_home, tmp_path, capsys):
    photo = tmp_path / "tench.png"
    Image.open(TENCH).save(photo)
    before = photo.read_bytes()
    assert main(["explain", str(tmp_path), "--model", "mobilenet_v2", "--out", str(tmp_path)]) == 1
    assert "would overwrite the input image" in capsys.readouterr().err
    assert photo.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["tench.png"]


def _made_up_photo(path, size=(48, 64)) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def test_explain_replaces_only_files_it_wrote(tmp_path, capsys):
    """A user's own photo.png and photo.json in --out are refused before any work; its own are replaced."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    _made_up_photo(folder / "photo.jpg")
    args = ["explain", str(folder), "--model", "mobilenet_v2", "--weights", "none", "--out", str(out)]
    for name, write in (("photo.png", lambda p: _made_up_photo(p)), ("photo.json", lambda p: p.write_text("[1]"))):
        write(out / name)
        before = (out / name).read_bytes()
        assert main(args) == 1
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and f"holds {name}, which captum-advise did not write" in error
        assert (out / name).read_bytes() == before
        (out / name).unlink()
    assert main(args) == 0  # into an empty folder
    first = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert sorted(first) == ["photo.json", "photo.png"]
    assert main(args) == 0  # its own files: replaced
    assert all(p.stat().st_mtime_ns >= first[p.name] for p in out.iterdir())


def test_explain_answers_a_decompression_bomb_in_one_line(tmp_path, capsys, monkeypatch):
    """Over PIL's limit (lowered here: a real bomb is 20000 x 20000): one line naming the file, no traceback."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL refuses over twice the limit
    bomb = tmp_path / "bomb.png"
    _made_up_photo(bomb, (32, 32))
    assert main(["explain", str(bomb), "--model", "mobilenet_v2", "--weights", "none", "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "bomb.png is too large to read safely" in error


def test_colliding_stems_get_distinct_output_names():
    records = [ImageRecord(name) for name in ("fish.jpg", "fish.png", "cat.jpg", "fish.jpg")]
    assert output_stems(records) == ["fish_jpg", "fish_png", "cat", "fish_jpg-2"]


@pytest.mark.shared
def test_explain_writes_one_pair_of_files_per_input_for_colliding_stems(torch_home, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(TENCH).convert("RGB").save(folder / "fish.jpg")
    Image.open(TENCH).convert("RGB").save(folder / "fish.png")
    out = tmp_path / "out"
    assert main(["explain", str(folder), "--model", "mobilenet_v2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fish_jpg.json", "fish_jpg.png", "fish_png.json", "fish_png.png"]
    assert "wrote 2 explanation(s)" in capsys.readouterr().out


# --- errors before the work -------------------------------------------------------------------------


@pytest.mark.shared
def test_explain_errors_come_before_the_work_and_leave_nothing_behind(torch_home, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    run = ["explain", str(TENCH), "--model", "mobilenet_v2"]
    assert main([*run, "--out", str(a_file)]) == 1
    assert "is an existing file" in capsys.readouterr().err
    assert main([*run, "--out", str(a_file / "sub")]) == 1
    assert "cannot write to output folder" in capsys.readouterr().err
    assert main([*run, "--target", "5000", "--out", str(tmp_path / "t")]) == 1
    assert "--target 5000 is not a class of mobilenet_v2: use 0 to 999" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["explain", str(empty), "--model", "mobilenet_v2", "--out", str(tmp_path / "e")]) == 1
    assert "no images found in" in capsys.readouterr().err


@pytest.mark.shared
def test_an_image_over_the_decompression_limit_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageReadError, match="too large to read safely"):
        read_image(TENCH)
    assert main(["explain", str(TENCH), "--model", "mobilenet_v2", "--out", str(tmp_path / "o")]) == 1
    assert "too large to read safely" in capsys.readouterr().err


# --- PIL modes ------------------------------------------------------------------------------------


def test_high_bit_depth_images_are_scaled_not_clipped_to_white():
    ramp = np.linspace(0, 1, 64).reshape(8, 8)
    sixteen = Image.fromarray((ramp * 65535).round().astype(np.uint16))
    assert sixteen.mode == "I;16"
    expected = np.floor(ramp * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(np.asarray(to_rgb(sixteen))[..., 0], expected)
    assert (np.asarray(sixteen.convert("RGB")) == 255).mean() > 0.9  # what PIL alone does: clipped to white
    thirty_two = Image.fromarray((ramp * 65535).round().astype(np.int32))
    assert thirty_two.mode == "I" and np.array_equal(np.asarray(to_rgb(thirty_two))[..., 1], expected)
    as_float = Image.fromarray(ramp.astype(np.float32))
    assert as_float.mode == "F" and np.array_equal(np.asarray(to_rgb(as_float))[..., 2], expected)
    as_bytes = Image.fromarray((ramp * 255).astype(np.float32))
    assert np.abs(np.asarray(to_rgb(as_bytes))[..., 0].astype(int) - expected).max() <= 1
    with pytest.raises(ImageReadError, match="cannot tell the range"):
        to_rgb(Image.fromarray((ramp - 0.5).astype(np.float32)), "signed.tif")


@pytest.mark.parametrize(
    ("values", "mode"),
    [(1.05, np.float32), (2.0, np.float32), (300, np.float32), (4095, np.int32), (1000, np.int32), (70000, np.int32)],
)
def test_an_image_whose_white_cannot_be_told_is_refused_not_darkened(tmp_path, values, mode, capsys):
    """A float image slightly above 1, or 10- to 12-bit data in a 32-bit image: one line, never a dark photo."""
    ramp = np.linspace(0, 1, 64).reshape(8, 8) * values
    path = tmp_path / "photo.tif"
    Image.fromarray(ramp.astype(mode)).save(path)
    with pytest.raises(ImageReadError, match=r"cannot tell the range of image .*photo.tif"):
        read_image(path)
    assert main(["explain", str(path), "--model", "mobilenet_v2", "--weights", "none", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "photo.png").exists()


def test_other_modes_a_user_meets_become_rgb(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    assert to_rgb(rgba).getpixel((0, 0)) == (10, 20, 30)
    assert to_rgb(Image.new("LA", (4, 4), (77, 0))).getpixel((0, 0)) == (77, 77, 77)
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.info["transparency"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert to_rgb(palette).getpixel((0, 0)) == (200, 100, 50)
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))
    assert to_rgb(cmyk).getpixel((0, 0)) == (255, 0, 0)
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16)).save(path)
    assert read_image(path).getpixel((0, 0)) == (128, 128, 128)


# --- evaluate: locked, resumable after a cut line, duplicates dropped, atomic summary -------------


@pytest.fixture(scope="module")
def two_photos():
    records = labelled_folder(SAMPLES)
    return [records[1], records[340]]


def untimed(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in ("seconds", "metric_seconds")} for row in rows]


def test_a_cut_last_line_is_dropped_recomputed_and_never_appended_to(loaded_mobilenet, two_photos, tmp_path):
    config = EvaluationConfig(methods=["gradcam"], batch_size=1, controls=False)
    rows = run_evaluation(loaded_mobilenet, two_photos, tmp_path, config, progress=False)
    path = tmp_path / "records.csv"
    whole = path.read_text()
    path.write_text(whole[:-25])  # a writer killed in the middle of the last row
    with pytest.warns(UserWarning, match="last line is incomplete"):
        assert read_records(path) == rows[:1]
    with pytest.warns(UserWarning, match="last line is incomplete"):
        again = run_evaluation(loaded_mobilenet, two_photos, tmp_path, config, progress=False)
    assert untimed(again) == untimed(rows) and untimed(read_records(path)) == untimed(rows)
    text = path.read_text()
    assert text.endswith("\n") and text.count("\n") == whole.count("\n")
    path.write_text(whole[: whole.index("\n") + 5])  # only the header survived whole
    with pytest.warns(UserWarning, match="last line is incomplete"):
        assert read_records(path) == []


def test_duplicate_rows_are_dropped_when_read(loaded_mobilenet, two_photos, tmp_path):
    config = EvaluationConfig(methods=["gradcam"], batch_size=2, controls=False)
    rows = run_evaluation(loaded_mobilenet, two_photos, tmp_path, config, progress=False)
    columns = record_columns(config.protocol.areas, config.protocol.penalties)  # the areas' and scorings' columns
    append_records(tmp_path / "records.csv", rows, columns)  # two runs that once wrote into one folder
    with pytest.warns(UserWarning, match="2 duplicate"):
        again = read_records(tmp_path / "records.csv")
    assert again == rows
    assert [entry["images"] for entry in summary_rows(again)] == [2]


LOCK_HOLDER = textwrap.dedent(
    """
    import sys, time
    from captum_advise.runs.output_files import locked_output
    with locked_output(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(60)
    """
)


@pytest.mark.shared
def test_a_second_run_into_a_locked_folder_fails_at_once(torch_home, tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        run = ["evaluate", "--model", "mobilenet_v2", "--images", str(SAMPLES), "--limit", "1", "--out", str(tmp_path)]
        assert main([*run, "--methods", "gradcam"]) == 1
        assert "another run is writing to" in capsys.readouterr().err
        assert not (tmp_path / "records.csv").exists()
        with pytest.raises(OutputFolderError, match="another run"), locked_output(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with locked_output(tmp_path), locked_output(tmp_path):  # re-entrant in one process, free once the holder is gone
        pass


def test_writes_are_atomic_an_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "summary.md"
    atomic_write_text(path, "old summary\n")

    def interrupted(temporary):
        temporary.write_text("half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted)
    assert path.read_text() == "old summary\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.md"]
    plain = tmp_path / "plain.md"
    plain.write_text("made with open()")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # the umask's permissions, not 0600


@pytest.mark.shared
def test_merge_and_summary_survive_reruns(torch_home, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(SAMPLES / "001_n01443537_goldfish.JPEG", folder)
    run = [
        "evaluate",
        "--model",
        "mobilenet_v2",
        "--images",
        str(folder),
        "--methods",
        "gradcam",
        "--no-controls",
        "--quiet",
    ]
    assert main([*run, "--out", str(tmp_path / "a")]) == 0
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(tmp_path / "m")]) == 0
    assert len(read_records(tmp_path / "m" / "records.csv")) == 1
    assert "| Grad-CAM | 1 * |" in (tmp_path / "m" / "summary.md").read_text()
