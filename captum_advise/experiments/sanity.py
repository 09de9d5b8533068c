"""Model-parameter randomisation test: how much each method's maps change as layers are randomised."""

from __future__ import annotations

import contextlib
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import torch
from matplotlib.figure import Figure

from captum_advise.catalogue import sanity_methods
from captum_advise.data import ImageRecord
from captum_advise.evaluation.intervals import bounded_interval, mean_interval
from captum_advise.evaluation.records import append_records, read_records
from captum_advise.evaluation.summary import FEW_IMAGES, format_interval, summary_heading
from captum_advise.experiments.csv_table import write_rows
from captum_advise.experiments.network_signal import NetworkSignal, network_signal
from captum_advise.experiments.randomization import (
    RandomInit,
    Randomized,
    cascading_randomization,
    independent_randomization,
    randomizable_layers,
)
from captum_advise.experiments.sanity_maps import sanity_maps
from captum_advise.experiments.similarity import MEASURE_TITLES, SIMILARITY_MEASURES, map_similarity
from captum_advise.models import Geometry, LoadedModel, resolve_layer
from captum_advise.runs.output_files import atomic_write_text, save_figure
from captum_advise.runs.ranks import (
    gather,
    is_main_rank,
    locked_run_output,
    rank_and_size,
    rank_folder,
    shared_progress,
)
from captum_advise.runs.run_info import write_run_info
from captum_advise.runs.settings import check_settings, move_aside, run_settings

__all__ = [
    "FLOOR_MODE",
    "SanityConfig",
    "noise_floor",
    "run_parameter_randomization",
    "sanity_plot",
    "summarize_similarity",
]

