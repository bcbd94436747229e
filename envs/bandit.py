"""Multi-armed bandits: a gymnasium env (`rlgen/Bandit-v0`) and a vectorized simulator
that runs R independent problems at once as arrays (R runs x k arms).

Rewards are Bernoulli(mean) or Gaussian(mean, sigma). Means are given, or drawn at each
reset from the seed (Bernoulli: uniform in [0, 1]; Gaussian: standard normal). With
`drift > 0` the means take a Gaussian random walk every step (non-stationary bandit).
Regret is the expected one: best mean minus the mean of the arm pulled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

REWARDS = ("bernoulli", "gaussian")


def _check(k: int, reward: str, means: Any, sigma: float, drift: float) -> None:
    if k < 2:
        raise ValueError(f"a bandit needs at least 2 arms, got k={k}")
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
    if sigma <= 0 or drift < 0:
        raise ValueError(f"sigma must be > 0 and drift >= 0, got sigma={sigma}, drift={drift}")
    if means is not None:
        arr = np.asarray(means, dtype=np.float64)
        if arr.shape[-1] != k:
            raise ValueError(f"means has {arr.shape[-1]} arms but k={k}")
        if reward == "bernoulli" and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(f"Bernoulli means must lie in [0, 1], got {arr.tolist()}")


def _draw_means(rng: np.random.Generator, shape: tuple[int, ...], reward: str) -> np.ndarray:
    return rng.random(shape) if reward == "bernoulli" else rng.standard_normal(shape)


def _sample(rng: np.random.Generator, means: np.ndarray, reward: str, sigma: float) -> np.ndarray:
    if reward == "bernoulli":
        return (rng.random(means.shape) < means).astype(np.float64)
    return means + sigma * rng.standard_normal(means.shape)


def _drift(rng: np.random.Generator, means: np.ndarray, reward: str, drift: float) -> np.ndarray:
    moved = means + drift * rng.standard_normal(means.shape)
    return np.clip(moved, 0.0, 1.0) if reward == "bernoulli" else moved


class BanditEnv(gym.Env):
    """k-armed bandit; each step pulls one arm. `info` has the optimal arm and the regret."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        k: int = 10,
        reward: str = "bernoulli",
        means: Sequence[float] | None = None,
        sigma: float = 1.0,
        drift: float = 0.0,
        horizon: int = 1000,
    ) -> None:
        _check(k, reward, means, sigma, drift)
        self.k, self.reward_kind, self.sigma, self.drift, self.horizon = k, reward, sigma, drift, horizon
        self.given_means = None if means is None else np.asarray(means, dtype=np.float64)
        self.observation_space = spaces.Discrete(1)
        self.action_space = spaces.Discrete(k)
        self.means = self.given_means.copy() if self.given_means is not None else np.zeros(k)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.means = (
            self.given_means.copy()
            if self.given_means is not None
            else _draw_means(self.np_random, (self.k,), self.reward_kind)
        )
        self.t = 0
        return 0, {"means": self.means.copy(), "optimal_arm": int(self.means.argmax())}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict]:
        arm = int(action)
        if not 0 <= arm < self.k:
            raise ValueError(f"arm {action} is outside 0..{self.k - 1}")
        reward = float(_sample(self.np_random, self.means[arm : arm + 1], self.reward_kind, self.sigma)[0])
        info = {"optimal_arm": int(self.means.argmax()), "regret": float(self.means.max() - self.means[arm])}
        if self.drift > 0:
            self.means = _drift(self.np_random, self.means, self.reward_kind, self.drift)
        self.t += 1
        return 0, reward, False, self.t >= self.horizon, info


class BanditSimulator:
    """R independent bandit problems stepped together: `pull(arms[R]) -> rewards[R]`.

    Tracks cumulative expected regret per run, so an agent can be scored on 1000 runs x
    10,000 steps in seconds.
    """

    def __init__(
        self,
        runs: int,
        k: int = 10,
        reward: str = "bernoulli",
        means: Sequence[float] | np.ndarray | None = None,
        sigma: float = 1.0,
        drift: float = 0.0,
        seed: int | None = None,
    ) -> None:
        _check(k, reward, means, sigma, drift)
        if runs < 1:
            raise ValueError(f"runs must be >= 1, got {runs}")
        self.runs, self.k, self.reward_kind, self.sigma, self.drift = runs, k, reward, sigma, drift
        self.rng = np.random.default_rng(seed)
        if means is None:
            self.means = _draw_means(self.rng, (runs, k), reward)
        else:
            self.means = np.broadcast_to(np.asarray(means, dtype=np.float64), (runs, k)).copy()
        self.t = 0
        self.regret = np.zeros(runs)

    @property
    def optimal_arm(self) -> np.ndarray:
        return self.means.argmax(axis=1)

    def pull(self, arms: np.ndarray) -> np.ndarray:
        """Pull one arm in every run; returns the rewards and adds the regret."""
        arms = np.asarray(arms)
        if arms.shape != (self.runs,) or not np.issubdtype(arms.dtype, np.integer):
            raise ValueError(f"pull needs {self.runs} integer arms, got shape {arms.shape} dtype {arms.dtype}")
        if arms.min() < 0 or arms.max() >= self.k:
            raise ValueError(f"arms must lie in 0..{self.k - 1}")
        chosen = self.means[np.arange(self.runs), arms]
        rewards = _sample(self.rng, chosen, self.reward_kind, self.sigma)
        self.regret += self.means.max(axis=1) - chosen
        if self.drift > 0:
            self.means = _drift(self.rng, self.means, self.reward_kind, self.drift)
        self.t += 1
        return rewards
