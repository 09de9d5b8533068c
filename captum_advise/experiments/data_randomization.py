"""Data randomisation test (Adebayo et al. 2018), small enough for a CPU: shapes, a small CNN, two trainings.

The task is generated in code: 32 x 32 images of one filled shape (square, disk or horizontal bar,
random size, position and colour, on a noisy background); the class is the shape. The same small
CNN (same initial weights) is trained once on the true labels and once on a fixed permutation of
them; the maps of both models for the same held-out images and the same class (the true one) are
then compared. A method that explains the model should give different maps for the two.

Adebayo et al. require the permuted-label model to *memorise* its labels: otherwise the test
compares a model with one that failed to learn anything. So training runs until the training
accuracy reaches a target (0.95), on a training set small enough (256 images) for a small CNN to
memorise in a few hundred epochs on a CPU, and the result says whether it got there.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from captum_advise.experiments.csv_table import write_rows
from captum_advise.experiments.sanity_maps import SANITY_METHODS, sanity_maps
from captum_advise.experiments.similarity import SIMILARITY_MEASURES, map_similarity
from captum_advise.runs.run_info import write_run_info

__all__ = ["DataRandomizationResult", "run_data_randomization", "shapes_dataset", "small_cnn", "train"]

SHAPES = ("square", "disk", "bar")
EXPLAINED_LAYER = 6


def shapes_dataset(count: int, seed: int, size: int = 32) -> tuple[Tensor, Tensor]:
    """(count, 3, size, size) float images in [0, 1] and (count,) labels 0 square, 1 disk, 2 bar."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(SHAPES), (count,), generator=generator)
    images = 0.15 * torch.rand(count, 3, size, size, generator=generator)
    rows = torch.arange(size).view(-1, 1).float()
    columns = torch.arange(size).view(1, -1).float()
    for index in range(count):
        radius = 4 + 5 * float(torch.rand(1, generator=generator))
        centre_row, centre_column = (radius + (size - 2 * radius) * torch.rand(2, generator=generator)).tolist()
        if labels[index] == 0:
            inside = ((rows - centre_row).abs() <= radius * 0.85) & ((columns - centre_column).abs() <= radius * 0.85)
        elif labels[index] == 1:
            inside = (rows - centre_row) ** 2 + (columns - centre_column) ** 2 <= radius**2
        else:
            inside = ((rows - centre_row).abs() <= radius * 0.35) & ((columns - centre_column).abs() <= radius * 1.3)
        colour = 0.5 + 0.5 * torch.rand(3, 1, 1, generator=generator)
        images[index] = torch.where(inside, colour, images[index])
    return images, labels


def small_cnn(seed: int, width: int = 32) -> nn.Sequential:
    """Three convolutions (width, 2 width, 2 width channels) and a linear classifier; layer 6 is explained."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, len(SHAPES)),
    )


def _accuracy(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(images).argmax(dim=1) == labels).float().mean())


def train(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    max_epochs: int,
    seed: int,
    target_accuracy: float = 1.0,
    batch_size: int = 64,
    progress: str | None = None,
) -> tuple[float, int]:
    """Adam, cross-entropy, until the training accuracy reaches ``target_accuracy`` or ``max_epochs`` pass.

    ``progress``: a progress bar's description (epochs, with the training accuracy), or None for none.

    Returns:
        (training accuracy, epochs run). The model is left in eval mode.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    accuracy = 0.0
    epochs = tqdm(range(1, max_epochs + 1), desc=progress, unit="epoch", disable=progress is None, leave=False)
    for epoch in epochs:
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(labels), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
            optimizer.step()
        accuracy = _accuracy(model, images, labels)
        epochs.set_postfix(accuracy=f"{accuracy:.3f}")
        if accuracy >= target_accuracy:
            return accuracy, epoch
    return accuracy, max_epochs


@dataclass
class DataRandomizationResult:
    """Accuracies and epochs of both trainings, and the per-image similarity rows.

    ``memorized`` is True when the permuted-label model reached the target training accuracy: only
    then does the test compare two models that both fit their labels.
    """

    true_label_train_accuracy: float
    true_label_test_accuracy: float
    random_label_train_accuracy: float
    random_label_test_accuracy: float
    rows: list[dict[str, object]]
    true_label_epochs: int = 0
    random_label_epochs: int = 0
    target_accuracy: float = 0.95

    @property
    def memorized(self) -> bool:
        return self.random_label_train_accuracy >= self.target_accuracy


def run_data_randomization(
    out: Path,
    methods: Sequence[str] = SANITY_METHODS,
    train_count: int = 256,
    test_count: int = 32,
    max_epochs: int = 400,
    seed: int = 0,
    target_accuracy: float = 0.95,
    progress: bool = False,
) -> DataRandomizationResult:
    """Train on true and on permuted labels until each fits, compare the maps; writes ``out/data_randomization.csv``.

    Both trainings stop once their training accuracy reaches ``target_accuracy`` (or after
    ``max_epochs``); check :attr:`DataRandomizationResult.memorized` before reading the similarities.
    """
    images, labels = shapes_dataset(train_count, seed)
    test_images, test_labels = shapes_dataset(test_count, seed + 1)
    permuted = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed + 2))]
    initial = small_cnn(seed)
    true_model, random_model = copy.deepcopy(initial), copy.deepcopy(initial)
    bars = ("train on true labels", "train on permuted labels") if progress else (None, None)
    true_train, true_epochs = train(true_model, images, labels, max_epochs, seed, target_accuracy, progress=bars[0])
    random_train, random_epochs = train(
        random_model, images, permuted, max_epochs, seed, target_accuracy, progress=bars[1]
    )
    true_test = _accuracy(true_model, test_images, test_labels)
    random_test = _accuracy(random_model, test_images, test_labels)
    rows: list[dict[str, object]] = []
    for method in methods:
        true_maps = sanity_maps(method, true_model, true_model[EXPLAINED_LAYER], test_images, test_labels)
        random_maps = sanity_maps(method, random_model, random_model[EXPLAINED_LAYER], test_images, test_labels)
        for index in range(test_count):
            similarity = map_similarity(true_maps[index], random_maps[index])
            rows.append({"method": method, "image": index} | {k: f"{v:.6f}" for k, v in similarity.items()})
    write_rows(out / "data_randomization.csv", ("method", "image", *SIMILARITY_MEASURES), rows)
    write_run_info(
        out,
        experiment="data randomization",
        methods=methods,
        train_count=train_count,
        test_count=test_count,
        max_epochs=max_epochs,
        seed=seed,
        target_accuracy=target_accuracy,
        epochs={"true labels": true_epochs, "permuted labels": random_epochs},
        train_accuracy={"true labels": true_train, "permuted labels": random_train},
    )
    return DataRandomizationResult(
        true_train, true_test, random_train, random_test, rows, true_epochs, random_epochs, target_accuracy
    )
