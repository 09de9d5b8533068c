"""LIME with Captum over SLIC superpixels; the explanation is the image's 5 most important superpixels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import Lime
from skimage.segmentation import slic
from torch import Tensor, nn

__all__ = ["LimeMethod", "superpixels"]


def superpixels(image: Tensor, n_segments: int) -> Tensor:
    """(3, H, W) uint8 image -> (H, W) long SLIC superpixel labels starting at 0."""
    labels = slic(image.permute(1, 2, 0).cpu().numpy(), n_segments=n_segments, compactness=10, start_label=0)
    # Captum indexes interpretable features by label: make the labels contiguous.
    return torch.unique(torch.from_numpy(labels), return_inverse=True)[1].long()


@dataclass
class LimeMethod:
    """LIME as a single-map method (reference: the map keeps the 5 most important superpixels).

    Attributes:
        images: (N, 3, H, W) uint8 images the inputs were made from (for the superpixels); set by
            the evaluator before each call.
        n_samples: perturbed images per explanation (MATLAB imageLIME: 2048).
        n_segments: SLIC superpixels (MATLAB imageLIME: 49).
        top_superpixels: how many superpixels the explanation keeps (reference: 5).
        batch_size: perturbed images per forward pass.
        seed: seed of the perturbation sampling, for reproducible maps.
    """

    name: str = "lime"
    images: Tensor | None = None
    n_samples: int = 512
    n_segments: int = 49
    top_superpixels: int = 5
    batch_size: int = 64
    seed: int = 0

    def __call__(self, model: nn.Module, layer: nn.Module, inputs: Tensor, targets: Tensor) -> Tensor:
        """(N, 3, H, W) inputs, (N,) classes -> (N, H, W) binary maps of the top superpixels."""
        if self.images is None or self.images.shape[0] != inputs.shape[0]:
            raise ValueError("lime: set .images to the batch's uint8 images before calling")
        if targets.numel() != inputs.shape[0]:
            raise ValueError(f"lime: {targets.numel()} targets for {inputs.shape[0]} images")
        lime = Lime(
            lambda x: torch.softmax(model(x), dim=1),
            interpretable_model=SkLearnRidge(alpha=1.0),
        )
        maps = []
        for n in range(inputs.shape[0]):
            segments = superpixels(self.images[n], self.n_segments).to(inputs.device)
            torch.manual_seed(self.seed)
            weights = lime.attribute(
                inputs[n : n + 1],
                target=int(targets[n]),
                feature_mask=segments.expand(1, 3, -1, -1),
                n_samples=self.n_samples,
                perturbations_per_eval=self.batch_size,
                return_input_shape=False,
            )[0]
            top = weights.topk(min(self.top_superpixels, weights.numel())).indices
            maps.append(torch.isin(segments, top).to(torch.float32))
        return torch.stack(maps)
