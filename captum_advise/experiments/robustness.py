"""Robustness with Captum's own randomised tools, every method through its Captum attribution.

Per image and method (:mod:`~captum_advise.experiments.robustness_methods`: ADVISE's rules, its
groups frozen, and the pytorch-grad-cam methods), for the class the network predicts on the clean
image, every method explaining the same ``score`` (softmax probability by default, as the evaluator
does, or the logit):

* ``sensitivity_max``: ``captum.metrics.sensitivity_max`` of the layer map (uniform perturbations
  of the normalised input within ``radius``, ``sensitivity_samples`` of them; the largest change of
  the map, relative to its norm);
* ``infidelity``: ``captum.metrics.infidelity`` of the map interpolated to the input (bilinear,
  the same value on the three channels), Gaussian perturbations of standard deviation
  ``infidelity_std`` on the normalised input, ``infidelity_samples`` of them, normalised;
* ``flip_density``: with ``captum.robust.MinParamPerturbation``, the smallest salt-and-pepper
  density (the paper's noise, on the 8-bit image, searched on a grid of ``density_step`` up to
  ``max_density``, binary search: it assumes that more noise never restores the prediction) at
  which the prediction changes; empty when none does;
* ``flip_*``: how much the method's map moved at that density: the similarity measures of the
  sanity checks between the clean and the noisy map;
* ``floor_*``: the method's noise floor: the same measures between its maps of two independent
  uniform perturbations of the normalised input within ``floor_radius`` (default 0.005, about a
  third of one 8-bit grey level after ImageNet normalisation): how much the map moves under noise
  no one sees. A ``flip_*`` similarity is read against it.

Every random draw is seeded from the image's name and the run's seed. ``robustness.csv`` is
appended image by image and resumed; ``summary.md`` has each method's means with 95% intervals,
every method minus Grad-CAM and ADVISE minus its frozen groups, paired over images.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from captum.attr import LayerAttribution
from captum.metrics import infidelity, sensitivity_max
from captum.robust import MinParamPerturbation
from torch import Tensor, nn

from captum_advise.attr import for_captum_metrics
from captum_advise.cams.library import Score
from captum_advise.catalogue import robustness_methods
from captum_advise.data import ImageRecord, noise_generator, salt_and_pepper
from captum_advise.evaluation import read_records
from captum_advise.evaluation.intervals import bounded_interval
from captum_advise.evaluation.paired_tests import bootstrap_median_interval
from captum_advise.evaluation.records import append_records
from captum_advise.evaluation.summary import FEW_IMAGES, summary_heading
from captum_advise.experiments.robustness_methods import (
    robustness_explanation,
)
from captum_advise.experiments.similarity import SIMILARITY_MEASURES, map_similarity
from captum_advise.models import Geometry, LoadedModel
from captum_advise.runs.output_files import atomic_write_text, locked_output
from captum_advise.runs.ranks import shared_progress
from captum_advise.runs.run_info import write_run_info
from captum_advise.runs.settings import check_settings, move_aside, run_settings

__all__ = ["ROBUSTNESS_COLUMNS", "RobustnessConfig", "read_robustness", "robustness_summary", "run_robustness"]

MEASURES = ("sensitivity_max", "infidelity", "flip_density")
ROBUSTNESS_COLUMNS = (
    "image",
    "label",
    "target",
    "method",
    *MEASURES,
    *(f"flip_{m}" for m in SIMILARITY_MEASURES),
    *(f"floor_{m}" for m in SIMILARITY_MEASURES),
)


@dataclass(frozen=True)
class RobustnessConfig:
    """What ``run_robustness`` measures and how (see the module's text)."""

    methods: tuple[str, ...] = field(default_factory=partial(robustness_methods, default=True))
    layer: str | None = None
    device: str = "cpu"
    geometry: Geometry = "squash"
    radius: float = 0.02
    sensitivity_samples: int = 10
    infidelity_std: float = 0.05
    infidelity_samples: int = 32
    max_density: float = 0.5
    density_step: float = 0.005
    seed: int = 0
    score: Score = "softmax"
    floor_radius: float = 0.005

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in robustness_methods()]
        if unknown or not self.methods:
            raise ValueError(f"unknown robustness method(s) {unknown}: choose from {', '.join(robustness_methods())}")
        if self.score not in ("softmax", "logit"):
            raise ValueError(f"score must be 'softmax' or 'logit', got {self.score!r}")
        if not self.floor_radius > 0:
            raise ValueError(f"floor_radius must be > 0, got {self.floor_radius!r}")