SIGNAL_COLUMNS = ("activation_spread", "logit_spread", "distinct_predictions", "alive")
SANITY_COLUMNS = (
    "mode", "randomize", "init", "step", "layer", *SIGNAL_COLUMNS, "method", "image", *SIMILARITY_MEASURES,
)  # fmt: skip
# What names a row: a step's method on a photo.
SANITY_KEY = ("mode", "step", "method", "image")
MEASURES = SIMILARITY_MEASURES
# The rows of each method's noise floor: the trained model's maps under two imperceptible perturbations.
FLOOR_MODE = "noise floor"


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
        init: ``"scaled"`` (default: each randomised parameter drawn with the trained parameter's
            own scale, so the network keeps depending on its input) or ``"reset"`` (PyTorch's
            ``reset_parameters()``; MobileNetV2 goes dead after a few cascade steps).
        randomize: ``"all"`` (default: every module with parameters, BatchNorm included, as
            Quantus's MPRT) or ``"conv-linear"`` (convolution and linear layers only).
        floor_radius: radius of the two uniform perturbations of the normalised input that give
            each method's noise floor (default 0.005, about a third of one 8-bit grey level).
        device: torch device.
        geometry: photo to network input, ``"squash"`` (reference) or ``"crop"``.
    """

    methods: Sequence[str] = field(default_factory=partial(sanity_methods, default=True))
    layer: str | None = None
    mode: Literal["cascading", "independent"] = "cascading"
    steps: int | None = None
    seed: int = 0
    device: str | torch.device = "cpu"
    geometry: Geometry = "squash"
    init: RandomInit = "scaled"
    randomize: Randomized = "all"
    floor_radius: float = 0.005


def run_parameter_randomization(
    loaded: LoadedModel,
    records: Sequence[ImageRecord],
    out: Path,
    config: SanityConfig,
    progress: bool = True,
    new: bool = False,
) -> list[dict[str, object]]:
    """Compare each method's maps on randomised copies with its maps on the trained model.

    The explained class is the trained model's prediction throughout. Step 0 compares the trained
    model with itself again (similarity 1: the maps are deterministic). Every step also records
    the network's signal (:func:`network_signal`): the spread across the photos of the explained
    layer's values and of the logits, relative to the trained model, how many classes the photos
    are predicted as, and ``alive`` (both spreads at least 1% of the trained model's): a step that
    is not alive compares maps of a network whose output no longer depends on its input. Each step's
    ``layer`` is the module randomised at it (``randomize`` says which kinds are). The rows of mode
    ``"noise floor"`` compare each method's trained-model maps of two independent uniform
    perturbations of the input within ``floor_radius``: a method whose maps move that much under
    noise no one sees would "pass" a randomisation test for nothing. Each step's rows are appended
    to ``out/sanity.csv`` as soon as the step is done (under torchrun, to each rank's file in
    ``out/ranks/``, merged at the end), so an interrupted run keeps its finished steps and a rerun
    of the same command computes only the others (the cascade's earlier randomisations are drawn
    again, not explained again); at the end the noise floor is added, the file is written in step
    order, and ``out/sanity.png`` is drawn. The caller's model is never modified. A folder that
    holds rows of other settings (the methods and photos included; recorded in
    ``out/settings.json``) is refused before any work, unless ``new``: then its files are first
    moved into ``out/replaced-<time>/``. The folder is locked while the run writes to it.

    Returns:
        The rows of sanity.csv, as read back from it.
    """
    layer_name = config.layer or loaded.preset.reference_layer
    if not config.floor_radius > 0:
        raise ValueError(f"floor_radius must be > 0, got {config.floor_radius!r}")
    randomizable = randomizable_layers(loaded.model, config.randomize, config.init)
    with locked_run_output(out):
        settings = _check_folder(out, loaded, config, layer_name, [record.name for record in records], new)
        rows = _run_locked(loaded, records, out, config, progress, layer_name, len(randomizable))
        if is_main_rank():
            heading = summary_heading(settings, len(records), title="Parameter randomisation")
            atomic_write_text(out / "summary.md", heading + sanity_summary(rows))
        return rows


def _run_locked(
    loaded: LoadedModel,
    records: Sequence[ImageRecord],
    out: Path,
    config: SanityConfig,
    progress: bool,
    layer_name: str,
    randomizable: int,
) -> list[dict[str, object]]:
    """The steps not yet in the folder's files, each appended as it finishes; then the noise floor,
    the merged sanity.csv and the plot."""
    per_step = len(config.methods) * len(records)
    done = _complete_steps(_rows_on_disk(out), config.mode, per_step)
    preprocessor = loaded.preset.preprocessor.with_geometry(config.geometry)
    inputs = preprocessor([record.load() for record in records]).to(config.device)
    model = loaded.model
    with torch.no_grad():
        targets = model(inputs).argmax(dim=1)
    layer = resolve_layer(model, layer_name)
    transform = loaded.reshape_transform
    trained = {method: sanity_maps(method, model, layer, inputs, targets, transform) for method in config.methods}
    signal = network_signal(model, layer, inputs)
    reference = _Trained(layer_name, inputs, targets, trained, signal, transform)
    generator = cascading_randomization if config.mode == "cascading" else independent_randomization
    # Lazily: the cascading copy is randomised further at each step (done steps too: the same draws).
    randomized_steps = generator(model, config.steps, config.seed, config.init, config.randomize)
    steps = itertools.chain([(0, "none", model)], randomized_steps)
    total = 1 + min(randomizable, config.steps if config.steps is not None else randomizable)
    rank, size = rank_and_size()
    path = out / "sanity.csv" if size == 1 else rank_folder(out) / "sanity.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with shared_progress(len(range(rank, total, size)), config.mode, "step", progress) as bar:
        for position, (step, randomized_layer, randomized) in enumerate(steps):
            if position % size != rank:  # under torchrun each rank takes every size-th step
                continue
            if step not in done:
                append_records(
                    path, _step_rows(step, randomized_layer, randomized, reference, records, config), SANITY_COLUMNS
                )
            bar.update(1)
    gather(None)  # every rank's steps are on disk
    rows: list[dict[str, object]] = []
    if is_main_rank():
        rows = _rows_on_disk(out)
        if _complete_steps(rows, FLOOR_MODE, per_step) != {0}:
            floor = _floor_rows(model, layer, reference, records, config)
            append_records(out / "sanity.csv", floor, SANITY_COLUMNS)
            rows = _rows_on_disk(out)
        rows.sort(key=lambda row: (row["mode"] == FLOOR_MODE, int(row["step"])))  # stable: methods keep their order
        write_rows(out / "sanity.csv", SANITY_COLUMNS, rows)
        _remove_rank_files(out)
        write_run_info(out, experiment="parameter randomization", config=config, images=[r.name for r in records])
        save_figure(sanity_plot(rows, loaded.random_weights), out / "sanity.png", dpi=100)
    gather(None)  # the other ranks return once the main rank has merged
    return rows if is_main_rank() else _rows_on_disk(out)


def _rows_on_disk(out: Path) -> list[dict[str, object]]:
    """The rows in sanity.csv and in every rank's file (a cut last line and repeated rows left out)."""
    files = [out / "sanity.csv", *sorted(out.glob("ranks/rank-*/sanity.csv"))]
    return [row for path in files for row in read_records(path, SANITY_COLUMNS, SANITY_KEY)]


def _complete_steps(rows: Sequence[dict[str, object]], mode: str, per_step: int) -> set[int]:
    """The steps of ``mode`` whose rows are all there (every method on every photo)."""
    counts: dict[int, int] = defaultdict(int)
    for row in rows:
        if row["mode"] == mode:
            counts[int(row["step"])] += 1
    return {step for step, count in counts.items() if count >= per_step}


def _remove_rank_files(out: Path) -> None:
    for path in out.glob("ranks/rank-*/sanity.csv"):
        path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()
    with contextlib.suppress(OSError):
        (out / "ranks").rmdir()


def _check_folder(
    out: Path, loaded: LoadedModel, config: SanityConfig, layer_name: str, images: list[str], new: bool
) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    if new and is_main_rank():
        move_aside(out, ("sanity.csv", "sanity.png", "summary.md", "run_info.json", "settings.json", "ranks"))
    gather(None)  # every rank reads the folder after it was moved aside
    options = {key: value for key, value in asdict(config).items() if key not in ("device", "layer")}
    settings = run_settings("sanity", loaded.preset.name, loaded.weights, layer_name, images=images, **options)
    has_rows = (out / "sanity.csv").exists() or any(out.glob("ranks/rank-*/sanity.csv"))
    check_settings(out, settings, has_rows, write=is_main_rank())
    return settings


@dataclass(frozen=True)
class _Trained:
    """What every step is compared with: the trained model's inputs, targets, maps and signal."""

    layer_name: str
    inputs: torch.Tensor
    targets: torch.Tensor
    maps: dict[str, torch.Tensor]
    signal: NetworkSignal
    reshape_transform: str | None = None


def _step_rows(
    step: int,
    randomized_layer: str,
    randomized: torch.nn.Module,
    trained: _Trained,
    records: Sequence[ImageRecord],
    config: SanityConfig,
) -> list[dict[str, object]]:
    """One randomisation step's rows: the network's signal, and every method's maps against the trained ones."""
    randomized.eval()
    explained = resolve_layer(randomized, trained.layer_name)
    signal = network_signal(randomized, explained, trained.inputs)
    activation_spread, logit_spread = signal.relative_to(trained.signal)
    step_columns = {
        "mode": config.mode,
        "randomize": config.randomize,
        "init": config.init,
        "step": step,
        "layer": randomized_layer,
        "activation_spread": f"{activation_spread:.6g}",
        "logit_spread": f"{logit_spread:.6g}",
        "distinct_predictions": signal.distinct_predictions,
        "alive": int(signal.alive(trained.signal)),
    }
    rows: list[dict[str, object]] = []
    for method in config.methods:
        maps = sanity_maps(method, randomized, explained, trained.inputs, trained.targets, trained.reshape_transform)
        for n, record in enumerate(records):
            similarity = map_similarity(trained.maps[method][n], maps[n])
            rows.append(
                step_columns | {"method": method, "image": record.name} | {k: f"{v:.6f}" for k, v in similarity.items()}
            )
    return rows


def _floor_rows(
    model: torch.nn.Module,
    layer: torch.nn.Module,
    trained: _Trained,
    records: Sequence[ImageRecord],
    config: SanityConfig,
) -> list[dict[str, object]]:
    """Each method's noise floor: its trained-model maps of two imperceptibly perturbed copies of the inputs."""
    generator = torch.Generator().manual_seed(config.seed)
    perturbed = [
        trained.inputs
        + ((torch.rand(trained.inputs.shape, generator=generator) * 2 - 1) * config.floor_radius).to(
            trained.inputs.device
        )
        for _ in range(2)
    ]
    columns = {"mode": FLOOR_MODE, "randomize": config.randomize, "init": config.init, "step": 0, "layer": "none"}
    columns |= {"activation_spread": "1", "logit_spread": "1", "alive": 1}
    columns["distinct_predictions"] = trained.signal.distinct_predictions
    rows: list[dict[str, object]] = []
    for method in config.methods:
        first, second = (
            sanity_maps(method, model, layer, x, trained.targets, trained.reshape_transform) for x in perturbed
        )
        for n, record in enumerate(records):
            similarity = map_similarity(first[n], second[n])
            rows.append(
                columns | {"method": method, "image": record.name} | {k: f"{v:.6f}" for k, v in similarity.items()}
            )
    return rows


def noise_floor(rows: list[dict[str, object]]) -> dict[str, dict[str, tuple[float, float]]]:
    """method -> measure -> (mean, 95% half-width) of its noise-floor rows (empty without them)."""
    grouped: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        if row["mode"] == FLOOR_MODE:
            grouped[str(row["method"])].append(row)
    return {
        method: {m: mean_interval([float(row[m]) for row in mine]) for m in MEASURES}
        for method, mine in grouped.items()
    }


def summarize_similarity(rows: list[dict[str, object]]) -> dict[tuple[int, str, str], dict[str, tuple[float, float]]]:
    """(step, layer, method) -> measure -> (mean over images, half-width of the Student-t 95% interval), the
    noise-floor rows left out (see :func:`noise_floor`)."""
    grouped: dict[tuple[int, str, str], list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        if row["mode"] == FLOOR_MODE:
            continue
        grouped[(int(row["step"]), str(row["layer"]), str(row["method"]))].append(row)
    summary = {}
    for key, mine in grouped.items():
        summary[key] = {}
        for measure in MEASURES:
            summary[key][measure] = mean_interval([float(row[measure]) for row in mine])
    return summary


SANITY_GUIDE = (
    "How to read this page. At each step one more module of a copy of the network is randomised (cascading "
    "from the output down; `independent`: one module at a time). A method passes where its maps move away "
    "from the trained model's: the rank correlation (Spearman) and the SSIM of |map| with the trained maps "
    "fall towards 0. The noise floor is each method's similarity under two imperceptible perturbations of the "
    "input alone: a similarity near it says nothing. A step whose randomised network no longer depends on its "
    "input is marked *dead*: its maps compare nothing."
)


def sanity_summary(rows: Sequence[dict[str, object]]) -> str:
    """Markdown: a reading guide, then per step and method (noise floor first) the mean Spearman and SSIM of
    |map| with the trained maps, each with its 95% interval kept in [-1, 1]; few photos are flagged."""
    signal = _signal_by_step(list(rows))
    grouped: dict[tuple[bool, int, str, str], list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        grouped[(row["mode"] != FLOOR_MODE, int(row["step"]), str(row["layer"]), str(row["method"]))].append(row)
    photos = len({row["image"] for row in rows})
    lines = [SANITY_GUIDE, "", "| step | randomised module | method | Spearman of abs(map) | SSIM of abs(map) |"]
    lines.append("|---|---|---|---|---|")
    for (randomised, step, layer, method), mine in grouped.items():
        cells = []
        for measure in ("spearman_abs", "ssim_abs"):
            cells.append(format_interval(bounded_interval([float(row[measure]) for row in mine], -1.0, 1.0)))
        dead = "" if not randomised or signal[step][2] else " (dead)"
        name = f"{step}{dead}" if randomised else "noise floor"
        lines.append(f"| {name} | {layer} | {method} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean [95% interval] over {photos} photo{'s' * (photos != 1)} (Student-t's, kept in [-1, 1])."]
    if photos < FEW_IMAGES:
        lines.append(f"Fewer than {FEW_IMAGES} photos: the intervals are unreliable.")
    return "\n".join(lines) + "\n"


def _signal_by_step(rows: list[dict[str, object]]) -> dict[int, tuple[float, float, bool]]:
    """step -> (relative activation spread, relative logit spread, alive)."""
    return {
        int(row["step"]): (float(row["activation_spread"]), float(row["logit_spread"]), str(row["alive"]) == "1")
        for row in rows
        if row["mode"] != FLOOR_MODE
    }


# The plot's panels: the absolute forms above, the signed forms below, the network's signal at the right.
PANELS = (("spearman_abs", "ssim_abs", "hog_abs"), ("spearman", "ssim", "hog"))


def sanity_plot(rows: list[dict[str, object]], random_weights: bool = False) -> Figure:
    """The usual cascading plot, one panel per similarity measure, and the network's signal per step.

    Each method's noise floor, where the rows have it, is a dashed line of its colour: a similarity
    near it says no more than imperceptible input noise does. Steps where the randomised network no
    longer depends on its input (``alive`` false) are shaded grey in every panel: similarities there
    say nothing about the method.
    """
    summary = summarize_similarity(rows)
    floors = noise_floor(rows)
    steps = sorted({(step, layer) for step, layer, _ in summary})
    methods = list(dict.fromkeys(method for _, _, method in summary))
    signal = _signal_by_step(rows)
    x = list(range(len(steps)))
    dead = [i for i, (step, _) in enumerate(steps) if not signal[step][2]]
    figure = Figure(figsize=(4.2 * (len(PANELS[0]) + 1), 8.4), layout="constrained")
    grid = figure.subplots(len(PANELS), len(PANELS[0]) + 1)
    for row_axes, measures in zip(grid, PANELS, strict=True):
        for axis, measure in zip(row_axes, measures, strict=False):
            for index, method in enumerate(methods):
                colour = f"C{index}"
                means = [summary[(s, layer, method)][measure][0] for s, layer in steps]
                halves = [summary[(s, layer, method)][measure][1] for s, layer in steps]
                axis.plot(x, means, marker="o", markersize=3, label=method, color=colour)
                lower = [m - (0 if h != h else h) for m, h in zip(means, halves, strict=True)]
                upper = [m + (0 if h != h else h) for m, h in zip(means, halves, strict=True)]
                axis.fill_between(x, lower, upper, alpha=0.15, color=colour)
                if method in floors:
                    axis.axhline(floors[method][measure][0], color=colour, linestyle="--", linewidth=0.8)
            axis.set_title(MEASURE_TITLES[measure], fontsize=9)
            axis.set_ylim(-1.05, 1.05)
            axis.axhline(0, color="0.7", linewidth=0.5)
            axis.legend(fontsize=7, title="dashed: noise floor" if floors else None, title_fontsize=7)
    signal_axis = grid[0][-1]
    signal_axis.semilogy(x, [signal[s][0] for s, _ in steps], marker="o", markersize=3, label="explained layer")
    signal_axis.semilogy(x, [signal[s][1] for s, _ in steps], marker="o", markersize=3, label="logits")
    signal_axis.axhline(0.01, color="red", linewidth=0.8, linestyle="--", label="1%: dead below")
    signal_axis.set_title("network signal: spread across photos / trained", fontsize=9)
    signal_axis.legend(fontsize=7)
    grid[1][-1].axis("off")
    tick_every = max(1, len(steps) // 12)
    for axis in [*grid[0], *grid[1][:-1]]:
        for index in dead:
            axis.axvspan(index - 0.5, index + 0.5, color="0.85", zorder=0, linewidth=0)
        axis.set_xticks(
            range(0, len(steps), tick_every),
            [steps[i][1] for i in range(0, len(steps), tick_every)],
            rotation=75,
            fontsize=6,
        )
    first = next((row for row in rows if row["mode"] != FLOOR_MODE), {})
    mode, init, randomize = (str(first.get(key, "")) for key in ("mode", "init", "randomize"))
    title = (
        f"{mode} parameter randomisation ({init} re-initialisation of {randomize} modules): "
        "similarity to the trained model's maps"
    )
    if dead:
        title += "; grey: the randomised network no longer depends on its input"
    figure.suptitle(("RANDOM WEIGHTS: not a trained model. " if random_weights else "") + title)
    return figure
