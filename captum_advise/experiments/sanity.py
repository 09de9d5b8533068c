"""Model-parameter randomisation test: how much each method's maps change as layers are randomised."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from captum_advise.data import ImageRecord
from captum_advise.evaluation.intervals import mean_interval
from captum_advise.experiments.csv_table import write_rows
from captum_advise.experiments.randomization import (
    cascading_randomization,
    independent_randomization,
    randomizable_layers,
)
from captum_advise.experiments.sanity_maps import SANITY_METHODS, sanity_maps
from captum_advise.experiments.similarity import map_similarity
from captum_advise.models import Geometry, LoadedModel, resolve_layer
from captum_advise.output_files import save_figure

__all__ = ["SanityConfig", "run_parameter_randomization", "sanity_plot", "summarize_similarity"]

SANITY_COLUMNS = ("mode", "step", "layer", "method", "image", "spearman_abs", "spearman", "ssim")
MEASURES = ("spearman_abs", "spearman", "ssim")


@dataclass
class SanityConfig:
    """Options of the parameter-randomisation test.

    Attributes:
        methods: methods to test.
        layer: the explained layer's name (default: the preset's).
        mode: ``"cascading"`` (top k layers randomised at step k) or ``"independent"`` (only the
            k-th layer from the top).
        steps: how many layers from the top (default: all convolution and linear layers).
        seed: seed of the re-initialisation.
        device: torch device.
        geometry: photo to network input, ``"squash"`` (reference) or ``"crop"``.
    """

    methods: Sequence[str] = SANITY_METHODS
    layer: str | None = None
    mode: Literal["cascading", "independent"] = "cascading"
    steps: int | None = None
    seed: int = 0
    device: str | torch.device = "cpu"
    geometry: Geometry = "squash"


def run_parameter_randomization(
    loaded: LoadedModel, records: Sequence[ImageRecord], out: Path, config: SanityConfig, progress: bool = True
) -> list[dict[str, object]]:
    """Compare each method's maps on randomised copies with its maps on the trained model.

    The explained class is the trained model's prediction throughout. Step 0 compares the trained
    model with itself again (similarity 1: the maps are deterministic). Writes
    ``out/sanity.csv`` and ``out/sanity.png``; the caller's model is never modified.

    Returns:
        The rows of sanity.csv.
    """
    layer_name = config.layer or loaded.preset.reference_layer
    preprocessor = loaded.preset.preprocessor.with_geometry(config.geometry)
    inputs = preprocessor([record.load() for record in records]).to(config.device)
    model = loaded.model
    with torch.no_grad():
        targets = model(inputs).argmax(dim=1)
    layer = resolve_layer(model, layer_name)
    trained = {method: sanity_maps(method, model, layer, inputs, targets) for method in config.methods}
    generator = cascading_randomization if config.mode == "cascading" else independent_randomization
    # Lazily: the cascading copy is randomised further at each step.
    steps = itertools.chain([(0, "none", model)], generator(model, config.steps, config.seed))
    total = 1 + len(randomizable_layers(model)[: config.steps])
    rows: list[dict[str, object]] = []
    for step, randomized_layer, randomized in tqdm(steps, total=total, desc=config.mode, disable=not progress):
        randomized.eval()
        for method in config.methods:
            maps = sanity_maps(method, randomized, resolve_layer(randomized, layer_name), inputs, targets)
            for n, record in enumerate(records):
                similarity = map_similarity(trained[method][n], maps[n])
                rows.append(
                    {
                        "mode": config.mode,
                        "step": step,
                        "layer": randomized_layer,
                        "method": method,
                        "image": record.name,
                    }
                    | {k: f"{v:.6f}" for k, v in similarity.items()}
                )
    write_rows(out / "sanity.csv", SANITY_COLUMNS, rows)
    save_figure(sanity_plot(rows, loaded.random_weights), out / "sanity.png", dpi=100)
    return rows


def summarize_similarity(rows: list[dict[str, object]]) -> dict[tuple[int, str, str], dict[str, tuple[float, float]]]:
    """(step, layer, method) -> measure -> (mean over images, half-width of the Student-t 95% interval)."""
    grouped: dict[tuple[int, str, str], list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        grouped[(int(row["step"]), str(row["layer"]), str(row["method"]))].append(row)
    summary = {}
    for key, mine in grouped.items():
        summary[key] = {}
        for measure in MEASURES:
            summary[key][measure] = mean_interval([float(row[measure]) for row in mine])
    return summary


def sanity_plot(rows: list[dict[str, object]], random_weights: bool = False) -> Figure:
    """The usual cascading plot: mean similarity to the trained maps against the randomised layer."""
    summary = summarize_similarity(rows)
    steps = sorted({(step, layer) for step, layer, _ in summary})
    methods = list(dict.fromkeys(method for _, _, method in summary))
    figure = Figure(figsize=(15, 4.6), layout="constrained")
    for axis, measure in zip(figure.subplots(1, len(MEASURES)), MEASURES, strict=True):
        for method in methods:
            means = [summary[(s, layer, method)][measure][0] for s, layer in steps]
            halves = [summary[(s, layer, method)][measure][1] for s, layer in steps]
            x = list(range(len(steps)))
            axis.plot(x, means, marker="o", markersize=3, label=method)
            lower = [m - (0 if h != h else h) for m, h in zip(means, halves, strict=True)]
            upper = [m + (0 if h != h else h) for m, h in zip(means, halves, strict=True)]
            axis.fill_between(x, lower, upper, alpha=0.15)
        tick_every = max(1, len(steps) // 12)
        axis.set_xticks(
            range(0, len(steps), tick_every),
            [steps[i][1] for i in range(0, len(steps), tick_every)],
            rotation=75,
            fontsize=6,
        )
        axis.set_title(measure.replace("_", " "))
        axis.set_ylim(-1.05, 1.05)
        axis.axhline(0, color="0.7", linewidth=0.5)
        axis.legend(fontsize=7)
    mode = str(rows[0]["mode"]) if rows else ""
    title = f"{mode} parameter randomisation: similarity to the trained model's maps"
    figure.suptitle(("RANDOM WEIGHTS: not a trained model. " if random_weights else "") + title)
    return figure