def _seed(name: str, seed: int, salt: str) -> int:
    return zlib.crc32(f"{name}/{salt}".encode()) * 1000 + seed


def _gaussian_perturbation(std: float, seed: int) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    generator = torch.Generator().manual_seed(seed)

    def perturb(inputs: Tensor) -> tuple[Tensor, Tensor]:
        noise = (torch.randn(inputs.shape, generator=generator) * std).to(inputs.device)
        return noise, inputs - noise

    return perturb


def _flip_density(
    model: nn.Module, normalize: Callable, image: Tensor, name: str, target: int, config: RobustnessConfig
) -> float:
    def noisy(images: Tensor, density: float) -> Tensor:
        return salt_and_pepper(images, density, noise_generator(name, config.seed))

    search = MinParamPerturbation(
        forward_func=model,
        attack=noisy,
        arg_name="density",
        arg_min=0.0,
        arg_max=config.max_density,
        arg_step=config.density_step,
        mode="binary",
        preproc_fn=normalize,
        apply_before_preproc=True,  # the noise goes on the 8-bit image, as in the noise ablation
    )
    with torch.no_grad():
        _, density = search.evaluate(image, target=target)
    return math.nan if density is None else float(density)


def _uniform_perturbations(inputs: Tensor, radius: float, count: int, seed: int) -> list[Tensor]:
    generator = torch.Generator().manual_seed(seed)
    noise = [(torch.rand(inputs.shape, generator=generator) * 2 - 1) * radius for _ in range(count)]
    return [inputs + n.to(inputs.device) for n in noise]


def _method_row(
    name: str, explain: Callable[..., Tensor], model: nn.Module, inputs: Tensor, noisy: Tensor | None, target: int,
    record: ImageRecord, config: RobustnessConfig,
) -> dict[str, object]:  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed(record.name, config.seed, "sensitivity"))
        sensitivity = sensitivity_max(
            for_captum_metrics(explain),
            inputs,
            target=target,
            perturb_radius=config.radius,
            n_perturb_samples=config.sensitivity_samples,
        )
    maps = explain(inputs, target=target).detach()
    spread = LayerAttribution.interpolate(maps, tuple(inputs.shape[-2:]), "bilinear").expand_as(inputs)
    perturb = _gaussian_perturbation(config.infidelity_std, _seed(record.name, config.seed, "infidelity"))
    with torch.no_grad():
        fidelity = infidelity(
            model, perturb, inputs, spread, target=target, n_perturb_samples=config.infidelity_samples, normalize=True
        )
    moved = {m: math.nan for m in SIMILARITY_MEASURES}
    if noisy is not None:
        moved = map_similarity(maps[0, 0].cpu(), explain(noisy, target=target).detach()[0, 0].cpu())
    first, second = (
        explain(x, target=target).detach()[0, 0].cpu()
        for x in _uniform_perturbations(inputs, config.floor_radius, 2, _seed(record.name, config.seed, "floor"))
    )
    floor = map_similarity(first, second)
    return (
        {"method": name, "sensitivity_max": float(sensitivity[0]), "infidelity": float(fidelity[0])}
        | {f"flip_{m}": v for m, v in moved.items()}
        | {f"floor_{m}": v for m, v in floor.items()}
    )


def _image_rows(
    loaded: LoadedModel, layer: nn.Module, record: ImageRecord, methods: Sequence[str], config: RobustnessConfig
) -> Iterator[dict]:
    """The image's row of each method, one at a time (the noise search, shared by all, first)."""
    preprocessor = loaded.preset.preprocessor.with_geometry(config.geometry)
    image = preprocessor.to_uint8(record.load())[None]

    def normalize(images: Tensor) -> Tensor:
        return preprocessor.normalize(images).to(config.device)

    inputs = normalize(image)
    with torch.no_grad():
        target = int(loaded.model(inputs).argmax(dim=1))
    density = _flip_density(loaded.model, normalize, image, record.name, target, config)
    noisy = None
    if not math.isnan(density):
        noisy = normalize(salt_and_pepper(image, density, noise_generator(record.name, config.seed)))
    label = "" if record.label is None else record.label
    common = {"image": record.name, "label": label, "target": target, "flip_density": density}
    for name in methods:
        explain = robustness_explanation(name, loaded.model, layer, config.score, inputs, loaded.reshape_transform)
        yield common | _method_row(name, explain, loaded.model, inputs, noisy, target, record, config)


