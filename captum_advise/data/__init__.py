"""Image sources for explanations and evaluations."""

from captum_advise.data.images import (
    ImageReadError,
    ImageRecord,
    batches,
    class_from_name,
    embedded_photos,
    image_files,
    labelled_folder,
    read_image,
    to_rgb,
    unlabelled_folder,
)
from captum_advise.data.noise import PAPER_DENSITIES, noise_generator, salt_and_pepper

__all__ = [
    "PAPER_DENSITIES",
    "ImageReadError",
    "ImageRecord",
    "batches",
    "class_from_name",
    "embedded_photos",
    "image_files",
    "labelled_folder",
    "noise_generator",
    "read_image",
    "salt_and_pepper",
    "to_rgb",
    "unlabelled_folder",
]
