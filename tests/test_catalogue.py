"""The method catalogue: every list of methods comes from it, and a row added to it is known everywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers.methods import class_maps
from helpers.networks import tiny_cnn, tiny_images
from PIL import Image
from test_comparisons import fixed_records

import captum_advise
from captum_advise import cams
from captum_advise.cams.library_cams import _LibraryLayerCam
from captum_advise.catalogue import CATALOGUE, EVALUATOR_OPTIONS, MethodEntry, method_names, robustness_methods
from captum_advise.cli import main
from captum_advise.cli.arguments import method_list
from captum_advise.cli.evaluate_command import evaluator_method_options
from captum_advise.cli.main import build_parser
from captum_advise.evaluation import read_records, summary_table
from captum_advise.evaluation.methods import build_method
from captum_advise.evaluation.summary import summary_heading


class LayerMyGradCam(_LibraryLayerCam):
    """pytorch-grad-cam's GradCAM under a name of its own: the thin class a new library method needs."""

    method = "mygradcam"


MY_ROW = MethodEntry(
    "mygradcam",
    "My Grad-CAM",
    "pytorch-grad-cam's GradCAM under another name",
    "library",
    "LayerMyGradCam",
    "GradCAM",
    options=("upsample",),
)


@pytest.fixture
def with_my_row(monkeypatch):
    """The catalogue with one more pytorch-grad-cam row, and its thin class where the catalogue looks."""
    monkeypatch.setitem(CATALOGUE, MY_ROW.name, MY_ROW)
    monkeypatch.setattr(cams, "LayerMyGradCam", LayerMyGradCam, raising=False)


def test_a_library_row_is_a_captum_class_a_cli_choice_and_an_evaluator_method(with_my_row):
    assert captum_advise.LayerMyGradCam is LayerMyGradCam
    assert "mygradcam" in method_list("all") and method_list("gradcam,mygradcam") == ["gradcam", "mygradcam"]
    assert "mygradcam" in robustness_methods() and "mygradcam" not in method_names(compared=True)
    args = build_parser().parse_args(
        ["evaluate", "--model", "mobilenet_v2", "--images", ".", "--out", "o", "--upsample", "bilinear"]
    )
    assert evaluator_method_options(args)["mygradcam"] == {"upsample": "bilinear"}
    net, images = tiny_cnn(), tiny_images()
    targets = torch.tensor([0, 3, 4])
    mine = class_maps(build_method("mygradcam", upsample="bilinear"), net, net[2], images, targets)
    theirs = class_maps(build_method("gradcam", upsample="bilinear"), net, net[2], images, targets)
    torch.testing.assert_close(mine, theirs, rtol=0, atol=0)


def test_a_library_row_is_titled_and_compared_with_the_controls_in_the_summary(with_my_row):
    rows = fixed_records()
    rows += [row | {"method": "mygradcam"} for row in rows if row["method"] == "gradcam"]
    text = summary_table(rows)
    assert "| My Grad-CAM | 4 *" in text
    assert "**My Grad-CAM**: pytorch-grad-cam's GradCAM under another name" in text
    assert "| My Grad-CAM vs Random map |" in text


def test_a_library_row_runs_through_evaluate_end_to_end(with_my_row, tmp_path, capsys):
    """Random MobileNetV2 weights and a made-up photo: the run's code path, not an explanation."""
    photos = tmp_path / "photos"
    photos.mkdir()
    generator = torch.Generator().manual_seed(0)
    pixels = (torch.rand(96, 128, 3, generator=generator) * 255).to(torch.uint8).numpy()
    Image.fromarray(pixels).save(photos / "photo.png")
    out = tmp_path / "out"
    args = ["evaluate", "--model", "mobilenet_v2", "--weights", "none", "--images", str(photos), "--out", str(out)]
    args += ["--methods", "gradcam,mygradcam", "--no-controls", "--auc-steps", "0", "--areas", "0.5"]
    assert main(args) == 0
    progress = capsys.readouterr().err
    assert "captum-advise: 1 photo x gradcam, mygradcam on cpu: roughly 1 s per photo" in progress
    assert "2/2 [" in progress  # the bar counts explanations: a photo explained by a method
    rows = {row["method"]: row for row in read_records(out / "records.csv")}
    assert set(rows) == {"gradcam", "mygradcam"}
    for column in ("hit", "ad", "ssim", "fsim", "mse", "avx", "avx@0.5"):
        assert rows["mygradcam"][column] == rows["gradcam"][column], column
    assert "| My Grad-CAM |" in (out / "summary.md").read_text()


