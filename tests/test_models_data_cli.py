"""Model presets, image sources, figures and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error

import pytest
import torch
import torchvision
from PIL import Image

from captum_advise import LayerADVISE
from captum_advise.attr.token_layout import resolve_reshape_transform
from captum_advise.cli import choices, main
from captum_advise.data import ImageReadError, embedded_photos, labelled_folder, read_image, unlabelled_folder
from captum_advise.models import PRESETS, WeightsUnavailableError, check_device, load_model, resolve_layer
from conftest import SHARED

TORCH_HOME = SHARED / "assets" / "torch-home"
SAMPLES = SHARED / "assets" / "imagenet-samples"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_with_random_weights_and_its_layers_give_feature_maps(name):
    loaded = load_model(name, weights="none")
    assert loaded.random_weights and not loaded.model.training
    assert len(loaded.class_names) == 1000 and loaded.class_names[1] == "goldfish"
    shapes = {}
    as_map = resolve_reshape_transform(loaded.reshape_transform) or (lambda output: output)
    handles = [
        loaded.layer(layer).register_forward_hook(
            lambda m, i, o, depth=depth: shapes.__setitem__(depth, as_map(o).shape)
        )
        for depth, layer in loaded.preset.depth_layers.items()
    ]
    size = loaded.preset.preprocessor.crop
    try:
        with torch.no_grad():
            logits = loaded.model(torch.rand(1, 3, size, size))
    finally:
        for handle in handles:
            handle.remove()
    assert logits.shape == (1, 1000)
    assert set(shapes) == {"shallow", "middle", "deep"}
    assert all(len(shape) == 4 for shape in shapes.values())
    expected_deep = {
        "alexnet": (256, 13, 13),
        "vgg16": (512, 14, 14),
        "resnet50": (2048, 7, 7),
        "xception": (2048, 10, 10),
        "mobilenet_v2": (1280, 7, 7),
        "efficientnet_lite0": (1280, 7, 7),
        "vit_base_patch16_224": (768, 14, 14),
        "deit_small_patch16_224": (384, 14, 14),
        "swin_tiny_patch4_window7_224": (768, 7, 7),
    }[name]
    assert tuple(shapes["deep"][1:]) == expected_deep
    assert size == (299 if name == "xception" else 224)


def test_reference_layers_are_the_ones_the_spec_names():
    assert {name: preset.reference_layer for name, preset in PRESETS.items()} == {
        "alexnet": "features.10",
        "vgg16": "features.28",
        "resnet50": "layer4",
        "xception": "conv4",
        "mobilenet_v2": "features.18",
        "efficientnet_lite0": "bn2",
        "vit_base_patch16_224": "blocks.11.norm1",
        "deit_small_patch16_224": "blocks.11.norm1",
        "swin_tiny_patch4_window7_224": "layers.3.blocks.1.norm1",
    }
    vgg = load_model("vgg16", weights="none")
    assert isinstance(vgg.layer(), torch.nn.Conv2d)
    assert isinstance(vgg.model.features[29], torch.nn.ReLU)


@pytest.mark.shared
def test_pretrained_mobilenet_from_the_offline_cache_and_from_a_state_dict_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(TORCH_HOME))
    cached = load_model("mobilenet_v2", "IMAGENET1K_V1", download=False)
    reference = torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1")
    assert torch.equal(cached.model.features[0][0].weight, reference.features[0][0].weight)
    path = tmp_path / "weights.pth"
    torch.save(reference.state_dict(), path)
    from_file = load_model("mobilenet_v2", str(path))
    assert from_file.weights == str(path) and not from_file.random_weights
    assert torch.equal(from_file.model.classifier[1].bias, reference.classifier[1].bias)


def test_model_errors_are_clear(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="unknown model 'lenet'"):
        load_model("lenet")
    with pytest.raises(WeightsUnavailableError, match=r"not in the torch cache .*TORCH_HOME.*--weights FILE"):
        load_model("vgg16", "IMAGENET1K_V1", download=False)
    with pytest.raises(WeightsUnavailableError, match="unknown weights 'IMAGENET9K'"):
        load_model("resnet50", "IMAGENET9K")
    with pytest.raises(WeightsUnavailableError, match="xception has no torchvision weights"):
        load_model("xception", "IMAGENET1K_V1")
    wrong = tmp_path / "alexnet.pth"
    torch.save(torchvision.models.alexnet().state_dict(), wrong)
    with pytest.raises(WeightsUnavailableError, match="do not fit mobilenet_v2"):
        load_model("mobilenet_v2", str(wrong))
    with pytest.raises(ValueError, match=r"no layer named 'features.99'; did you mean"):
        resolve_layer(torchvision.models.mobilenet_v2(), "features.99")


@pytest.mark.shared
def test_preprocessing_matches_torchvision_transforms():
    image = read_image(SAMPLES / "001_n01443537_goldfish.JPEG")
    ours = PRESETS["mobilenet_v2"].preprocessor([image])
    theirs = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.transforms()(image)
    # ours rounds to uint8 after resizing (the evaluation masks that image), torchvision does not.
    torch.testing.assert_close(ours[0], theirs, rtol=0, atol=0.5 / 255 / 0.224 + 1e-6)


@pytest.mark.shared
def test_labelled_and_unlabelled_folders_and_embedded_photos(tmp_path):
    records = labelled_folder(SAMPLES)
    assert len(records) == 800
    by_name = {record.name: record.label for record in records}
    assert by_name["001_n01443537_goldfish.JPEG"] == 1 and by_name["425_n02793495_barn.JPEG"] == 425
    assert all(record.label == int(record.name[:3]) for record in records)

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    Image.new("L", (8, 8)).save(tmp_path / "b.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "labels.csv").write_text("file,class\na.png,7\nb.jpg,980\n")
    assert [(r.name, r.label) for r in labelled_folder(tmp_path, tmp_path / "labels.csv")] == [
        ("a.png", 7),
        ("b.jpg", 980),
    ]
    assert [(r.name, r.label) for r in unlabelled_folder(tmp_path)] == [("a.png", None), ("b.jpg", None)]
    assert unlabelled_folder(tmp_path)[1].load().mode == "RGB"
    with pytest.raises(ValueError, match=r"no label for a\.png"):
        labelled_folder(tmp_path)

    photos = embedded_photos()
    assert [photo.name for photo in photos] == ["chelsea", "coffee", "astronaut", "rocket"]
    assert photos[0].load().size == (451, 300)

    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match=r"cannot read image .*broken\.jpg"):
        read_image(tmp_path / "broken.jpg")


def test_explain_writes_sheets_and_json_matching_layer_advise(monkeypatch, tmp_path, mobilenet_v2):
    monkeypatch.setenv("TORCH_HOME", str(TORCH_HOME))
    photos = [SAMPLES / "001_n01443537_goldfish.JPEG", SAMPLES / "425_n02793495_barn.JPEG"]
    command = ["explain", *map(str, photos), "--model", "mobilenet_v2", "--out", str(tmp_path), "--unit-sheets"]
    assert main([*command, "--save-maps"]) == 0
    preprocess = PRESETS["mobilenet_v2"].preprocessor
    advise = LayerADVISE(mobilenet_v2, mobilenet_v2.features[18])
    images = preprocess([read_image(path) for path in photos])
    relevance = advise.relevance(images)
    for n, photo in enumerate(photos):
        assert (tmp_path / f"{photo.stem}.png").stat().st_size > 10_000
        assert (tmp_path / f"{photo.stem}_units.png").stat().st_size > 10_000
        record = json.loads((tmp_path / f"{photo.stem}.json").read_text())
        assert record["relevance"] == relevance[n].tolist()
        assert record["layer"] == "features.18" and record["random_weights"] is False
        assert record["target"] == record["top5"][0]["class"]
        # The label, read from the file name's class prefix as evaluate reads it.
        assert record["label"] == [1, 425][n]
        assert (record["density_of"], record["score"]) == ("activations", "softmax")
        assert sum(group["n_units"] for group in record["groups"]) <= 1280
        for group in record["groups"]:
            assert all(relevance[n, unit] == group["peaks"] for unit in group["units"])
        maps = torch.load(tmp_path / f"{photo.stem}_maps.pt")
        assert maps["peaks"] == [group["peaks"] for group in record["groups"]] and len(maps["peaks"]) >= 2
        assert maps["layer_maps"].shape == (len(maps["peaks"]), 7, 7)
        assert maps["input_maps"].shape == (len(maps["peaks"]), 224, 224)
        for index, peaks in enumerate(maps["peaks"]):
            expected = advise.attribute(images[n : n + 1], target=record["target"], peaks=peaks)[0, 0]
            torch.testing.assert_close(maps["layer_maps"][index], expected, rtol=1e-4, atol=1e-6)
    assert json.loads((tmp_path / f"{photos[0].stem}.json").read_text())["top5"][0]["name"] == "goldfish"


def test_explain_peaks_option_keeps_the_chosen_group(monkeypatch, tmp_path, capsys, mobilenet_v2):
    monkeypatch.setenv("TORCH_HOME", str(TORCH_HOME))
    photo = SAMPLES / "001_n01443537_goldfish.JPEG"
    common = [str(photo), "--model", "mobilenet_v2", "--save-maps"]
    assert main(["explain", *common, "--out", str(tmp_path / "every")]) == 0
    assert main(["explain", *common, "--peaks", "auto", "--out", str(tmp_path / "auto")]) == 0
    every = json.loads((tmp_path / "every" / f"{photo.stem}.json").read_text())
    auto = json.loads((tmp_path / "auto" / f"{photo.stem}.json").read_text())
    assert len(every["groups"]) >= 2 and auto["peaks"] == "auto"
    assert auto["groups"] == [group for group in every["groups"] if group["peaks"] == every["auto_peaks"]]
    maps = torch.load(tmp_path / "auto" / f"{photo.stem}_maps.pt")
    assert maps["peaks"] == [every["auto_peaks"]] and maps["layer_maps"].shape == (1, 7, 7)
    assert every["confidence_peaks"] is None  # not asked for: no extra forward passes

    assert main(["explain", *common, "--peaks", "confidence", "--out", str(tmp_path / "confidence")]) == 0
    confident = json.loads((tmp_path / "confidence" / f"{photo.stem}.json").read_text())
    (group,) = confident["groups"]
    assert group["peaks"] == confident["confidence_peaks"] and group in every["groups"]
    image = PRESETS["mobilenet_v2"].preprocessor([read_image(photo)])
    advise = LayerADVISE(mobilenet_v2, mobilenet_v2.features[18])
    expected = advise.attribute(image, target=confident["target"], peaks="confidence")[0, 0]
    layer_map = torch.load(tmp_path / "confidence" / f"{photo.stem}_maps.pt")["layer_maps"][0]
    torch.testing.assert_close(layer_map, expected, rtol=1e-4, atol=1e-6)

    with pytest.raises(SystemExit):
        main(["explain", *common, "--peaks", "many", "--out", str(tmp_path / "bad")])
    assert "--peaks wants 'every', 'auto', 'confidence' or a peak count" in capsys.readouterr().err


@pytest.mark.shared
def test_random_weights_are_flagged(tmp_path):
    photo = SAMPLES / "001_n01443537_goldfish.JPEG"
    assert main(["explain", str(photo), "--model", "alexnet", "--weights", "none", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / f"{photo.stem}.json").read_text())
    assert record["random_weights"] is True and record["weights"] == "none"


@pytest.mark.shared
def test_command_line_errors_are_one_line_and_non_zero(monkeypatch, tmp_path, capsys):
    photo = str(SAMPLES / "001_n01443537_goldfish.JPEG")
    out = ["--out", str(tmp_path / "out")]
    monkeypatch.setenv("TORCH_HOME", str(TORCH_HOME))

    with pytest.raises(SystemExit) as exit_info:
        main(["explain", photo, "--model", "lenet", *out])
    assert exit_info.value.code == 2 and "unknown model 'lenet'" in capsys.readouterr().err

    assert main(["explain", photo, "--model", "mobilenet_v2", "--layer", "features.99", *out]) == 1
    assert "no layer named 'features.99'" in capsys.readouterr().err

    # A GPU this machine does not have: one line naming what exists, before any work.
    assert main(["explain", photo, "--model", "mobilenet_v2", "--device", "cuda:99", *out]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "'cuda:99' asked for" in error and "available: cpu" in error
    assert not (tmp_path / "out").exists()
    assert main(["explain", photo, "--model", "mobilenet_v2", "--device", "gpu", *out]) == 1
    assert "'gpu' is not a torch device name" in capsys.readouterr().err

    (tmp_path / "broken.jpg").write_bytes(b"no image here")
    assert main(["explain", str(tmp_path / "broken.jpg"), "--model", "mobilenet_v2", *out]) == 1
    error = capsys.readouterr().err
    assert "cannot read image" in error and "Traceback" not in error and len(error.strip().splitlines()) == 1

    assert main(["explain", str(tmp_path / "missing.jpg"), "--model", "mobilenet_v2", *out]) == 1
    assert "image not found" in capsys.readouterr().err

    assert main(["explain", photo, "--model", "mobilenet_v2", "--weights", str(tmp_path / "w.pth"), *out]) == 1
    assert "cannot read weights file" in capsys.readouterr().err


def test_demo_without_weights_says_how_to_provide_them(monkeypatch, tmp_path, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 1
    error = capsys.readouterr().err
    assert "TORCH_HOME" in error and "--weights FILE" in error and "mobilenet_v2" in error


def test_every_command_has_help(capsys):
    for command in ([], ["explain"], ["demo"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: captum-advise" in capsys.readouterr().out


def test_device_check_names_what_exists():
    if torch.cuda.is_available():
        assert check_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match=r"no usable CUDA GPU .*available: cpu"):
            check_device("cuda")
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"only \d+ CUDA GPU|no usable CUDA GPU"):
        check_device("cuda:99")


HEAVY = {"torch", "torchvision", "captum", "matplotlib", "pytorch_grad_cam", "piq", "numba", "numpy", "scipy", "PIL"}
PARSER_IMPORTS = """
import importlib, json, sys
importlib.import_module("captum_advise.cli.main").build_parser()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_command_line_parser_imports_nothing_heavy():
    """--help builds the parser only: it must not wait for torch (seconds) or anything else heavy."""
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", PARSER_IMPORTS], capture_output=True, text=True, check=True).stdout
    )
    assert not HEAVY & set(loaded), HEAVY & set(loaded)
    done = subprocess.run([sys.executable, "-m", "captum_advise", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "explain" in done.stdout


def test_cli_choices_besides_the_methods_are_the_library_names():
    from typing import get_args

    from captum_advise.cams.library import Score
    from captum_advise.data import PAPER_DENSITIES
    from captum_advise.experiments.quantus_checks import QUANTUS_METRICS
    from captum_advise.experiments.randomization import RANDOMIZED_MODULES
    from captum_advise.matlab import UPSAMPLE_MODES
    from captum_advise.metrics import PENALTIES
    from captum_advise.models import GEOMETRIES, TIMM_PREFIX

    assert tuple(sorted(PRESETS)) == choices.PRESET_NAMES
    assert (choices.GEOMETRIES, choices.UPSAMPLE_MODES, choices.TIMM_PREFIX) == (
        GEOMETRIES,
        UPSAMPLE_MODES,
        TIMM_PREFIX,
    )
    assert (tuple(PAPER_DENSITIES), QUANTUS_METRICS) == (choices.PAPER_DENSITIES, choices.QUANTUS_METRICS)
    assert (get_args(Score), RANDOMIZED_MODULES) == (choices.SCORES, choices.RANDOMIZED_MODULES)
    assert PENALTIES == choices.PENALTIES


def test_version_prints_the_packages_version(capsys):
    import captum_advise

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out == f"captum-advise {captum_advise.__version__}\n"


@pytest.mark.parametrize(
    "name",
    [
        "874_n04487081_trolleybus.JPEG",
        "a_very_long_photo_name_from_my_camera_2026_12_07_IMG_4567.jpeg",
        "holiday photo of the family at the beach in summer 2026, number 17 of the set.png",
        "x" * 80 + ".tif",
    ],
)
def test_sheet_titles_fit_and_keep_the_start_and_the_extension(name):
    from captum_advise.figures.overlay import file_title

    title = file_title(name)
    lines = title.splitlines()
    assert len(lines) <= 2 and all(len(line) <= 34 for line in lines), title
    assert lines[-1].endswith("." + name.rpartition(".")[2])  # the extension whole, at the end
    assert title.replace("\n", "") == name or "…" in title
    assert name.startswith(lines[0].rstrip("…")) or lines[0].startswith("…")
    assert file_title(name, 60, 1).count("\n") == 0 and len(file_title(name, 60, 1)) <= 60
