"""The protocol runner: images -> every method's maps -> masked images -> metrics -> records.csv."""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from captum_advise.attr.model_state import channels_last_inputs
from captum_advise.catalogue import method_names
from captum_advise.data import ImageReadError, ImageRecord, batches, noise_generator, salt_and_pepper
from captum_advise.evaluation.families import FAMILY_TEXT, AnalysisPlan
from captum_advise.evaluation.methods import ExplanationBatch, MethodMaps, build_method
from captum_advise.evaluation.protocol import ProtocolOptions, score_maps
from captum_advise.evaluation.records import (
    append_records,
    completed_methods,
    merged_rows,
    read_records,
    record_columns,
)
from captum_advise.evaluation.summary import summary_heading, summary_table
from captum_advise.models import Geometry, LoadedModel
from captum_advise.runs.output_files import atomic_write_csv, atomic_write_text
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

__all__ = ["RUN_FILES", "EvaluationConfig", "evaluated_methods", "evaluation_settings", "run_evaluation", "shard"]

# What an evaluation writes into its folder (moved aside together when a run starts afresh).
RUN_FILES = ("records.csv", "summary.md", "run_info.json", "settings.json", "skipped.csv", "ranks")


@dataclass
class EvaluationConfig:
    """What to evaluate and how.

    Attributes:
        methods: method names of the catalogue (:mod:`captum_advise.catalogue`).
        controls: also evaluate every control of the catalogue not in ``methods``, and ADVISE's
            random-groups twin (its ``random_group_draws`` option, 2 by default); False: only
            ``methods``, and ADVISE without its twin.
        layer: the explained layer (default: the preset's reference layer).
        batch_size: images per explanation batch.
        device: where the model and images live.
        protocol: the protocol's options (mask, tau, o, areas, penalties, ties).
        plan: what the summary tests, declared before the data (primary measure, margin): recorded
            in ``settings.json``, so a folder is not resumed under another plan.
        method_limits: method -> evaluate it on the first N images only (slow methods).
        method_options: method -> keyword options of its adapter
            (:mod:`captum_advise.evaluation.methods`).
        noise_density: salt-and-pepper density added to every image at the network's input size
            before anything else (the noise ablation); 0 = none.
        noise_seed: run seed of that noise (each image's noise also depends on its name).
        geometry: how a photo becomes the network's input: ``"squash"`` (the reference: the whole
            photo resized to the input size) or ``"crop"`` (torchvision: resize, centre crop).
        skip_unreadable: leave out images that cannot be read (listed in ``skipped.csv`` and the
            summary) instead of stopping, before any work, at the first.
    """

    methods: Sequence[str]
    controls: bool = True
    layer: str | None = None
    batch_size: int = 8
    device: str | torch.device = "cpu"
    protocol: ProtocolOptions = field(default_factory=ProtocolOptions)
    plan: AnalysisPlan = field(default_factory=AnalysisPlan)
    method_limits: dict[str, int] = field(default_factory=dict)
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    noise_density: float = 0.0
    noise_seed: int = 0
    geometry: Geometry = "squash"
    skip_unreadable: bool = False


def shard(records: Sequence[ImageRecord], index: int, count: int) -> list[ImageRecord]:
    """The ``index``-th of ``count`` interleaved shards (1-based), so shards share slow and fast images."""
    if not 1 <= index <= count:
        raise ValueError(f"shard must be I/N with 1 <= I <= N, got {index}/{count}")
    return list(records[index - 1 :: count])


def evaluated_methods(config: EvaluationConfig) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The methods a run evaluates (``methods``, then the controls unless ``controls`` is False) and
    each one's options (without controls, ADVISE draws no random groups)."""
    methods = list(dict.fromkeys(config.methods))
    options = {name: dict(config.method_options.get(name, {})) for name in methods}
    if config.controls:
        methods += [name for name in method_names("control") if name not in methods]
    elif "advise" in options:
        options["advise"]["random_group_draws"] = 0
    return methods, {name: options.get(name, dict(config.method_options.get(name, {}))) for name in methods}


def _pending(
    records: Sequence[ImageRecord], config: EvaluationConfig, done: dict[str, set[str]]
) -> list[tuple[ImageRecord, list[str]]]:
    pending = []
    methods_of_run = evaluated_methods(config)[0]
    for position, record in enumerate(records):
        methods = [
            method
            for method in methods_of_run
            if method not in done.get(record.name, set()) and position < config.method_limits.get(method, len(records))
        ]
        if methods:
            pending.append((record, methods))
    return pending


