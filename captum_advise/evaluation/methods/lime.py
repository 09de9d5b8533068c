"""LIME with Captum over SLIC superpixels, run as the reference runs MATLAB's ``imageLIME`` (spec §5).

``imageLIME``'s documented defaults: 2048 perturbed samples, 49 superpixels, and a regression tree
as the surrogate, whose predictor importances rank the superpixels. The explanation is the image
restricted to its 5 most important superpixels; the protocol correlates the two classes' *masked
images* for its CS (``cs_of = "masked_images"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum._utils.models.model import Model
from captum.attr import Lime
from skimage.segmentation import slic
from torch import Tensor
from torch.utils.data import DataLoader

from captum_advise.evaluation.methods.maps import ExplanationBatch, SingleMapMethod

__all__ = ["LimeMethod", "TreeSurrogate", "superpixels", "top_superpixel_mask"]

SurrogateKind = Literal["tree", "linear"]


def superpixels(image: Tensor, n_segments: int) -> Tensor:
    """(3, H, W) uint8 image -> (H, W) long SLIC superpixel labels starting at 0, on the CPU."""
    labels = slic(image.permute(1, 2, 0).cpu().numpy(), n_segments=n_segments, compactness=10, start_label=0)
    # Captum indexes interpretable features by label: make the labels contiguous.
    return torch.unique(torch.from_numpy(labels), return_inverse=True)[1].long()


def top_superpixel_mask(segments: Tensor, importance: Tensor, count: int) -> Tensor:
    """(H, W) float32 mask of the ``count`` most important superpixels, on the device of ``segments``.

    ``importance`` (one value per superpixel) may live on another device than ``segments`` (a
    surrogate fitted on the CPU for a model on a GPU).
    """
    top = importance.flatten().topk(min(count, importance.numel())).indices.to(segments.device)
    return torch.isin(segments, top).to(torch.float32)


class TreeSurrogate(Model):
    """MATLAB ``imageLIME``'s default surrogate: a weighted regression tree, ranked by predictor importance.

    scikit-learn's impurity-based ``feature_importances_`` are MATLAB's ``predictorImportance``
    (risk reduction summed over each predictor's splits) up to a common factor, so the ranking is
    the same; ``min_samples_split=10`` is ``fitrtree``'s ``MinParentSize`` default.
    """

    def __init__(self, seed: int = 0) -> None:
        from sklearn.tree import DecisionTreeRegressor

        self.tree = DecisionTreeRegressor(min_samples_split=10, random_state=seed)

    def fit(self, train_data: DataLoader, **kwargs: object) -> None:
        batches = [[tensor.cpu().numpy() for tensor in batch] for batch in train_data]
        x, y, *weights = (np.concatenate(parts) for parts in zip(*batches, strict=True))
        self.tree.fit(x, y, sample_weight=weights[0] if weights else None)

    def representation(self) -> Tensor:
        """(1, F) predictor importances."""
        return torch.from_numpy(self.tree.feature_importances_).unsqueeze(0)

    def __call__(self, x: Tensor) -> Tensor:
        return torch.from_numpy(self.tree.predict(x.cpu().numpy()))


@dataclass
class LimeMethod(SingleMapMethod):
    """LIME as a single-map method (reference: the map keeps the 5 most important superpixels).

    Attributes:
        n_samples: perturbed images per explanation (MATLAB imageLIME: 2048).
        n_segments: SLIC superpixels (MATLAB imageLIME: 49).
        top_superpixels: how many superpixels the explanation keeps (reference: 5).
        surrogate: ``"tree"`` (imageLIME's default, the reference) or ``"linear"`` (ridge regression,
            the usual LIME).
        batch_size: perturbed images per forward pass.
        seed: seed of the perturbation sampling and the tree, for reproducible maps.
    """

    name: str = "lime"
    n_samples: int = 2048
    n_segments: int = 49
    top_superpixels: int = 5
    surrogate: SurrogateKind = "tree"
    batch_size: int = 64
    seed: int = 0
    cs_of: ClassVar[str] = "masked_images"

    def __post_init__(self) -> None:
        if self.surrogate not in ("tree", "linear"):
            raise ValueError(f"lime surrogate must be 'tree' or 'linear', got {self.surrogate!r}")

    def _surrogate(self) -> Model:
        return TreeSurrogate(self.seed) if self.surrogate == "tree" else SkLearnRidge(alpha=1.0)

    def class_maps(self, batch: ExplanationBatch, targets: Tensor) -> Tensor:
        """(N,) classes -> (N, H, W) binary maps of the top superpixels (of the batch's uint8 images), on
        the inputs' device."""
        model, inputs = batch.model, batch.inputs
        if targets.numel() != inputs.shape[0]:
            raise ValueError(f"lime: {targets.numel()} targets for {inputs.shape[0]} images")
        maps = []
        for n in range(inputs.shape[0]):
            lime = Lime(lambda x: torch.softmax(model(x), dim=1), interpretable_model=self._surrogate())
            segments = superpixels(batch.images[n], self.n_segments).to(inputs.device)
            torch.manual_seed(self.seed)
            importance = lime.attribute(
                inputs[n : n + 1],
                target=int(targets[n]),
                feature_mask=segments.expand(1, 3, -1, -1),
                n_samples=self.n_samples,
                perturbations_per_eval=self.batch_size,
                return_input_shape=False,
            )
            maps.append(top_superpixel_mask(segments, importance, self.top_superpixels))
        return torch.stack(maps)
