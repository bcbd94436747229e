"""Robotics tasks: every listed MuJoCo and Fetch task resets, steps and renders a frame."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_extra

from rlgen.envs.robotics import (
    FETCH_TASKS,
    MUJOCO_TASKS,
    load_normalization_state,
    make_env,
    normalization_state,
)

ROBOTICS = 'pip install -e ".[robotics]"'
needs_mujoco = needs_extra("mujoco", install=ROBOTICS)
needs_fetch = needs_extra("mujoco", "gymnasium_robotics", install=ROBOTICS)


def _exercise(env_id):
    env = make_env(env_id, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs.astype(env.observation_space.dtype))
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert np.isfinite(reward) and obs.ndim == 1
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0  # a real picture
    env.close()


@needs_mujoco
@pytest.mark.parametrize("env_id", MUJOCO_TASKS)
def test_mujoco_tasks(env_id):
    _exercise(env_id)


@needs_fetch
@pytest.mark.parametrize("env_id", FETCH_TASKS)
def test_fetch_tasks_flattened(env_id):
    _exercise(env_id)


@needs_mujoco
def test_episode_statistics_time_limit_and_normalization_state():
    # Reacher never terminates (its own limit is 50 steps), so every episode here ends on
    # the 20-step limit asked for, or the limit was ignored.
    env = make_env("Reacher", normalize_obs=True, max_episode_steps=20)
    env.reset(seed=0)
    episodes = []
    for _ in range(200):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            assert truncated and not terminated
            episodes.append(info["episode"])
            env.reset()
    assert [int(episode["l"]) for episode in episodes] == [20] * 10
    saved = normalization_state(env)
    fresh = make_env("Reacher", normalize_obs=True)
    load_normalization_state(fresh, saved, freeze=True)
    ours, theirs = fresh.get_wrapper_attr("obs_rms"), env.get_wrapper_attr("obs_rms")
    assert np.array_equal(ours.mean, theirs.mean) and np.array_equal(ours.var, theirs.var)
    assert ours.count == theirs.count
    fresh.reset(seed=1)
    fresh.step(fresh.action_space.sample())
    assert fresh.get_wrapper_attr("obs_rms").count == theirs.count  # frozen: not updated
    with pytest.raises(ValueError, match="do not fit"):
        load_normalization_state(fresh, {"mean": np.zeros(3), "var": np.ones(3), "count": 1.0})
    env.close()
    fresh.close()


@needs_mujoco
def test_frames_go_to_the_sink(tmp_path):
    from rlgen.config import WandbConfig
    from rlgen.tracking import Tracker

    tracker = Tracker(tmp_path, WandbConfig(mode="disabled"))
    env = make_env("Reacher", video=tracker, video_every=1, max_episode_steps=10)
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
    env.close()
    tracker.close()
    assert list((tmp_path / "media").glob("videos_episode_*.gif"))


def test_missing_extra_names_the_install(monkeypatch):
    import sys

    from rlgen.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "mujoco", None)
    with pytest.raises(MissingExtraError, match=r'pip install "rlgen\[robotics\]"'):
        make_env("Hopper")


@needs_fetch
def test_a_renderer_asked_for_without_a_display_uses_egl_itself():
    """MuJoCo's default GL (GLFW) fails without a display and leaves the process unable to
    render at all (later EGL renderers abort it): the envs asked to render choose EGL first."""
    import os
    import subprocess
    import sys

    script = (
        "from rlgen.agents.gym_support import make_env\n"
        "env = make_env('FetchReach-v4', render_mode='rgb_array')\n"
        "env.reset(seed=0)\n"
        "print('frame', env.render().std() > 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "PYOPENGL_PLATFORM")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert "frame True" in out.stdout, out.stderr[-2000:]