def _rows(
    records: Sequence[ImageRecord],
    explanations: MethodMaps,
    metrics: dict[str, Tensor],
    predicted: Tensor,
    second: Tensor,
    metric_seconds: float,
) -> list[dict[str, object]]:
    rows = []
    position = 0

    def seconds_of(method: str) -> str:
        return f"{explanations.method_seconds.get(method, explanations.seconds) / len(records):.4f}"

    for n, record in enumerate(records):
        for variant in explanations.variants[n]:
            row: dict[str, object] = {
                "image": record.name,
                "label": "" if record.label is None else record.label,
                "predicted": int(predicted[n]),
                "second": int(second[n]),
                "method": variant.method,
                "group": "" if variant.group is None else variant.group,
                "units": "" if variant.units is None else variant.units,
                "draw": "" if variant.draw is None else variant.draw,
            }
            row |= {name: _number(name, float(values[position])) for name, values in metrics.items()}
            row |= {"seconds": seconds_of(variant.method), "metric_seconds": f"{metric_seconds / len(records):.4f}"}
            rows.append(row)
            rows += [row | {"method": name, "seconds": seconds_of(name)} for name in variant.also_as]
            position += 1
    return rows


def _number(name: str, value: float) -> str:
    """A metric as records.csv writes it: 6 significant digits; deletion and insertion empty when not computed."""
    return "" if name in ("deletion", "insertion") and math.isnan(value) else f"{value:.6g}"


def _network_image(loaded: LoadedModel, record: ImageRecord, config: EvaluationConfig) -> Tensor:
    image = loaded.preset.preprocessor.with_geometry(config.geometry).to_uint8(record.load())
    if config.noise_density > 0:
        image = salt_and_pepper(image, config.noise_density, noise_generator(record.name, config.noise_seed))
    return image


def evaluation_settings(loaded: LoadedModel, config: EvaluationConfig) -> dict[str, Any]:
    """The settings that define an evaluation's rows (:mod:`captum_advise.runs.settings`).

    Which methods and images are evaluated, on which device and in which batches, are not among
    them: a run may add methods or images to a folder and still resume.
    """
    options = {
        "geometry": config.geometry,
        "protocol": config.protocol,
        "analysis": {
            "primary": config.plan.primary_measure(config.protocol.areas, config.protocol.penalties),
            "margin": config.plan.margin,
            "alpha": config.plan.alpha,
            "families": dict(FAMILY_TEXT),
        },
        "method_options": config.method_options,
        "controls": config.controls,
        "noise_density": config.noise_density,
        "noise_seed": config.noise_seed,
    }
    layer = config.layer or loaded.preset.reference_layer
    return run_settings("evaluate", loaded.preset.name, loaded.weights, layer, **options)


def run_evaluation(
    loaded: LoadedModel,
    records: Sequence[ImageRecord],
    out: Path,
    config: EvaluationConfig,
    progress: bool = True,
    new: bool = False,
) -> list[dict[str, str]]:
    """Evaluate every method on every image; resume from ``out/records.csv`` if it exists.

    A folder whose rows were computed with other settings (:func:`evaluation_settings`, recorded in
    ``out/settings.json``) is refused before any work, unless ``new``: then its files are first
    moved into ``out/replaced-<time>/`` and the run starts afresh.

    Writes ``out/records.csv`` (every method's rows of a batch of photos appended once the batch
    is scored, so an interrupted run loses at most one batch; a cut last line is recomputed) and
    ``out/summary.md`` (atomically). Each batch's maps, every method's (those whose CS compares
    maps together, LIME's apart), are scored in shared forward passes; ``metric_seconds`` is a
    method's share of that time by its number of maps. The progress bar counts explanations (a
    photo explained by a method, scored), moves as the masked images are scored, and names the
    method or stage and the photos at work. The folder is
    locked for the run: a second run into the same ``out`` fails at once.

    Under torchrun (a ``torch.distributed`` process group with several ranks; see
    :mod:`captum_advise.runs.ranks`) the images still to do are dealt out to the ranks; each appends
    its rows to ``out/ranks/rank-R-of-W/records.csv``, and when all have finished rank 0 merges
    them into ``out/records.csv`` (in image order) and writes ``summary.md``. A rerun of the same
    command, with any number of ranks, resumes from every file there.

    Returns:
        All rows of records.csv (on every rank).

    Raises:
        OutputFolderError: ``out`` is a file, not writable, or locked by another run.
        SettingsMismatchError: ``out`` holds rows computed with other settings (and not ``new``).
    """
    with locked_run_output(out):
        if new and is_main_rank():
            move_aside(out, RUN_FILES)
        gather(None)  # every rank reads the folder after it was moved aside
        has_rows = any(path.exists() for path in _record_files(out))
        settings = evaluation_settings(loaded, config)
        check_settings(out, settings, has_rows, write=is_main_rank())
        if is_main_rank():
            write_run_info(
                out,
                evaluation=config,
                model=loaded.preset.name,
                weights=loaded.weights,
                images=len(records),
                ranks=rank_and_size()[1],
            )
        return _run_locked(loaded, records, out, config, progress, settings)