def run_robustness(
    loaded: LoadedModel,
    records: Sequence[ImageRecord],
    out: Path,
    config: RobustnessConfig,
    progress: bool = True,
    new: bool = False,
) -> list[dict[str, str]]:
    """Measure every image with every method; resumes ``out/robustness.csv``.

    Rows computed with other settings (every option but the methods and the device; recorded in
    ``out/settings.json``) are refused before any work, unless ``new``: then the folder's files are
    first moved into ``out/replaced-<time>/``.

    Returns:
        The rows of robustness.csv (strings, as read back).
    """
    path = out / "robustness.csv"
    layer = loaded.layer(config.layer)
    options = {key: value for key, value in asdict(config).items() if key not in ("methods", "device", "layer")}
    layer_name = config.layer or loaded.preset.reference_layer
    settings = run_settings("robustness", loaded.preset.name, loaded.weights, layer_name, **options)
    with locked_output(out):
        if new:
            move_aside(out, ("robustness.csv", "summary.md", "run_info.json", "settings.json"))
        check_settings(out, settings, path.exists())
        write_run_info(out, experiment="robustness", model=loaded.preset.name, weights=loaded.weights, **asdict(config))
        done: dict[str, set[str]] = {}
        for row in read_robustness(path):
            done.setdefault(row["image"], set()).add(row["method"])
        todo = [
            (record, [name for name in config.methods if name not in done.get(record.name, set())])
            for record in records
        ]
        todo = [(record, missing) for record, missing in todo if missing]
        with shared_progress(sum(len(missing) for _, missing in todo), "robustness", "explanation", progress) as bar:
            for record, missing in todo:
                bar.set_postfix_str(f"noise search and {missing[0]}, {record.name}")
                rows = _image_rows(loaded, layer, record, missing, config)
                for position, row in enumerate(rows):
                    append_records(path, [row], ROBUSTNESS_COLUMNS)  # each method's row as it finishes
                    bar.update(1)
                    if position + 1 < len(missing):
                        bar.set_postfix_str(f"{missing[position + 1]}, {record.name}")
        rows = read_robustness(path)
        heading = summary_heading(settings, len({row["image"] for row in rows}), title="Robustness")
        atomic_write_text(out / "summary.md", heading + robustness_summary(rows))
    return rows


def read_robustness(path: Path) -> list[dict[str, str]]:
    """The rows of a robustness.csv (or a gzip-compressed one), every cell checked; a measure is empty
    where it could not be computed (see :func:`robustness_summary`)."""
    return read_records(path, ROBUSTNESS_COLUMNS, ("image", "method"), ("label", *ROBUSTNESS_COLUMNS[4:]))


def _values(rows: Sequence[dict[str, str]], method: str, measure: str) -> dict[str, float]:
    return {
        row["image"]: float(row[measure]) for row in rows if row["method"] == method and row[measure] not in ("", "nan")
    }


SHOWN = ("sensitivity_max", "infidelity", "flip_spearman_abs", "floor_spearman_abs")
ROBUSTNESS_GUIDE = (
    "How to read this page. Every method explains the same score of the same class, through its Captum "
    "attribution. **sensitivity_max** (↓, Captum): how far the map moves under small random perturbations "
    "of the input; **infidelity** (↓, Captum): how badly the map predicts the score's change under Gaussian "
    "perturbations; **flip_spearman_abs** (↑): the rank correlation of |map| on the photo and on the photo "
    "with the least salt-and-pepper noise that changes the prediction; **floor_spearman_abs** (↑): the same "
    "under two imperceptible perturbations, the method's noise floor. The paired rows say what each method "
    "adds to Grad-CAM's instability, and what ADVISE's peak counts add to its own (advise minus "
    "advise-frozen)."
)
# The paired comparisons the summary makes where both methods are present: what each method adds to
# Grad-CAM's instability, and what ADVISE's peak counts add to its own.
REFERENCE = "gradcam"
FROZEN_PAIR = ("advise", "advise-frozen")


