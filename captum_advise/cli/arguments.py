"""The arguments several commands share: the model, the photos, the method lists, ``--new``.

Method names are read from the catalogue (:mod:`captum_advise.catalogue`) when the arguments are
parsed, so a method added there is a choice of every command at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from captum_advise.catalogue import CATALOGUE, method_names
from captum_advise.cli.choices import GEOMETRIES, PRESET_NAMES, TIMM_PREFIX

if TYPE_CHECKING:
    from captum_advise.data import ImageRecord

__all__ = [
    "add_image_arguments",
    "add_model_arguments",
    "add_new_argument",
    "folder_images",
    "folder_records",
    "method_list",
    "model_name",
    "named_methods",
]


def model_name(text: str) -> str:
    """A preset's name or ``timm:NAME`` (checked against timm when the model is built)."""
    if text in PRESET_NAMES or (text.startswith(TIMM_PREFIX) and len(text) > len(TIMM_PREFIX)):
        return text
    raise argparse.ArgumentTypeError(f"unknown model {text!r}: choose one of {', '.join(PRESET_NAMES)} or timm:NAME")


def add_model_arguments(
    parser: argparse.ArgumentParser, default_model: str | None = None, default_geometry: str = "squash"
) -> None:
    """--model, --weights, --layer, --device, --geometry: shared by every command that loads a network."""
    parser.add_argument(
        "--model",
        type=model_name,
        default=default_model,
        required=default_model is None,
        help=f"network: {', '.join(PRESET_NAMES)}, or {TIMM_PREFIX}NAME for any timm model (random weights unless "
        "--weights FILE; its default layer: a ViT's last norm1, a CNN's last feature stage)",
    )
    parser.add_argument(
        "--weights",
        default="IMAGENET1K_V1",
        help="torchvision weights name (from the torch cache, $TORCH_HOME), a state_dict file, or 'none' "
        "for random weights (flagged in every output) [default: IMAGENET1K_V1]",
    )
    parser.add_argument("--layer", help="layer name as in model.named_modules() [default: the preset's ADVISE layer]")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda [default: cpu]")
    parser.add_argument(
        "--geometry",
        choices=GEOMETRIES,
        default=default_geometry,
        help="photo to network input: 'squash' resizes the whole photo to the input size (the reference's "
        "evaluation), 'crop' resizes the shorter side and centre-crops (torchvision's convention) "
        f"[default: {default_geometry}]",
    )


def add_image_arguments(parser: argparse.ArgumentParser, default_limit: int) -> None:
    """--images, --limit, --every: which photos of a folder an experiment uses."""
    parser.add_argument("--images", type=Path, required=True, help="image folder")
    parser.add_argument("--limit", type=int, default=default_limit, help=f"first N images [default: {default_limit}]")
    parser.add_argument("--every", type=int, default=1, help="take every K-th image of the folder [default: 1]")


def add_new_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--new",
        action="store_true",
        help="start afresh in an --out that holds rows of other settings: its files are moved into "
        "--out/replaced-TIME/ (never deleted) [default: resume, and refuse other settings]",
    )


def folder_records(folder: Path, labels: Path | None = None) -> list[ImageRecord]:
    """A folder's images, labelled when their names (or ``labels``) give classes, unlabelled otherwise."""
    from captum_advise.data import labelled_folder, unlabelled_folder

    try:
        return labelled_folder(folder, labels)
    except ValueError:
        if labels is not None:
            raise
        return unlabelled_folder(folder)


def folder_images(folder: Path, limit: int | None, every: int = 1) -> list[ImageRecord]:
    """Every ``every``-th image of a folder, the first ``limit`` of them; a one-line error if none."""
    records = folder_records(folder)[::every][:limit]
    if not records:
        raise ValueError(f"no images in {folder}")
    return records


def named_methods(text: str, known: Sequence[str], what: str = "method") -> list[str]:
    """Comma-separated names, each one of ``known``; ``all``: every one of ``known``."""
    if text.strip() == "all":
        return list(known)
    methods = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in methods if name not in known]
    if unknown or not methods:
        raise ValueError(f"unknown {what}(s) {unknown}: choose from {','.join(known)}")
    return methods


def method_list(text: str) -> list[str]:
    """``evaluate``'s methods: comma-separated catalogue names; ``all``: every method but the controls
    (those come with every run)."""
    if text.strip() == "all":
        return list(method_names("advise", "library", "lime"))
    try:
        return named_methods(text, tuple(CATALOGUE))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
