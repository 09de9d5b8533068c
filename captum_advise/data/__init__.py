"""Image sources for explanations and evaluations."""

from captum_advise.data.images import (
    ImageReadError,
    ImageRecord,
    batches,
    embedded_photos,
    image_files,
    labelled_folder,
    read_image,
    unlabelled_folder,
)

__all__ = [
    "ImageReadError",
    "ImageRecord",
    "batches",
    "embedded_photos",
    "image_files",
    "labelled_folder",
    "read_image",
    "unlabelled_folder",
]
