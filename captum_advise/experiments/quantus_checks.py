"""Quantus's randomisation metrics on this project's methods: MPRT, Smooth MPRT, Efficient MPRT, Random Logit.

Quantus (Hedström et al.) is the peer of the sanity experiment. The explanations handed to it are
the sanity checks' own (:func:`~captum_advise.experiments.sanity_maps`: raw, signed, at input
resolution, every method on the class's softmax probability) through an ``explain_func``; Quantus
randomises the model, post-processes and compares the maps with each metric's defaults:

- ``mprt``: :class:`quantus.MPRT`, top-down. Quantus calls ``reset_parameters()`` of every module
  that has one, from the output down: the modules of
  ``randomizable_layers(model, "all", "reset")``, in the same order. It takes |map| (after
  scaling by the batch's largest magnitude) and the Spearman rank correlation with the trained
  model's: the ``spearman_abs`` of ``captum-advise sanity --init reset --randomize all``. Given the
  same randomised models the two give the same numbers; but Quantus seeds every module's reset
  with the same seed (``seed + 1``) and this project each step with ``seed + step``, so the two
  runs draw different weights from the same distributions. Row ``layer`` "original" compares the
  trained model's maps with themselves.
- ``smooth-mprt``: Smooth MPRT's definition, bottom-up (its default): every map is first averaged
  over ``smooth_samples`` inputs, the photo itself and ``smooth_samples - 1`` copies with Gaussian
  noise of standard deviation 0.1 x the photo's value range, so that noise in a method's maps does
  not pass for a response to randomisation (what this project's noise-floor rows measure
  instead). Quantus 0.6.0's :class:`quantus.SmoothMPRT` computes its noisy explanations with
  ``quantus.explain`` (a vanilla gradient unless a ``method`` is named) instead of the
  ``explain_func`` it is given, so it cannot score these methods; the rows are
  :class:`quantus.MPRT` on the method's noise-averaged maps (:func:`smoothed_explain_func`), which
  is SmoothMPRT's computation with the given explanations and the same noise for the trained and
  the randomised model.
- ``efficient-mprt``: :class:`quantus.EfficientMPRT`: the relative rise of the map's discrete
  entropy from the trained to the fully randomised model (one number per photo; higher passes).
- ``random-logit``: :class:`quantus.RandomLogit`: SSIM of the max-scaled maps of the explained
  class and of a random other class (lower passes); the sanity experiment has no counterpart
  (``evaluate``'s class-sensitivity check is its neighbour).

Quantus is an optional dependency (``pip install 'captum-advise[quantus]'``).
"""

from __future__ import annotations

import copy
import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from captum_advise.catalogue import sanity_methods
from captum_advise.data import ImageRecord
from captum_advise.evaluation.intervals import mean_interval
from captum_advise.experiments.csv_table import write_rows
from captum_advise.experiments.sanity_maps import sanity_maps
from captum_advise.models import LoadedModel, resolve_layer
from captum_advise.runs.run_info import write_run_info

__all__ = [
    "QUANTUS_COLUMNS",
    "QUANTUS_METRICS",
    "QuantusConfig",
    "import_quantus",
    "quantus_explain_func",
    "quantus_metric",
    "quantus_summary",
    "run_quantus_checks",
    "smoothed_explain_func",
]

QUANTUS_METRICS = ("mprt", "smooth-mprt", "efficient-mprt", "random-logit")
LAYERWISE = ("mprt", "smooth-mprt")
QUANTUS_COLUMNS = ("metric", "method", "image", "layer", "score")


def import_quantus() -> Any:
    """The ``quantus`` module, or a one-line error saying how to install it."""
    try:
        return importlib.import_module("quantus")
    except ModuleNotFoundError as error:
        if error.name != "quantus":
            raise
        raise ModuleNotFoundError(
            "Quantus is not installed: pip install 'captum-advise[quantus]' (quantus 0.6.0)", name="quantus"
        ) from None


