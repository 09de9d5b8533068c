"""``captum-advise explain`` and ``demo``: explanation sheets and JSON for images."""

from __future__ import annotations

import argparse
import json
import logging
import pickle
from collections import Counter
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from captum_advise.cli.arguments import add_model_arguments

if TYPE_CHECKING:
    from captum_advise.data import ImageRecord
    from captum_advise.models import LoadedModel
    from captum_advise.pipeline import ExplainedImage

__all__ = ["add_demo_command", "add_explain_command"]

LOGGER = logging.getLogger("captum_advise")
UNITS_PER_SHEET = 6


def add_explain_arguments(parser: argparse.ArgumentParser, default_out: Path | None = None) -> None:
    parser.add_argument("--target", type=int, help="class to explain [default: each image's predicted class]")
    parser.add_argument(
        "--out",
        type=Path,
        default=default_out,
        required=default_out is None,
        help="output folder, created" + (f" [default: {default_out}]" if default_out else ""),
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward/backward pass [default: 8]")
    parser.add_argument(
        "--value-range", choices=("fixed", "unit"), default="fixed", help="density value range [default: fixed]"
    )
    parser.add_argument(
        "--density-of",
        choices=("activations", "gradients"),
        default="activations",
        help="whose density gives a unit's relevance: its activations (the authors' code) or the target's "
        "gradients (the paper's text) [default: activations]",
    )
    parser.add_argument(
        "--score",
        choices=("softmax", "logit"),
        default="softmax",
        help="the score whose gradients weight the units: the class probability or its logit [default: softmax]",
    )
    parser.add_argument(
        "--peaks",
        type=_peaks_choice,
        default="every",
        help="which peak groups to show and save: every kept group, 'auto' (the group LayerADVISE.attribute "
        "picks by default), 'confidence' (the group whose Score-CAM-masked input the model is surest of: one "
        "more forward pass per group) or a peak count, as attribute's peaks [default: every]",
    )
    parser.add_argument(
        "--save-maps",
        action="store_true",
        help="also write NAME_maps.pt: every group's map at the layer's and the input's resolution, and Grad-CAM's "
        "(torch.load gives a dict)",
    )
    parser.add_argument("--unit-sheets", action="store_true", help="also draw one unit of each peak group per image")
    parser.add_argument("--depth", action="store_true", help="also draw the shallow/middle/deep layer sheet per image")


def _peaks_choice(text: str) -> str | int:
    if text in ("every", "auto", "confidence"):
        return text
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--peaks wants 'every', 'auto', 'confidence' or a peak count, got {text!r}")
    return int(text)


def _chosen_groups(explanation: ExplainedImage, peaks: str | int) -> ExplainedImage:
    if peaks == "every":
        return explanation
    chosen = {"auto": explanation.auto_peaks, "confidence": explanation.confidence_peaks}
    return explanation.only(chosen.get(peaks, peaks))


def add_explain_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "explain",
        help="explain images: a figure sheet (PNG) and a JSON per image",
        description="Explain each image with ADVISE: writes NAME.png (input, top-5, one overlay per peak group, "
        "Grad-CAM) and NAME.json (predictions, every unit's relevance, the groups) to --out.",
    )
    parser.add_argument("images", nargs="+", type=Path, help="image files or folders of images")
    add_model_arguments(parser, default_geometry="crop")
    add_explain_arguments(parser)
    parser.set_defaults(run=run_explain)


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="explain scikit-image's bundled photos with the ImageNet MobileNetV2",
        description="explain on scikit-image's photos (chelsea, coffee, astronaut, rocket) with mobilenet_v2 and "
        "IMAGENET1K_V1 weights, plus a unit sheet and a depth sheet.",
    )
    add_model_arguments(parser, default_model="mobilenet_v2", default_geometry="crop")
    add_explain_arguments(parser, default_out=Path("advise-demo"))
    parser.set_defaults(run=run_demo, unit_sheets=True, depth=True)