def _record_files(out: Path) -> list[Path]:
    """The run's merged records and every rank's (from runs with any number of ranks)."""
    return [out / "records.csv", *sorted(out.glob("ranks/rank-*/records.csv"))]


def _readable(
    pending: list[tuple[ImageRecord, list[str]]], skip: bool
) -> tuple[list[tuple[ImageRecord, list[str]]], list[dict[str, str]]]:
    """The pending images that can be read, and the others as skipped.csv rows; without ``skip``
    the first unreadable image stops the run, before any work, naming the file."""
    readable, skipped = [], []
    for record, methods in pending:
        try:
            record.load()
        except ImageReadError as error:
            if not skip:
                raise
            skipped.append({"image": record.name, "reason": str(error)})
        else:
            readable.append((record, methods))
    return readable, skipped


def _source(records: Sequence[ImageRecord]) -> str | None:
    folders = {record.path.parent for record in records if record.path is not None}
    return str(folders.pop()) if len(folders) == 1 else None


def _run_locked(
    loaded: LoadedModel,
    records: Sequence[ImageRecord],
    out: Path,
    config: EvaluationConfig,
    progress: bool,
    settings: dict[str, Any],
) -> list[dict[str, str]]:
    done = completed_methods(row for path in _record_files(out) for row in read_records(path))
    rank, size = rank_and_size()
    pending, skipped = _readable(_pending(records, config, done), config.skip_unreadable)
    if is_main_rank() and skipped:
        atomic_write_csv(out / "skipped.csv", ("image", "reason"), skipped)
    pending = pending[rank::size]
    path = out / "records.csv"
    columns = record_columns(config.protocol.areas, config.protocol.penalties)
    if size > 1:
        path = rank_folder(out) / "records.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
    explanations = sum(len(methods) for _, methods in pending)
    with shared_progress(explanations, "evaluate", "explanation", progress) as bar:
        for rows in _evaluate(loaded, pending, config, bar):
            append_records(path, rows, columns)
    if is_main_rank():
        # Rank files left by an earlier torchrun run are merged by a one-process rerun too.
        all_rows = _merge_ranks(out, records, columns) if len(_record_files(out)) > 1 else read_records(path)
        warning = (
            "**RANDOM WEIGHTS: these numbers describe an untrained network.**\n\n" if loaded.random_weights else ""
        )
        photos = len({row["image"] for row in all_rows})
        heading = summary_heading(settings, photos, _source(records), {row["method"] for row in all_rows})
        if skipped:
            names = ", ".join(row["image"] for row in skipped)
            heading += (
                f"Left out {len(skipped)} unreadable image{'s' * (len(skipped) != 1)} (skipped.csv): {names}.\n\n"
            )
        primary = config.plan.primary_measure(config.protocol.areas, config.protocol.penalties)
        atomic_write_text(out / "summary.md", warning + summary_table(all_rows, heading, config.plan, primary))
    gather(None)  # the other ranks return once rank 0 has merged
    return read_records(out / "records.csv")


def _merge_ranks(out: Path, records: Sequence[ImageRecord], columns: Sequence[str]) -> list[dict[str, str]]:
    """Join every rank's rows into ``out/records.csv`` in image order, then remove the rank files."""
    sources = _record_files(out)
    order = {record.name: position for position, record in enumerate(records)}
    rows = merged_rows(sources)
    rows.sort(key=lambda row: order.get(row["image"], len(order)))  # stable: methods keep their order
    atomic_write_csv(out / "records.csv", columns, rows)
    for source in sources[1:]:
        source.unlink()
        with contextlib.suppress(OSError):
            source.parent.rmdir()
    with contextlib.suppress(OSError):
        (out / "ranks").rmdir()
    return rows


class _Progress:
    """Moves the bar (counting explanations) as a batch's masked images are scored, in whole steps."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.counted = 0.0

    def say(self, doing: str) -> None:
        self.bar.set_postfix_str(doing)

    def scoring(self, explanations: int) -> Callable[[int, int], None]:
        """The protocol's progress callback while ``explanations`` are scored: (done, total) masked images."""
        start = self.counted

        def reach(done: int, total: int) -> None:
            shown = int(self.counted)
            self.counted = start + explanations * done / total
            if int(self.counted) > shown:
                self.bar.update(int(self.counted) - shown)

        return reach