def test_every_option_reaches_every_method_that_takes_it():
    values = {
        "--value-range": ("unit", "value_range", "unit"),
        "--upsample": ("bilinear", "upsample", "bilinear"),
        "--advise-rules": ("weighted", "rules", ("weighted",)),
        "--random-group-draws": ("3", "random_group_draws", 3),
        "--scorecam-batch-size": ("7", "score_cam_batch_size", 7),
        "--lime-samples": ("99", "n_samples", 99),
        "--lime-surrogate": ("linear", "surrogate", "linear"),
        "--aug-smooth": (None, "aug_smooth", True),
        "--eigen-smooth": (None, "eigen_smooth", True),
    }
    assert {option for _, option, _ in values.values()} == set(EVALUATOR_OPTIONS)
    command = ["evaluate", "--model", "mobilenet_v2", "--images", ".", "--out", "o"]
    words = [word for flag, (text, _, _) in values.items() for word in (flag, text) if word is not None]
    args = build_parser().parse_args(command + words)
    options = evaluator_method_options(args)
    expected = {option: value for _, option, value in values.values()}
    for name, row in CATALOGUE.items():
        assert options.get(name, {}) == {option: expected[option] for option in row.options}, name
        method = build_method(name, **options.get(name, {}))
        for option in row.options:
            assert getattr(method, option) == expected[option], (name, option)
    # Every method with maps at the layer's resolution is upsampled as asked: HiResCAM, for one, was not.
    assert "upsample" in CATALOGUE["hirescam"].options and "upsample" not in CATALOGUE["fullgrad"].options
    assert "aug_smooth" not in CATALOGUE["finercam"].options + CATALOGUE["refinecam"].options
    assert set(method_names(option="score_cam_batch_size")) == {"scorecam", "ablationcam"}


def test_rows_name_known_options_and_library_rows_name_both_classes():
    with pytest.raises(ValueError, match="unknown evaluator option"):
        MethodEntry("x", "X", "x", "library", "LayerX", "GradCAM", options=("upsampling",))
    with pytest.raises(ValueError, match="names its library class and its Captum class"):
        MethodEntry("x", "X", "x", "library", "LayerX")
    assert set(captum_advise.__all__) >= {CATALOGUE[name].captum_class for name in method_names("advise", "library")}
    for name in method_names("advise", "library", "control"):
        assert getattr(captum_advise, CATALOGUE[name].captum_class).__name__ == CATALOGUE[name].captum_class


NOT_FOR_LAYER_ADVISE = ("captum_advise.models", "captum_advise.cams", "torchvision", "timm", "pytorch_grad_cam")


def test_importing_layer_advise_loads_no_model_preset_and_no_library_binding():
    """In a fresh process: ``from captum_advise import LayerADVISE`` imports what ADVISE needs, no more."""
    loaded = f"sorted(m for m in sys.modules if m.startswith({NOT_FOR_LAYER_ADVISE!r}))"
    probe = f"import sys\nfrom captum_advise import LayerADVISE\nprint({loaded})"
    assert subprocess.check_output([sys.executable, "-c", probe], text=True).strip() == "[]"


def test_the_summary_heading_states_each_method_option_once():
    settings = {"model": "m", "weights": "w", "layer": "l", "geometry": "squash"}
    settings |= {f"method_options.{name}.upsample": "matlab_bicubic" for name in ("advise", "gradcam", "hirescam")}
    settings["method_options.advise.rules"] = ["weighted"]
    heading = summary_heading(settings, 2)
    assert "Settings: geometry squash; the methods' options: upsample matlab_bicubic, rules ['weighted']." in heading
    settings["method_options.hirescam.upsample"] = "bilinear"
    assert "upsample matlab_bicubic (advise, gradcam), bilinear (hirescam)" in summary_heading(settings, 2)


def test_evaluate_says_what_it_will_run_and_roughly_how_long_and_leaves_minutes_per_photo_out_on_a_cpu():
    from captum_advise.cli.evaluate_command import default_methods, plan_line

    assert default_methods("cpu") == ("advise", "gradcam", "gradcampp", "layercam")
    assert default_methods("cuda:0") == ("advise", "gradcam", "gradcampp", "scorecam", "layercam", "lime")
    # Grad-CAM 0.4 s and LIME 80 s per photo; deletion and insertion at 32 steps add 4 s per map.
    assert plan_line(["gradcam", "lime"], 3, False, 32, "cpu") == (
        "3 photos x gradcam, lime on cpu: roughly 88 s per photo on a 2-core CPU, 4 min in all; left out here "
        "(Score-CAM about 30 s per photo): the paper's full set is --methods "
        "advise,gradcam,gradcampp,scorecam,layercam,lime"
    )
    with_controls = plan_line(["advise"], 1, True, 0, "cpu")
    assert with_controls.startswith(
        "1 photo x advise, random, center, randomcam, brightness, sobelcam on cpu: roughly 6 s"
    )
    assert (
        plan_line(["advise"], 2, True, 32, "cuda")
        == "2 photos x advise, random, center, randomcam, brightness, sobelcam on cuda"
    )


def test_the_summary_opens_with_a_reading_guide_and_names_only_the_options_of_the_methods_that_ran():
    settings = {"model": "m", "weights": "w", "layer": "l"}
    settings |= {f"method_options.{name}.upsample": "bilinear" for name in ("advise", "gradcam", "hirescam")}
    settings["method_options.lime.n_samples"] = 2048
    heading = summary_heading(settings, 4, methods={"gradcam", "advise-random-groups", "random"})
    assert "upsample bilinear" in heading and "n_samples" not in heading
    page = summary_table(fixed_records(), heading)
    body = page.removeprefix(heading)
    assert body.startswith("How to read this page.")
    assert body.index("## What the comparisons say") < body.index("| method | images | AVX")