def image_records(paths: list[Path]) -> list[ImageRecord]:
    """Files as given, folders expanded to their image files; figures captum-advise wrote are left out."""
    from captum_advise.data import ImageRecord, class_from_name, image_files
    from captum_advise.runs.output_files import written_by_captum_advise

    records, ours = [], []
    for path in paths:
        files = image_files(path) if path.is_dir() else [path]
        for file in files:
            if written_by_captum_advise(file):
                ours.append(file)
            else:
                # The label, as evaluate reads it: the class index a file name starts with (247_n02109525_...).
                records.append(ImageRecord(file.name, file, class_from_name(file.name)))
    if ours:
        LOGGER.info(f"left out {len(ours)} figure(s) that captum-advise wrote (e.g. {ours[0].name}): not photos")
    return records


def run_explain(args: argparse.Namespace) -> int:
    records = image_records(args.images)
    if not records:
        raise ValueError(f"no images found in {', '.join(str(path) for path in args.images)}")
    return write_explanations(args, records)


def output_stems(records: list[ImageRecord]) -> list[str]:
    """A distinct file stem per image: its own stem, or, where stems collide (fish.jpg, fish.png),
    its full name with the dot replaced (fish_jpg, fish_png), numbered if that still collides."""
    stems = [Path(record.name).stem for record in records]
    counts = Counter(stems)
    named = [
        record.name.replace(".", "_") if counts[stem] > 1 else stem for record, stem in zip(records, stems, strict=True)
    ]
    seen: Counter[str] = Counter()
    distinct = []
    for stem in named:
        seen[stem] += 1
        distinct.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return distinct


def _check_no_input_overwritten(records: list[ImageRecord], outputs: list[Path]) -> None:
    inputs = {record.path.resolve() for record in records if record.path is not None}
    for output in outputs:
        if output.resolve() in inputs:
            raise ValueError(
                f"--out {output.parent} would overwrite the input image {output}: choose another output folder"
            )


# What an explanation's JSON summary and its saved maps hold (``explain`` replaces only such files).
SUMMARY_KEYS = {"model", "layer", "image", "groups", "relevance"}
MAPS_KEYS = {"image", "peaks", "layer_maps", "input_maps"}


def _written_by_explain(path: Path) -> bool:
    """Whether ``path`` is a file ``explain`` writes: a figure, an explanation's JSON summary or its maps."""
    from captum_advise.runs.output_files import written_by_captum_advise

    if path.suffix == ".png":
        return written_by_captum_advise(path)
    try:
        if path.suffix == ".json":
            content = json.loads(path.read_text())
        else:
            import torch

            content = torch.load(path, map_location="cpu", weights_only=True)  # never runs a pickle's code
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError):
        return False
    return isinstance(content, dict) and (SUMMARY_KEYS if path.suffix == ".json" else MAPS_KEYS) <= content.keys()


def _check_only_own_files_replaced(outputs: list[Path]) -> None:
    """One line, before any work, for an output name that holds a file ``explain`` did not write."""
    for output in outputs:
        if output.exists() and not (output.is_file() and _written_by_explain(output)):
            raise ValueError(
                f"--out {output.parent} holds {output.name}, which captum-advise did not write and would replace: "
                "move it or choose another output folder"
            )


def run_demo(args: argparse.Namespace) -> int:
    from captum_advise.data import embedded_photos

    return write_explanations(args, embedded_photos())


