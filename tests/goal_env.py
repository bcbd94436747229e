"""A goal env in plain numpy for the off-policy and HER tests (registered on import as
tests/PointGoal-v0): the Fetch tasks' dict observations and sparse reward, no MuJoCo."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class PointGoal(gym.Env):
    """A point in the unit cube pushed by 3-D actions (0.05 a step) toward a goal; sparse
    reward (0 within 0.05 of the goal, else -1) as the Fetch tasks. Plain numpy, so a
    checkpoint captures it exactly."""

    THRESHOLD, SPEED, DIM = 0.05, 0.05, 3

    def __init__(self) -> None:
        box = spaces.Box(-1.0, 2.0, (self.DIM,), np.float32)
        self.observation_space = spaces.Dict({"observation": box, "achieved_goal": box, "desired_goal": box})
        self.action_space = spaces.Box(-1.0, 1.0, (self.DIM,), np.float32)
        self.position = np.zeros(self.DIM, np.float32)
        self.goal = np.zeros(self.DIM, np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        return {
            "observation": self.position.copy(),
            "achieved_goal": self.position.copy(),
            "desired_goal": self.goal.copy(),
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(0.0, 1.0, self.DIM).astype(np.float32)
        self.goal = self.np_random.uniform(0.0, 1.0, self.DIM).astype(np.float32)
        return self._obs(), {}

    def compute_reward(self, achieved_goal, desired_goal, info):
        distance = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
        return -(distance > self.THRESHOLD).astype(np.float32)

    def step(self, action):
        moved = self.position + self.SPEED * np.asarray(action, np.float32)
        self.position = np.clip(moved, -1.0, 2.0).astype(np.float32)
        reward = float(self.compute_reward(self.position, self.goal, None))
        return self._obs(), reward, False, False, {"is_success": float(reward == 0.0)}


POINT_GOAL = "tests/PointGoal-v0"
if POINT_GOAL not in gym.registry:
    gym.register(POINT_GOAL, entry_point=PointGoal, max_episode_steps=30)
