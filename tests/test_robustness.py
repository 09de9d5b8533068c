"""The robustness experiment: Captum's sensitivity_max, infidelity and MinParamPerturbation on every method."""

from __future__ import annotations

import math

import pytest
import torch

from captum_advise.data import labelled_folder, noise_generator, salt_and_pepper
from captum_advise.experiments import ROBUSTNESS_COLUMNS, RobustnessConfig, run_robustness
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
    summary = (tmp_path / "summary.md").read_text()
    assert "| advise | 2 |" in summary and "| gradcam |" in summary.split("paired over images")[1]

    before = (tmp_path / "robustness.csv").read_text()
    assert run_robustness(loaded_mobilenet, two_photos, tmp_path, CONFIG, progress=False) == rows
    assert (tmp_path / "robustness.csv").read_text() == before  # nothing recomputed

    # A cut last line (a killed run) is dropped and that image's rows are computed again, identically.
    lines = before.splitlines(keepends=True)
    (tmp_path / "robustness.csv").write_text("".join(lines[:-2]) + lines[-2][:25])
    with pytest.warns(UserWarning, match="incomplete"):
        again = run_robustness(loaded_mobilenet, two_photos, tmp_path, CONFIG, progress=False)
    assert sorted(map(str, again)) == sorted(map(str, rows))


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown robustness method"):
        RobustnessConfig(methods=("advise", "lime"))