def write_explanations(args: argparse.Namespace, records: list[ImageRecord]) -> int:
    import torch
    from tqdm import tqdm

    from captum_advise.figures import explanation_sheet
    from captum_advise.models import load_model
    from captum_advise.pipeline import explain_images
    from captum_advise.runs.output_files import atomic_write, atomic_write_text, prepare_output_folder

    for record in records:
        record.load()  # unreadable files fail here, before the model is built
    stems = output_stems(records)
    suffixes = [".png", ".json"] + ["_units.png"] * args.unit_sheets + ["_depth.png"] * args.depth
    suffixes += ["_maps.pt"] * args.save_maps
    outputs = [args.out / f"{stem}{suffix}" for stem in stems for suffix in suffixes]
    _check_no_input_overwritten(records, outputs)
    _check_only_own_files_replaced(outputs)
    if args.unit_sheets and args.density_of != "activations":
        raise ValueError("--unit-sheets draws activation densities: it cannot be combined with --density-of gradients")
    if args.out.exists() and not args.out.is_dir():
        prepare_output_folder(args.out)  # names the problem before the model is built
    loaded = load_model(args.model, args.weights, device=args.device)
    layer = args.layer or loaded.preset.reference_layer
    loaded.layer(layer)
    if args.target is not None and not 0 <= args.target < len(loaded.class_names):
        last = len(loaded.class_names) - 1
        raise ValueError(f"--target {args.target} is not a class of {args.model}: use 0 to {last}")
    prepare_output_folder(args.out)
    explanations = explain_images(
        loaded,
        records,
        layer,
        args.target,
        args.batch_size,
        args.device,
        geometry=args.geometry,
        value_range=args.value_range,
        density_of=args.density_of,
        score=args.score,
        rules=("confidence",) if args.peaks == "confidence" else (),
    )
    title = f"{args.model} {layer}"
    # Drawing is seconds per image (a depth sheet explains two more layers): it gets its own bar.
    work = [" + units" * args.unit_sheets, " + depth" * args.depth]
    sheets = tqdm(
        list(zip(records, explanations, stems, strict=True)), desc="sheets" + "".join(work), unit="image", leave=True
    )
    for record, explained, stem in sheets:
        explanation = _chosen_groups(explained, args.peaks)
        missing = isinstance(args.peaks, int) and not explanation.groups
        if missing:
            present = [group.peaks for group in explained.groups]
            LOGGER.info(
                f"{record.name} has no group with {args.peaks} peaks (it has {present}): its sheet shows Grad-CAM only"
            )
        _save(explanation_sheet(explanation, title, loaded.random_weights), args.out / f"{stem}.png")
        summary = {"model": args.model, "weights": loaded.weights, "random_weights": loaded.random_weights}
        summary |= {"layer": layer, "value_range": args.value_range, "geometry": args.geometry}
        summary |= {"density_of": args.density_of, "score": args.score, "peaks": args.peaks}
        summary |= {"requested_group_missing": missing}
        summary |= explanation.to_json(loaded.class_names)
        atomic_write_text(args.out / f"{stem}.json", json.dumps(summary, indent=1))
        if args.save_maps:
            atomic_write(args.out / f"{stem}_maps.pt", partial(torch.save, explanation.maps()))
        if args.unit_sheets:
            shown = explanation if explanation.groups else explained
            _write_unit_sheet(args, loaded, layer, record, shown, args.out / f"{stem}_units.png")
        if args.depth:
            _write_depth_sheet(args, loaded, record, args.out / f"{stem}_depth.png")
    print(f"wrote {len(records)} explanation(s) of {args.model} ({loaded.weights} weights) to {args.out}")
    return 0


def _write_unit_sheet(
    args: argparse.Namespace,
    loaded: LoadedModel,
    layer: str,
    record: ImageRecord,
    explanation: ExplainedImage,
    path: Path,
) -> None:
    from captum_advise.figures import unit_sheet
    from captum_advise.figures.overlay import file_title
    from captum_advise.pipeline import unit_density

    by_evidence = sorted(explanation.groups, key=lambda group: -group.evidence)[:UNITS_PER_SHEET]
    units = [int(group.units[0]) for group in sorted(by_evidence, key=lambda group: group.peaks)]
    densities = unit_density(loaded, record, units, layer, args.value_range, args.device, args.geometry)
    title = f"{file_title(record.name, 60, 1)}: one unit of each peak group, {args.model} {layer}"
    _save(unit_sheet(densities, title, loaded.random_weights), path)


def _write_depth_sheet(args: argparse.Namespace, loaded: LoadedModel, record: ImageRecord, path: Path) -> None:
    from captum_advise.figures import depth_sheet
    from captum_advise.figures.overlay import file_title
    from captum_advise.pipeline import explain_images

    by_layer = {
        f"{depth} ({name})": explain_images(
            loaded,
            [record],
            name,
            args.target,
            1,
            args.device,
            progress=False,
            geometry=args.geometry,
            value_range=args.value_range,
            density_of=args.density_of,
            score=args.score,
        )[0]
        for depth, name in loaded.preset.depth_layers.items()
    }
    title = f"{file_title(record.name, 60, 1)}: {args.model} at three depths"
    _save(depth_sheet(by_layer, title, loaded.random_weights), path)


def _save(figure, path: Path) -> None:
    from captum_advise.runs.output_files import save_figure

    save_figure(figure, path, dpi=110)
