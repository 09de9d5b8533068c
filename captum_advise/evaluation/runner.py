"""The protocol runner: images -> every method's maps -> masked images -> metrics -> records.csv."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from captum_advise.baselines import Explanations, build_method, explain_batch
from captum_advise.data import ImageRecord, batches, noise_generator, salt_and_pepper
from captum_advise.evaluation.protocol import ProtocolOptions, score_maps
from captum_advise.evaluation.records import append_records, completed_methods, read_records
from captum_advise.evaluation.summary import summary_table
from captum_advise.models import Geometry, LoadedModel
from captum_advise.output_files import atomic_write_text, locked_output
from captum_advise.run_info import write_run_info

__all__ = ["EvaluationConfig", "run_evaluation", "shard"]


@dataclass
class EvaluationConfig:
    """What to evaluate and how.

    Attributes:
        methods: method names (advise, gradcam, gradcampp, scorecam, layercam, lime).
        layer: the explained layer (default: the preset's reference layer).
        batch_size: images per explanation batch.
        device: where the model and images live.
        protocol: the protocol's options (mask, tau, o).
        method_limits: method -> evaluate it on the first N images only (slow methods).
        method_options: method -> keyword options of its adapter.
        noise_density: salt-and-pepper density added to every image at the network's input size
            before anything else (the noise ablation); 0 = none.
        noise_seed: run seed of that noise (each image's noise also depends on its name).
        geometry: how a photo becomes the network's input: ``"squash"`` (the reference: the whole
            photo resized to the input size) or ``"crop"`` (torchvision: resize, centre crop).
    """

    methods: Sequence[str]
    layer: str | None = None
    batch_size: int = 8
    device: str | torch.device = "cpu"
    protocol: ProtocolOptions = field(default_factory=ProtocolOptions)
    method_limits: dict[str, int] = field(default_factory=dict)
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    noise_density: float = 0.0
    noise_seed: int = 0
    geometry: Geometry = "squash"


def shard(records: Sequence[ImageRecord], index: int, count: int) -> list[ImageRecord]:
    """The ``index``-th of ``count`` interleaved shards (1-based), so shards share slow and fast images."""
    if not 1 <= index <= count:
        raise ValueError(f"shard must be I/N with 1 <= I <= N, got {index}/{count}")
    return list(records[index - 1 :: count])


def _pending(
    records: Sequence[ImageRecord], config: EvaluationConfig, done: dict[str, set[str]]
) -> list[tuple[ImageRecord, list[str]]]:
    pending = []
    for position, record in enumerate(records):
        methods = [
            method
            for method in config.methods
            if method not in done.get(record.name, set()) and position < config.method_limits.get(method, len(records))
        ]
        if methods:
            pending.append((record, methods))
    return pending


def _rows(
    records: Sequence[ImageRecord],
    explanations: Explanations,
    metrics: dict[str, Tensor],
    predicted: Tensor,
    second: Tensor,
    metric_seconds: float,
) -> list[dict[str, object]]:
    rows = []
    position = 0
    per_image = explanations.seconds / len(records)
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
            }
            row |= {name: f"{float(values[position]):.6g}" for name, values in metrics.items()}
            row |= {"seconds": f"{per_image:.4f}", "metric_seconds": f"{metric_seconds / len(records):.4f}"}
            rows.append(row)
            if variant.also_as is not None:
                rows.append(row | {"method": variant.also_as})
            position += 1
    return rows


def _network_image(loaded: LoadedModel, record: ImageRecord, config: EvaluationConfig) -> Tensor:
    image = loaded.preset.preprocessor.with_geometry(config.geometry).to_uint8(record.load())
    if config.noise_density > 0:
        image = salt_and_pepper(image, config.noise_density, noise_generator(record.name, config.noise_seed))
    return image


def run_evaluation(
    loaded: LoadedModel,
    records: Sequence[ImageRecord],
    out: Path,
    config: EvaluationConfig,
    progress: bool = True,
) -> list[dict[str, str]]:
    """Evaluate every method on every image; resume from ``out/records.csv`` if it exists.

    Writes ``out/records.csv`` (appended after every batch, so an interrupted run loses at most
    one batch; a cut last line is recomputed) and ``out/summary.md`` (atomically). The folder is
    locked for the run: a second run into the same ``out`` fails at once.

    Returns:
        All rows of records.csv.

    Raises:
        OutputFolderError: ``out`` is a file, not writable, or locked by another run.
    """
    with locked_output(out):
        write_run_info(out, evaluation=config, model=loaded.preset.name, weights=loaded.weights, images=len(records))
        return _run_locked(loaded, records, out, config, progress)


def _run_locked(
    loaded: LoadedModel, records: Sequence[ImageRecord], out: Path, config: EvaluationConfig, progress: bool
) -> list[dict[str, str]]:
    path = out / "records.csv"
    pending = _pending(records, config, completed_methods(read_records(path)))
    model, layer = loaded.model, loaded.layer(config.layer)
    preprocessor = loaded.preset.preprocessor
    methods = {name: build_method(name, **config.method_options.get(name, {})) for name in config.methods}

    def classify(images: Tensor) -> Tensor:
        return torch.softmax(model(preprocessor.normalize(images).to(config.device)), dim=1)

    with tqdm(total=len(pending), desc="evaluate", unit="image", disable=not progress) as bar:
        for chunk in batches(pending, config.batch_size):
            images = torch.stack([_network_image(loaded, record, config) for record, _ in chunk]).to(config.device)
            inputs = preprocessor.normalize(images)
            with torch.no_grad():
                probabilities = classify(images)
            top2 = probabilities.topk(2, dim=1).indices
            rows = []
            for name, method in methods.items():
                members = torch.tensor([n for n, (_, todo) in enumerate(chunk) if name in todo], dtype=torch.long)
                if members.numel() == 0:
                    continue
                index = members.to(config.device)
                first, second = top2[index, 0], top2[index, 1]
                explanations = explain_batch(method, model, layer, inputs[index], first, second, images[index])
                start = time.perf_counter()
                image_index = torch.cat(
                    [torch.full((len(maps),), n, dtype=torch.long) for n, maps in enumerate(explanations.maps)]
                ).to(config.device)
                metrics = score_maps(
                    classify,
                    images[index],
                    probabilities[index],
                    first,
                    image_index,
                    torch.cat(explanations.maps),
                    torch.cat(explanations.second_maps),
                    config.protocol,
                    explanations.cs_of,
                )
                metric_seconds = time.perf_counter() - start
                subset = [chunk[n][0] for n in members.tolist()]
                rows += _rows(subset, explanations, metrics, first.cpu(), second.cpu(), metric_seconds)
            append_records(path, rows)
            bar.update(len(chunk))
    all_rows = read_records(path)
    warning = "**RANDOM WEIGHTS: these numbers describe an untrained network.**\n\n" if loaded.random_weights else ""
    atomic_write_text(out / "summary.md", warning + summary_table(all_rows))
    return all_rows