def quantus_explain_func(method: str, layer_name: str) -> Callable[..., np.ndarray]:
    """A Quantus ``explain_func`` giving ``method``'s sanity maps of the layer called ``layer_name``.

    Quantus calls it with the trained model and with its randomised copies, so the layer is looked
    up by name in whichever model it is given.

    Returns:
        ``explain(model, inputs, targets, **kwargs)``: (N, C, H, W) array inputs and (N,) class
        indices in, (N, 1, H, W) float32 maps out.
    """
    if method not in sanity_methods():
        raise ValueError(f"no sanity maps for method {method!r}: choose from {', '.join(sanity_methods())}")

    def explain(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
        device = next(model.parameters()).device
        images = torch.as_tensor(inputs, dtype=torch.float32, device=device)
        classes = torch.as_tensor(np.asarray(targets), dtype=torch.long, device=device).reshape(-1)
        maps = sanity_maps(method, model, resolve_layer(model, layer_name), images, classes)
        return maps[:, None].float().cpu().numpy()

    return explain


def smoothed_explain_func(
    explain: Callable[..., np.ndarray], samples: int, noise_magnitude: float = 0.1, seed: int = 42
) -> Callable[..., np.ndarray]:
    """``explain`` averaged over the input and ``samples - 1`` noisy copies, as Smooth MPRT does.

    The noise is Gaussian with standard deviation ``noise_magnitude`` x each input's value range,
    drawn from ``seed`` anew at every call, so the trained and the randomised model see the same
    noisy inputs.
    """

    def smoothed(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **kwargs: Any) -> np.ndarray:
        generator = np.random.default_rng(seed)
        axes = tuple(range(1, inputs.ndim))
        std = noise_magnitude * (inputs.max(axis=axes, keepdims=True) - inputs.min(axis=axes, keepdims=True))
        total = explain(model, inputs, targets, **kwargs)
        for _ in range(samples - 1):
            noisy = (inputs + generator.standard_normal(inputs.shape) * std).astype(inputs.dtype)
            total = total + explain(model, noisy, targets, **kwargs)
        return total / samples

    return smoothed


def quantus_metric(
    name: str, seed: int = 42, last_layer_only: bool = False, num_classes: int = 1000, progress: bool = False
) -> Any:
    """One Quantus metric with its defaults, but MPRT top-down and warnings off.

    ``last_layer_only`` (MPRT and Smooth MPRT) compares only the fully randomised model's maps,
    Quantus's ``skip_layers``; ``num_classes`` is Random Logit's class count. For
    ``"smooth-mprt"`` this is bottom-up :class:`quantus.MPRT`, to be given a
    :func:`smoothed_explain_func`.
    """
    quantus = import_quantus()
    common = {"seed": seed, "disable_warnings": True, "display_progressbar": progress}
    if name == "mprt":
        return quantus.MPRT(layer_order="top_down", skip_layers=last_layer_only, **common)
    if name == "smooth-mprt":  # MPRT on smoothed maps: see the module's text
        return quantus.MPRT(layer_order="bottom_up", skip_layers=last_layer_only, **common)
    if name == "efficient-mprt":
        return quantus.EfficientMPRT(**common)
    if name == "random-logit":
        return quantus.RandomLogit(num_classes=num_classes, **common)
    raise ValueError(f"unknown Quantus metric {name!r}: choose from {', '.join(QUANTUS_METRICS)}")


@dataclass
class QuantusConfig:
    """Which methods and Quantus metrics, at which layer (``None``: the preset's), with which seed."""

    methods: Sequence[str] = field(default_factory=partial(sanity_methods, default=True))
    metrics: Sequence[str] = QUANTUS_METRICS
    layer: str | None = None
    seed: int = 42
    smooth_samples: int = 50
    last_layer_only: bool = False
    device: str = "cpu"

    def check(self) -> None:
        """One-line errors for an unknown method or metric, a non-positive sample count, or no Quantus."""
        unknown = [m for m in self.methods if m not in sanity_methods()]
        if unknown:
            raise ValueError(f"no sanity maps for method(s) {unknown}: choose from {', '.join(sanity_methods())}")
        unknown = [m for m in self.metrics if m not in QUANTUS_METRICS]
        if unknown:
            raise ValueError(f"unknown Quantus metric(s) {unknown}: choose from {', '.join(QUANTUS_METRICS)}")
        if self.smooth_samples < 1:
            raise ValueError(f"smooth_samples must be at least 1, got {self.smooth_samples}")
        import_quantus()


def _explain_func(metric: str, method: str, layer_name: str, config: QuantusConfig) -> Callable[..., np.ndarray]:
    explain = quantus_explain_func(method, layer_name)
    if metric == "smooth-mprt":
        return smoothed_explain_func(explain, config.smooth_samples, seed=config.seed)
    return explain


def _score_rows(metric: str, method: str, names: Sequence[str], scores: Any) -> list[dict[str, object]]:
    by_layer = scores.items() if isinstance(scores, dict) else [("-", scores)]
    return [
        {"metric": metric, "method": method, "image": name, "layer": layer, "score": f"{float(score):.6f}"}
        for layer, values in by_layer
        for name, score in zip(names, values, strict=True)
    ]


def run_quantus_checks(
    loaded: LoadedModel,
    records: Sequence[ImageRecord],
    out: Path,
    config: QuantusConfig,
    progress: bool = True,
) -> list[dict[str, object]]:
    """Run each Quantus metric on each method's maps of the photos; writes ``out/quantus.csv``.

    The explained class is the trained model's prediction, as in the sanity experiment. Quantus
    gets a copy of the model, so the caller's is never touched.

    Returns:
        Rows ``metric, method, image, layer, score``: per layer (its name, or "original") for MPRT
        and Smooth MPRT, ``layer`` "-" for the one-number metrics.
    """
    config.check()
    layer_name = config.layer or loaded.preset.reference_layer
    resolve_layer(loaded.model, layer_name)
    inputs = loaded.preset.preprocessor([record.load() for record in records]).to(config.device)
    with torch.no_grad():
        logits = loaded.model(inputs)
    x_batch, y_batch = inputs.cpu().numpy(), logits.argmax(dim=1).cpu().numpy()
    num_classes = int(logits.shape[1])
    names = [record.name for record in records]
    rows: list[dict[str, object]] = []
    runs = [(metric, method) for metric in config.metrics for method in config.methods]
    for position, (metric, method) in enumerate(runs, start=1):
        if progress:
            print(f"quantus {metric} / {method} ({position} of {len(runs)})", flush=True)
        # Quantus's bar counts every layer, also those skip_layers leaves out.
        bar = progress and not config.last_layer_only
        instance = quantus_metric(metric, config.seed, config.last_layer_only, num_classes, bar)
        scores = instance(
            model=copy.deepcopy(loaded.model),
            x_batch=x_batch,
            y_batch=y_batch,
            a_batch=None,
            explain_func=_explain_func(metric, method, layer_name, config),
            device=config.device,
            batch_size=len(records),
        )
        rows += _score_rows(metric, method, names, scores)
    out.mkdir(parents=True, exist_ok=True)
    write_rows(out / "quantus.csv", QUANTUS_COLUMNS, rows)
    write_run_info(out, experiment="quantus", config=config, images=names, quantus=import_quantus().__version__)
    return rows


def quantus_summary(rows: Sequence[dict[str, object]]) -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """Mean over photos ± Student-t 95% half-width, per (metric, method, what), and how many photos
    had no score.

    ``what`` is "score" for the one-number metrics; for MPRT and Smooth MPRT "last layer" (the
    fully randomised model) and, where more than one layer was compared, "mean over layers" (each
    photo's mean over the randomised layers, "original" excluded, as Quantus's
    ``return_average_correlation``). Quantus scores a comparison with a constant map NaN (this
    project's similarity: 0); such photos are left out of the mean and counted.

    Returns:
        (mean, half-width, number of photos without a score): NaN mean where no photo has one.
    """
    per_photo: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        if str(row["layer"]) != "original":
            key = (str(row["metric"]), str(row["method"]), str(row["image"]))
            per_photo.setdefault(key, []).append(float(row["score"]))
    collected: dict[tuple[str, str, str], list[float]] = {}
    for (metric, method, _), values in per_photo.items():
        if metric not in LAYERWISE:
            collected.setdefault((metric, method, "score"), []).append(values[0])
            continue
        collected.setdefault((metric, method, "last layer"), []).append(values[-1])
        if len(values) > 1:
            collected.setdefault((metric, method, "mean over layers"), []).append(float(np.mean(values)))
    summary = {}
    for key, values in collected.items():
        defined = [v for v in values if not math.isnan(v)]
        mean, half = mean_interval(defined) if defined else (math.nan, math.nan)
        summary[key] = (mean, half, len(values) - len(defined))
    return summary
