"""Image preprocessing split in two: geometry (to the network's uint8 input) and normalisation.

The evaluation masks the uint8 image at the network's input size and feeds the masked image
through exactly the same normalisation (spec §5), so the two steps are kept apart.

Two geometries: ``"squash"`` (the reference, ``imresize(img, inputSize)``: the whole photo resized to
the input size with MATLAB's antialiased bicubic, aspect ratio not kept) and ``"crop"`` (the
torchvision convention the presets' weights were validated with: shorter side to ``resize``, then
a centre crop).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as tvf

from captum_advise.matlab import imresize

__all__ = ["GEOMETRIES", "Geometry", "ImagePreprocessor"]

Geometry = Literal["squash", "crop"]
GEOMETRIES: tuple[str, ...] = ("squash", "crop")


@dataclass(frozen=True)
class ImagePreprocessor:
    """Bring a photo to the network's input size, then normalise with per-channel mean and std.

    Attributes:
        resize: length of the shorter side after resizing (``"crop"`` geometry).
        crop: side of the square network input.
        mean: per-channel mean of the [0, 1] image.
        std: per-channel standard deviation of the [0, 1] image.
        interpolation: ``"bilinear"`` or ``"bicubic"`` resampling (``"crop"`` geometry).
        geometry: ``"crop"`` (torchvision: resize the shorter side, centre-crop) or ``"squash"``
            (the reference: the whole photo resized to crop x crop with MATLAB's bicubic).
    """

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    geometry: Geometry = "crop"

    def __post_init__(self) -> None:
        if self.geometry not in GEOMETRIES:
            raise ValueError(f"geometry must be one of {GEOMETRIES}, got {self.geometry!r}")

    def with_geometry(self, geometry: Geometry) -> ImagePreprocessor:
        """The same preprocessing with another geometry."""
        return replace(self, geometry=geometry)

    def to_uint8(self, image: Image.Image) -> Tensor:
        """PIL image -> (3, crop, crop) uint8 RGB tensor: the image the network sees, unnormalised."""
        rgb = image.convert("RGB")
        if self.geometry == "squash":
            return imresize(tvf.pil_to_tensor(rgb), (self.crop, self.crop))
        mode = InterpolationMode(self.interpolation)
        resized = tvf.resize(rgb, [self.resize], interpolation=mode, antialias=True)
        return tvf.pil_to_tensor(tvf.center_crop(resized, [self.crop, self.crop]))

    def normalize(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) uint8 (or [0, 255] float) images -> normalised float32 network inputs."""
        scaled = images.to(torch.float32) / 255.0
        mean = torch.tensor(self.mean, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, 3, 1, 1)
        return (scaled - mean) / std

    def __call__(self, images: list[Image.Image]) -> Tensor:
        """PIL images -> (N, 3, crop, crop) normalised network inputs."""
        return self.normalize(torch.stack([self.to_uint8(image) for image in images]))
