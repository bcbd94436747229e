"""One replay buffer for every off-policy learner: a preallocated circular numpy buffer.

Each item is a row in a set of named arrays (observations, actions, rewards, ... or
AlphaZero's planes, visit policy and outcome), so DQN, AlphaZero's replay window and the
off-policy robot learners share one implementation. Checkpoints hold the filled rows as
plain arrays, so a resumed run samples exactly what the uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlgen.errors import ConfigError

FieldSpec = tuple[tuple[int, ...], Any]
"""(shape of one row, numpy dtype) of a stored field."""


class ReplayBuffer:
    """Circular buffer of `capacity` rows of the named `fields`; the oldest rows are
    overwritten first. `added` counts every row ever stored."""

    def __init__(self, capacity: int, fields: dict[str, FieldSpec]) -> None:
        if capacity < 1:
            raise ConfigError(f"a replay buffer must hold at least 1 item, got capacity {capacity}")
        self.capacity = capacity
        self.arrays = {name: np.zeros((capacity, *shape), dtype) for name, (shape, dtype) in fields.items()}
        self.position = 0
        self.size = 0
        self.added = 0

    def __len__(self) -> int:
        return self.size

    def add(self, **rows: np.ndarray) -> None:
        """Append rows (every field, equal lengths); only the newest `capacity` survive."""
        if set(rows) != set(self.arrays):
            raise ValueError(f"replay rows must give exactly the fields {sorted(self.arrays)}, got {sorted(rows)}")
        n = len(next(iter(rows.values())))
        if n == 0:
            return
        self.added += n
        if n > self.capacity:  # written one by one, only the newest `capacity` would remain
            rows = {name: value[n - self.capacity :] for name, value in rows.items()}
            self.position = int((self.position + n - self.capacity) % self.capacity)
            n = self.capacity
        index = (self.position + np.arange(n)) % self.capacity
        for name, value in rows.items():
            self.arrays[name][index] = value
        self.position = int((self.position + n) % self.capacity)
        self.size = int(min(self.size + n, self.capacity))

    def sample_index(self, rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
        """Uniform row indices of any shape (e.g. [gradient_steps, batch_size])."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return rng.integers(0, self.size, size=shape)

    def take(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Every field at `index` (copies, shaped like `index` + the row shape)."""
        return {name: array[index] for name, array in self.arrays.items()}

    def sample(self, rng: np.random.Generator, shape: int | tuple[int, ...]) -> dict[str, np.ndarray]:
        """`take` of uniformly drawn rows."""
        return self.take(self.sample_index(rng, shape))

    def state_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "size": self.size,
            "added": self.added,
            "arrays": {name: array[: self.size].copy() for name, array in self.arrays.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ConfigError(
                f"the saved replay buffer holds {size} items, more than this run's capacity {self.capacity}; "
                "resume with the capacity it was saved with"
            )
        missing = set(self.arrays) - set(state["arrays"])
        if missing:
            raise ConfigError(f"the saved replay buffer lacks the fields {sorted(missing)}")
        for name, array in self.arrays.items():
            array[:size] = state["arrays"][name]
        self.position, self.size, self.added = int(state["position"]), size, int(state["added"])