# Where each measure lies: its interval is kept there (a paired difference of two lies in twice the span).
RANGES = {
    "sensitivity_max": (0.0, math.inf),
    "infidelity": (0.0, math.inf),
    "flip_spearman_abs": (-1.0, 1.0),
    "floor_spearman_abs": (-1.0, 1.0),
}


def _cell(values: Sequence[float], low: float, high: float, signed: bool = False) -> str:
    """``median [bootstrap interval]; mean [Student-t interval, kept in [low, high]] (n=…)``: the values are
    heavy-tailed (a few photos dominate a mean), so the median leads; each alone below two values."""
    if not values:
        return "n/a (n=0)"
    median, median_low, median_high = bootstrap_median_interval(values)
    mean, lower, upper = bounded_interval(values, low, high)
    sign = "+" if signed else ""

    def interval(first: float, second: float) -> str:
        return "" if math.isnan(first) else f" [{first:{sign}.4f}, {second:{sign}.4f}]"

    return (
        f"median {median:{sign}.4f}{interval(median_low, median_high)}; "
        f"mean {mean:{sign}.4f}{interval(lower, upper)} (n={len(values)})"
    )


def _paired_line(rows: Sequence[dict[str, str]], first: str, second: str) -> str:
    cells = []
    for measure in SHOWN:
        ours, theirs = _values(rows, first, measure), _values(rows, second, measure)
        differences = [ours[image] - theirs[image] for image in sorted(ours.keys() & theirs.keys())]
        low, high = RANGES[measure]
        cells.append(_cell(differences, low - high, high - low, signed=True))
    return f"| {first} minus {second} | " + " | ".join(cells) + " |"


def robustness_summary(rows: Sequence[dict[str, str]]) -> str:
    """Markdown: per method the median of each measure with its bootstrap 95% interval, and its mean with
    the Student-t 95% interval (kept in the measure's range); then, paired over the images both have,
    every method minus Grad-CAM and ADVISE minus its frozen groups, the same way. Methods measured on
    fewer than 10 images are marked."""
    methods = list(dict.fromkeys(row["method"] for row in rows))
    lines = [
        ROBUSTNESS_GUIDE,
        "",
        "| method | images | " + " | ".join(SHOWN) + " |",
        "|---|---|" + "---|" * len(SHOWN),
    ]
    few = False
    for method in methods:
        cells = [_cell(list(_values(rows, method, measure).values()), *RANGES[measure]) for measure in SHOWN]
        images = len({row["image"] for row in rows if row["method"] == method})
        few |= images < FEW_IMAGES
        lines.append(f"| {method} | {images}{' *' * (images < FEW_IMAGES)} | " + " | ".join(cells) + " |")
    lines.append(
        "\nMedian [percentile bootstrap 95% interval, 10,000 resamples, seeded]; mean [Student-t 95% interval, "
        "kept in each measure's range], over images. The values are heavy-tailed: read the median first."
    )
    if few:
        lines.append(f"\\* fewer than {FEW_IMAGES} images (n < {FEW_IMAGES}): intervals unreliable.")
    flips = sorted({row["image"]: row["flip_density"] for row in rows}.items())
    flipped = [float(d) for _, d in flips if d not in ("", "nan")]
    lines.append(
        f"\nPrediction changed by salt-and-pepper noise on {len(flipped)} of {len(flips)} images"
        + (f"; median density {sorted(flipped)[len(flipped) // 2]:.3f}" if flipped else "")
        + " (shared by all methods: it depends on the network only). floor_spearman_abs: a method's map "
        "against itself under two imperceptible perturbations (its noise floor)."
    )
    pairs = [(method, REFERENCE) for method in methods if REFERENCE in methods and method != REFERENCE]
    pairs += [FROZEN_PAIR] if set(FROZEN_PAIR) <= set(methods) else []
    if pairs:
        lines += ["", "Paired differences over images (median and mean, each with its 95% interval):", ""]
        lines += ["| difference | " + " | ".join(SHOWN) + " |", "|---|" + "---|" * len(SHOWN)]
        lines += [_paired_line(rows, first, second) for first, second in pairs]
    return "\n".join(lines) + "\n"
