"""A fixed-size replay window of self-play positions, checkpointed with the run."""

from __future__ import annotations

from typing import Any

import numpy as np


class ReplayWindow:
    """Circular buffer of (planes int8 [P, H, W], policy float32 [A], outcome float32)."""

    def __init__(self, capacity: int, plane_shape: tuple[int, ...], actions: int) -> None:
        if capacity < 1:
            raise ValueError(f"replay window must hold at least 1 position, got {capacity}")
        self.capacity = capacity
        self.planes = np.zeros((capacity, *plane_shape), np.int8)
        self.policy = np.zeros((capacity, actions), np.float32)
        self.outcome = np.zeros(capacity, np.float32)
        self.size = 0
        self.position = 0
        self.added = 0

    def add(self, planes: np.ndarray, policy: np.ndarray, outcome: np.ndarray) -> None:
        n = len(planes)
        index = (self.position + np.arange(n)) % self.capacity
        self.planes[index] = planes
        self.policy[index] = policy
        self.outcome[index] = outcome
        self.position = int((self.position + n) % self.capacity)
        self.size = int(min(self.size + n, self.capacity))
        self.added += n

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = rng.integers(0, self.size, size=batch)
        return self.planes[index], self.policy[index], self.outcome[index]

    def state_dict(self) -> dict[str, Any]:
        return {
            "planes": self.planes[: self.size].copy(),
            "policy": self.policy[: self.size].copy(),
            "outcome": self.outcome[: self.size].copy(),
            "position": self.position,
            "added": self.added,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = len(state["outcome"])
        if size > self.capacity:
            raise ValueError(f"saved replay window holds {size} positions, more than this capacity {self.capacity}")
        self.planes[:size], self.policy[:size], self.outcome[:size] = state["planes"], state["policy"], state["outcome"]
        self.size, self.position, self.added = size, int(state["position"]), int(state["added"])
