"""Image preprocessing split in two: geometry (to the network's uint8 input) and normalisation.

The evaluation masks the uint8 image at the network's input size and feeds the masked image
through exactly the same normalisation (spec §5), so the two steps are kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as tvf

__all__ = ["ImagePreprocessor"]


@dataclass(frozen=True)
class ImagePreprocessor:
    """Resize the shorter side, center-crop, then normalise with per-channel mean and std.

    Attributes:
        resize: length of the shorter side after resizing.
        crop: side of the square center crop: the network's input size.
        mean: per-channel mean of the [0, 1] image.
        std: per-channel standard deviation of the [0, 1] image.
        interpolation: ``"bilinear"`` or ``"bicubic"`` resampling.
    """

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"

    def to_uint8(self, image: Image.Image) -> Tensor:
        """PIL image -> (3, crop, crop) uint8 RGB tensor: the image the network sees, unnormalised."""
        mode = InterpolationMode(self.interpolation)
        resized = tvf.resize(image.convert("RGB"), [self.resize], interpolation=mode, antialias=True)
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
