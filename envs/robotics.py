"""MuJoCo locomotion and Fetch manipulation tasks with the usual wrappers in one place.

    env = make_env("HalfCheetah-v5", normalize_obs=True, video=tracker)

Wrappers (gymnasium's own): episode statistics, observation normalization (its running
statistics saved / restored with `normalization_state` / `load_normalization_state`, so
they travel in checkpoints), action rescaling to [-1, 1] and clipping, goal-dict
flattening for Fetch, time limits; plus episode frame capture to the run's media and
W&B. Needs the extra: pip install "rlgen[robotics]" (gymnasium[mujoco],
gymnasium-robotics and mujoco<3.12: newer mujoco makes gymnasium-robotics' Fetch envs fail
an assertion on the joint type). Rendering is headless with MUJOCO_GL=egl.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

from rlgen.extras import require

MUJOCO_TASKS = ("InvertedPendulum-v5", "Reacher-v5", "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5")
FETCH_TASKS = ("FetchReach-v4", "FetchPush-v4", "FetchPickAndPlace-v4")
DESCRIPTIONS = {
    "InvertedPendulum-v5": "MuJoCo: balance a pole on a cart (1 action)",
    "Reacher-v5": "MuJoCo: 2-link arm reaching a target",
    "HalfCheetah-v5": "MuJoCo: 2D cheetah learning to run",
    "Hopper-v5": "MuJoCo: one-legged hopper learning to hop",
    "Walker2d-v5": "MuJoCo: 2D biped learning to walk",
    "Ant-v5": "MuJoCo: 4-legged ant learning to walk",
    "FetchReach-v4": "gymnasium-robotics: Fetch arm reaching a goal (goal dict, sparse reward)",
    "FetchPush-v4": "gymnasium-robotics: Fetch pushing a block to a goal",
    "FetchPickAndPlace-v4": "gymnasium-robotics: Fetch grasping a block and placing it",
}


def _resolve(env_id: str) -> str:
    for full in (*MUJOCO_TASKS, *FETCH_TASKS):
        if env_id in (full, full.rsplit("-v", 1)[0]):
            return full
    return env_id


def headless_rendering() -> None:
    """Without a display, MuJoCo renders through EGL: set before the first renderer is made
    (MuJoCo's default, GLFW, fails there and leaves the process unable to render at all)."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("MUJOCO_GL", "egl")


def _prepare(env_id: str) -> None:
    headless_rendering()
    require("mujoco", extra="robotics", purpose=f"the robotics env '{env_id}'")
    if env_id.startswith("Fetch"):
        robotics = require("gymnasium_robotics", extra="robotics", purpose=f"the Fetch env '{env_id}'")
        gym.register_envs(robotics)


class EpisodeFrames(gym.Wrapper):
    """Collects rendered frames of every `every`-th episode and hands them to `sink`
    (a Tracker's `log_video(name, frames, step)`, or any callable(frames, episode))."""

    def __init__(
        self, env: gym.Env, sink: Any, every: int = 50, name: str = "videos/episode", max_frames: int = 1000
    ) -> None:
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError("frame capture needs render_mode='rgb_array'")
        self.sink, self.every, self.name, self.max_frames = sink, every, name, max_frames
        self.episode = -1
        self.frames: list[np.ndarray] = []

    def reset(self, **kwargs: Any) -> Any:
        self._flush()
        self.episode += 1
        out = self.env.reset(**kwargs)
        if self.episode % self.every == 0:
            self.frames = [self.env.render()]
        return out

    def step(self, action: Any) -> Any:
        out = self.env.step(action)
        if self.frames and len(self.frames) < self.max_frames:
            self.frames.append(self.env.render())
        if out[2] or out[3]:
            self._flush()
        return out

    def _flush(self) -> None:
        if not self.frames:
            return
        frames, self.frames = self.frames, []
        if hasattr(self.sink, "log_video"):
            self.sink.log_video(self.name, frames, step=self.episode)
        else:
            self.sink(frames, self.episode)

    def close(self) -> None:
        self._flush()
        super().close()


def make_env(
    env_id: str,
    *,
    normalize_obs: bool = False,
    rescale_actions: bool = True,
    flatten_goal: bool = True,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    video: Any = None,
    video_every: int = 50,
    **kwargs: Any,
) -> gym.Env:
    """A MuJoCo or Fetch task (short names like 'FetchReach' work) with rlgen's wrappers.

    `video`: a Tracker (or callable) that receives the frames of every `video_every`-th
    episode; it implies render_mode='rgb_array'.
    """
    env_id = _resolve(env_id)
    _prepare(env_id)
    if video is not None:
        render_mode = "rgb_array"
    make_kwargs = dict(kwargs)
    if max_episode_steps is not None:
        make_kwargs["max_episode_steps"] = max_episode_steps
    env = gym.make(env_id, render_mode=render_mode, **make_kwargs)
    if video is not None:
        env = EpisodeFrames(env, video, every=video_every)
    if isinstance(env.observation_space, gym.spaces.Dict) and flatten_goal:
        env = gym.wrappers.FlattenObservation(env)
    env = gym.wrappers.RecordEpisodeStatistics(env)
    if isinstance(env.action_space, gym.spaces.Box) and rescale_actions:
        env = gym.wrappers.RescaleAction(env, -1.0, 1.0)
        # Clip to [-1, 1] but keep that box as the action space (gymnasium's ClipAction
        # widens it to +-inf, which hides the bounds from agents such as SB3's).
        env = gym.wrappers.TransformAction(env, lambda a: np.clip(a, -1.0, 1.0), env.action_space)
    if normalize_obs:
        env = gym.wrappers.NormalizeObservation(env)
    return env


def _find_normalizer(env: gym.Env) -> Any:
    layer = env
    while layer is not None:
        if isinstance(layer, gym.wrappers.NormalizeObservation):
            return layer
        layer = getattr(layer, "env", None)
    raise ValueError("this env has no NormalizeObservation wrapper (make_env(..., normalize_obs=True))")


def normalization_state(env: gym.Env) -> dict[str, Any]:
    """The running observation statistics (mean, var, count) as arrays, for checkpoints."""
    rms = _find_normalizer(env).obs_rms
    return {"mean": np.array(rms.mean, copy=True), "var": np.array(rms.var, copy=True), "count": float(rms.count)}


def load_normalization_state(env: gym.Env, state: dict[str, Any], freeze: bool = False) -> None:
    """Restore statistics from `normalization_state`; `freeze` stops updating them (eval)."""
    wrapper = _find_normalizer(env)
    rms = wrapper.obs_rms
    if np.shape(state["mean"]) != np.shape(rms.mean):
        raise ValueError(
            f"normalization statistics of shape {np.shape(state['mean'])} "
            f"do not fit observations of shape {np.shape(rms.mean)}"
        )
    rms.mean, rms.var, rms.count = np.array(state["mean"]), np.array(state["var"]), float(state["count"])
    if freeze:
        wrapper.update_running_mean = False
