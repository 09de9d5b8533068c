"""Data randomisation test (Adebayo et al. 2018), small enough for a CPU: shapes, a small CNN, several seeds.

The task is generated in code: 32 x 32 images of one filled shape (square, disk or horizontal bar,
random size, position and colour, on a noisy background); the class is the shape. For each seed,
three small CNNs, each from its own random initialisation, are trained: two on the true labels and
one on a fixed permutation of them. Each method's maps for the same held-out images and the same
class (the true one) are compared between

- the first true-label model and the permuted-label model (the test: a method that explains the
  model should give different maps), and
- the two true-label models (the ceiling: how similar the maps of two models that learnt the same
  task from different initial weights are).

Independent initialisations keep shared initial filters from making the two compared models'
maps alike; the ceiling says what "alike" means for a method, so a test similarity is read
against it. Results are averaged over the images of a seed, and intervals are across seeds.

Adebayo et al. require the permuted-label model to *memorise* its labels: otherwise the test
compares a model with one that failed to learn anything. So training runs until the training
accuracy reaches a target (0.95), on a training set small enough (256 images) for a small CNN to
memorise in a few hundred epochs on a CPU, and the result says whether every seed got there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from captum_advise.catalogue import sanity_methods
from captum_advise.evaluation.intervals import mean_interval
from captum_advise.experiments.csv_table import write_rows
from captum_advise.experiments.sanity_maps import sanity_maps
from captum_advise.experiments.similarity import SIMILARITY_MEASURES, map_similarity
from captum_advise.runs.run_info import write_run_info

__all__ = [
    "COMPARISONS",
    "DataRandomizationResult",
    "TrainedModel",
    "run_data_randomization",
    "shapes_dataset",
    "small_cnn",
    "summarize_data_randomization",
    "train",
]

SHAPES = ("square", "disk", "bar")
EXPLAINED_LAYER = 6
ROLES = ("true", "true twin", "permuted")
COMPARISONS = {"true vs permuted": ("true", "permuted"), "true vs true": ("true", "true twin")}


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
class TrainedModel:
    """One trained model of a seed: its labels (``"true"``, ``"true twin"`` or ``"permuted"``), the
    seed of its initial weights, its training and held-out accuracies and the epochs it trained."""

    seed: int
    role: str
    init_seed: int
    train_accuracy: float
    test_accuracy: float
    epochs: int


@dataclass
class DataRandomizationResult:
    """The trained models of every seed and the per-image similarity rows.

    ``memorized`` is True when every permuted-label model reached the target training accuracy:
    only then does the test compare models that all fit their labels.
    """

    models: list[TrainedModel]
    rows: list[dict[str, object]]
    target_accuracy: float = 0.95

    @property
    def memorized(self) -> bool:
        return all(m.train_accuracy >= self.target_accuracy for m in self.models if m.role == "permuted")

    def model(self, seed: int, role: str) -> TrainedModel:
        return next(m for m in self.models if m.seed == seed and m.role == role)


def _seed_means(rows: Sequence[dict[str, object]], measure: str) -> dict[tuple[str, str, int], float]:
    groups: dict[tuple[str, str, int], list[float]] = {}
    for row in rows:
        key = (str(row["method"]), str(row["comparison"]), int(row["seed"]))
        groups.setdefault(key, []).append(float(row[measure]))
    return {key: sum(values) / len(values) for key, values in groups.items()}


def summarize_data_randomization(
    rows: Sequence[dict[str, object]],
) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """Per (method, comparison) and measure: mean over seeds of each seed's image mean, and the
    Student-t 95% half-width across seeds (NaN for one seed).

    Besides the two comparisons, ``"ceiling - test"`` is the paired difference per seed
    (``"true vs true"`` minus ``"true vs permuted"``): a method passes where it is clearly above 0.
    """
    summary: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    for measure in SIMILARITY_MEASURES:
        means = _seed_means(rows, measure)
        methods = dict.fromkeys(method for method, _, _ in means)
        seeds = sorted({seed for _, _, seed in means})
        for method in methods:
            per_comparison = {c: [means[(method, c, s)] for s in seeds] for c in COMPARISONS}
            ceiling, test = per_comparison["true vs true"], per_comparison["true vs permuted"]
            gaps = [a - b for a, b in zip(ceiling, test, strict=True)]
            for comparison, values in [*per_comparison.items(), ("ceiling - test", gaps)]:
                summary.setdefault((method, comparison), {})[measure] = mean_interval(values)
    return summary


def _train_seed(
    seed: int, train_count: int, test_count: int, max_epochs: int, target_accuracy: float, progress: bool
) -> tuple[dict[str, nn.Module], list[TrainedModel], tuple[Tensor, Tensor]]:
    base = 10 * seed
    images, labels = shapes_dataset(train_count, base)
    test_images, test_labels = shapes_dataset(test_count, base + 1)
    permuted = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(base + 2))]
    trained, models = {}, []
    for offset, role in enumerate(ROLES, start=3):
        model = small_cnn(base + offset)
        targets = permuted if role == "permuted" else labels
        bar = f"seed {seed}: train on {'permuted' if role == 'permuted' else 'true'} labels" if progress else None
        accuracy, epochs = train(model, images, targets, max_epochs, base + offset, target_accuracy, progress=bar)
        trained[role] = model
        models.append(
            TrainedModel(seed, role, base + offset, accuracy, _accuracy(model, test_images, test_labels), epochs)
        )
    return trained, models, (test_images, test_labels)


def run_data_randomization(
    out: Path,
    methods: Sequence[str] | None = None,
    train_count: int = 256,
    test_count: int = 32,
    max_epochs: int = 400,
    seeds: Sequence[int] = (0, 1, 2),
    target_accuracy: float = 0.95,
    progress: bool = False,
) -> DataRandomizationResult:
    """Train, per seed, two true-label models and a permuted-label model from independent
    initialisations, compare the maps; writes ``out/data_randomization.csv`` and ``out/run_info.json``.

    Seed ``s`` draws the training and test images, the permutation and the three initial weights
    from ``10 s`` to ``10 s + 5``. Every training stops once its training accuracy reaches
    ``target_accuracy`` (or after ``max_epochs``); check :attr:`DataRandomizationResult.memorized`
    before reading the similarities, and read them with :func:`summarize_data_randomization`.

    Raises:
        ValueError: no seed, or a method without sanity maps.
    """
    if not seeds:
        raise ValueError("data randomisation needs at least one seed")
    methods = sanity_methods(default=True) if methods is None else methods
    unknown = [m for m in methods if m not in sanity_methods()]
    if unknown:
        raise ValueError(f"no sanity maps for method(s) {unknown}: choose from {', '.join(sanity_methods())}")
    models: list[TrainedModel] = []
    rows: list[dict[str, object]] = []
    for seed in seeds:
        trained, seed_models, (test_images, test_labels) = _train_seed(
            seed, train_count, test_count, max_epochs, target_accuracy, progress
        )
        models += seed_models
        for method in methods:
            maps = {
                role: sanity_maps(method, model, model[EXPLAINED_LAYER], test_images, test_labels)
                for role, model in trained.items()
            }
            for comparison, (first, second) in COMPARISONS.items():
                for index in range(test_count):
                    similarity = map_similarity(maps[first][index], maps[second][index])
                    rows.append(
                        {"seed": seed, "comparison": comparison, "method": method, "image": index}
                        | {k: f"{v:.6f}" for k, v in similarity.items()}
                    )
    write_rows(out / "data_randomization.csv", ("seed", "comparison", "method", "image", *SIMILARITY_MEASURES), rows)
    write_run_info(
        out,
        experiment="data randomization",
        methods=methods,
        train_count=train_count,
        test_count=test_count,
        max_epochs=max_epochs,
        seeds=list(seeds),
        target_accuracy=target_accuracy,
        models=[vars(m) for m in models],
    )
    return DataRandomizationResult(models, rows, target_accuracy)