def _evaluate(
    loaded: LoadedModel, pending: Sequence[tuple[ImageRecord, list[str]]], config: EvaluationConfig, bar: Any
) -> Iterator[list[dict[str, object]]]:
    """Each batch's rows: every method explains the batch, then all their maps are scored together."""
    model, layer = loaded.model, loaded.layer(config.layer)
    preprocessor = loaded.preset.preprocessor
    names, options = evaluated_methods(config)
    methods = {name: build_method(name, loaded.reshape_transform, **options[name]) for name in names}
    progress = _Progress(bar)
    mean_colour = torch.tensor(preprocessor.mean) * 255
    perturbing = set(method_names(cost="slow"))
    on_cpu = torch.device(config.device).type == "cpu"

    def classify(images: Tensor) -> Tensor:
        return torch.softmax(model(preprocessor.normalize(images).to(config.device)), dim=1)

    def classify_masked(images: Tensor) -> Tensor:
        # On a CPU, masked images go in as channels-last tensors (the model is left as it is): oneDNN's
        # channels-last convolutions are 1.5x faster there, and the probabilities agree to ~5e-7.
        with channels_last_inputs(model) if on_cpu else contextlib.nullcontext():
            return classify(images)

    done = 0
    for chunk in batches(pending, config.batch_size):
        photos = f"photo{'s' * (len(chunk) > 1)} {done + 1}{f'-{done + len(chunk)}' * (len(chunk) > 1)}"
        todo = [
            (name, method, members)
            for name, method in methods.items()
            if (members := torch.tensor([n for n, (_, names) in enumerate(chunk) if name in names])).numel()
        ]
        images = torch.stack([_network_image(loaded, record, config) for record, _ in chunk]).to(config.device)
        inputs = preprocessor.normalize(images)
        with torch.no_grad():
            probabilities = classify(images)
        first, second = probabilities.topk(2, dim=1).indices.unbind(1)
        explained = []
        for name, method, members in todo:
            progress.say(f"{name}, {photos}")
            index = members.to(config.device)
            batch = ExplanationBatch(model, layer, inputs[index], images[index], first[index], second[index])
            # Thousands of perturbed forward passes per map: channels-last inputs on a CPU (1.5x faster).
            faster = channels_last_inputs(model) if name in perturbing and on_cpu else contextlib.nullcontext()
            with faster:
                explained.append((members, method.explain(batch)))
        progress.say(f"scoring, {photos}")
        metrics = _pooled_scores(
            classify_masked, images, probabilities, first, explained, config.protocol, mean_colour, progress
        )
        rows = []
        for (members, explanations), (values, seconds) in zip(explained, metrics, strict=True):
            subset = [chunk[n][0] for n in members.tolist()]
            rows += _rows(subset, explanations, values, first[members].cpu(), second[members].cpu(), seconds)
        yield rows
        done += len(chunk)


def _pooled_scores(
    classify: Callable[[Tensor], Tensor],
    images: Tensor,
    probabilities: Tensor,
    first: Tensor,
    explained: list[tuple[Tensor, MethodMaps]],
    protocol: ProtocolOptions,
    mean_colour: Tensor,
    progress: _Progress,
) -> list[tuple[dict[str, Tensor], float]]:
    """Every method's metrics and its share of the scoring time, its maps scored in forward passes
    shared with the other methods of the batch that score CS the same way."""
    results: list[tuple[dict[str, Tensor], float]] = [({}, 0.0)] * len(explained)
    for cs_of in dict.fromkeys(explanations.cs_of for _, explanations in explained):
        which = [n for n, (_, explanations) in enumerate(explained) if explanations.cs_of == cs_of]
        counts = [sum(len(maps) for maps in explained[n][1].maps) for n in which]
        image_index = torch.cat(
            [
                torch.full((len(maps),), int(photo), dtype=torch.long)
                for n in which
                for photo, maps in zip(explained[n][0], explained[n][1].maps, strict=True)
            ]
        ).to(images.device)
        start = time.perf_counter()
        metrics = score_maps(
            classify=classify,
            images=images,
            probabilities=probabilities,
            predicted=first,
            image_index=image_index,
            maps=torch.cat([maps for n in which for maps in explained[n][1].maps]),
            second_maps=torch.cat([maps for n in which for maps in explained[n][1].second_maps]),
            options=protocol,
            cs_of=cs_of,
            mean_colour=mean_colour,
            progress=progress.scoring(sum(explained[n][0].numel() for n in which)),
        )
        seconds = time.perf_counter() - start
        offsets = [0, *itertools.accumulate(counts)]
        for position, n in enumerate(which):
            part = slice(offsets[position], offsets[position + 1])
            share = seconds * counts[position] / offsets[-1]
            results[n] = ({name: values[part] for name, values in metrics.items()}, share)
    return results
