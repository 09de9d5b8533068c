"""Noise ablation (paper §4.2.1, Figure 5): AVX of every method against salt-and-pepper density."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from matplotlib.figure import Figure

from captum_advise.data import PAPER_DENSITIES, ImageRecord
from captum_advise.evaluation import EvaluationConfig, run_evaluation
from captum_advise.evaluation.summary import summary_rows
from captum_advise.experiments.csv_table import write_rows
from captum_advise.models import LoadedModel
from captum_advise.runs.output_files import save_figure
from captum_advise.runs.ranks import gather, is_main_rank
from captum_advise.runs.run_info import write_run_info
from captum_advise.runs.settings import move_aside

__all__ = ["ablation_plot", "relu_options", "run_noise_ablation"]

ABLATION_COLUMNS = ("density", "relu", "method", "images", "avx", "avx_half_width", "ad", "ssim", "fsim", "mse")


def relu_options(methods: Sequence[str], relu: bool) -> dict[str, dict[str, object]]:
    """Adapter options that switch off (or on) every place where a method discards negative evidence.

    ADVISE and Grad-CAM: the ReLU on the map. Grad-CAM++ and Layer-CAM: the ReLU on the map and
    the positive part of the gradients in their weights. Score-CAM: the ReLU on the map (its
    weights are softmax scores). LIME: nothing (its map is a superpixel mask).
    """
    options: dict[str, dict[str, object]] = {}
    for method in methods:
        if method == "advise":
            options[method] = {"relu_attributions": relu}
        elif method != "lime":  # LIME's map is a superpixel mask: it has no ReLU
            options[method] = {"relu": relu, "gradient_relu": relu}
    return options


def _with_relu(method_options: dict[str, dict[str, object]], methods: Sequence[str], relu: bool):
    """Each method's own options with its ReLU switch set (the other options kept)."""
    switches = relu_options(methods, relu)
    return {m: {**method_options.get(m, {}), **switches.get(m, {})} for m in {*method_options, *switches}}


def run_noise_ablation(
    loaded: LoadedModel,
    records: Sequence[ImageRecord],
    out: Path,
    config: EvaluationConfig,
    densities: Sequence[float] = PAPER_DENSITIES,
    relu_modes: Sequence[bool] = (True, False),
    progress: bool = True,
    new: bool = False,
) -> list[dict[str, object]]:
    """Run the AVX protocol on noisy copies of the images for every density and ReLU setting.

    Each setting is a resumable evaluation in ``out/relu-on_d0.025/`` etc. (split across ranks
    under torchrun, as :func:`run_evaluation` is); the summary goes to ``out/ablation.csv`` and
    ``out/ablation.png``, written by rank 0. Each setting's folder refuses rows of other settings
    (see :func:`run_evaluation`); ``new`` first moves every file of an earlier ablation in ``out``
    into ``out/replaced-<time>/``.

    Returns:
        The rows of ablation.csv.
    """
    if new and is_main_rank() and out.is_dir():
        settings = sorted(path.name for path in out.glob("relu-*_d*") if path.is_dir())
        move_aside(out, (*settings, "ablation.csv", "ablation.png", "run_info.json"))
    gather(None)  # every rank reads the folder after it was moved aside
    rows: list[dict[str, object]] = []
    for relu in relu_modes:
        for density in densities:
            setting = replace(
                config,
                noise_density=density,
                method_options=_with_relu(config.method_options, config.methods, relu),
            )
            folder = out / f"relu-{'on' if relu else 'off'}_d{density:g}"
            records_csv = run_evaluation(loaded, records, folder, setting, progress=progress)
            for entry in summary_rows(records_csv):
                mean, half = entry["avx"]  # type: ignore[misc]
                rows.append(
                    {
                        "density": density,
                        "relu": relu,
                        "method": entry["method"],
                        "images": entry["images"],
                        "avx": f"{mean:.4f}",
                        "avx_half_width": f"{half:.4f}",
                        **{m: f"{entry[m][0]:.4f}" for m in ("ad", "ssim", "fsim", "mse")},  # type: ignore[index]
                    }
                )
    if is_main_rank():
        write_rows(out / "ablation.csv", ABLATION_COLUMNS, rows)
        write_run_info(out, experiment="noise ablation", config=config, densities=densities, relu_modes=relu_modes)
        save_figure(ablation_plot(rows, loaded.random_weights), out / "ablation.png", dpi=100)
    return rows


def ablation_plot(rows: list[dict[str, object]], random_weights: bool = False) -> Figure:
    """AVX against noise density, one line per method, one panel per ReLU setting."""
    modes = sorted({bool(row["relu"]) for row in rows}, reverse=True)
    figure = Figure(figsize=(6 * len(modes), 4.2), layout="constrained")
    axes = figure.subplots(1, len(modes), squeeze=False)[0]
    for axis, relu in zip(axes, modes, strict=True):
        mine = [row for row in rows if bool(row["relu"]) == relu]
        for method in dict.fromkeys(row["method"] for row in mine):
            line = sorted(
                (float(r["density"]), float(r["avx"]), float(r["avx_half_width"]))
                for r in mine
                if r["method"] == method
            )
            x, y, half = zip(*line, strict=True)
            label = method.split(":")[0].split(" (")[0]
            axis.errorbar(x, y, yerr=[0 if h != h else h for h in half], marker="o", capsize=2, label=label)
        axis.set_xlabel("salt-and-pepper density")
        axis.set_ylabel("AVX")
        axis.set_ylim(bottom=0)
        axis.set_title("maps with ReLU" if relu else "maps without ReLU (negative evidence kept)")
        axis.legend(fontsize=7)
    if random_weights:
        figure.suptitle("RANDOM WEIGHTS: not a trained model", color="red")
    return figure
