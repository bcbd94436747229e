"""gymnasium envs: the board games against an opponent and the bandit."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlgen.envs  # noqa: F401  (registers the rlgen/ ids)
from rlgen.envs import IllegalMoveError
from rlgen.envs.bandit import BanditSimulator

GAME_IDS = ["rlgen/TicTacToe-v0", "rlgen/Connect4-v0", "rlgen/Othello6-v0", "rlgen/Othello8-v0", "rlgen/Gomoku-v0"]


@pytest.mark.parametrize("env_id", [*GAME_IDS, "rlgen/Bandit-v0"])
def test_check_env_passes(env_id):
    # check_env samples actions without the mask, so illegal moves must not raise here.
    kwargs = {} if env_id == "rlgen/Bandit-v0" else {"illegal": "lose"}
    check_env(gym.make(env_id, **kwargs).unwrapped)


@pytest.mark.parametrize("env_id", GAME_IDS)
def test_masked_random_play_against_each_side(env_id):
    env = gym.make(env_id, opponent="random")
    rng = np.random.default_rng(0)
    sides, outcomes = set(), set()
    for episode in range(6):
        obs, info = env.reset(seed=0 if episode == 0 else None)
        sides.add(info["learner_side"])
        assert obs.shape == env.observation_space.shape and obs.dtype == np.float32
        done = False
        while not done:
            mask = env.unwrapped.action_masks()
            assert np.array_equal(mask, info["action_mask"]) and mask.any()
            obs, reward, done, truncated, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        outcomes.add(info["outcome"])
        assert reward == {"win": 1.0, "loss": -1.0, "draw": 0.0}[info["outcome"]]
    assert sides == {0, 1}  # alternates by default


def test_learner_second_sees_the_opponents_first_move():
    env = gym.make("rlgen/Connect4-v0", learner_side="second")
    obs, info = env.reset(seed=0)
    assert info["learner_side"] == 1
    assert obs[..., 1].sum() == 1 and obs[..., 0].sum() == 0


def test_illegal_action_options():
    env = gym.make("rlgen/TicTacToe-v0", learner_side="first")
    env.reset(seed=0)
    env.step(4)
    with pytest.raises(IllegalMoveError, match="illegal action 4 \\(b2\\); legal moves"):
        env.step(4)
    env = gym.make("rlgen/TicTacToe-v0", learner_side="first", illegal="lose")
    env.reset(seed=0)
    env.step(4)
    _, reward, done, _, info = env.step(4)
    assert reward == -1.0 and done and info["illegal_move"]


def test_perfect_opponent_never_loses_to_random_learner():
    env = gym.make("rlgen/TicTacToe-v0", opponent="minimax")
    rng = np.random.default_rng(1)
    for episode in range(30):
        _, info = env.reset(seed=episode)
        done = False
        while not done:
            _, reward, done, _, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
        assert reward <= 0


def test_bandit_env_reports_regret_and_drifts():
    env = gym.make("rlgen/Bandit-v0", k=3, means=[0.2, 0.5, 0.9], horizon=5)
    env.reset(seed=0)
    _, _, _, _, info = env.step(0)
    assert info["optimal_arm"] == 2 and info["regret"] == pytest.approx(0.7)
    drifting = gym.make("rlgen/Bandit-v0", k=4, reward="gaussian", drift=0.1).unwrapped
    _, start = drifting.reset(seed=0)
    for _ in range(50):
        drifting.step(0)
    assert not np.allclose(start["means"], drifting.means)
    with pytest.raises(ValueError, match="Bernoulli means must lie in"):
        gym.make("rlgen/Bandit-v0", k=2, means=[0.5, 1.5])


def test_vectorized_simulator_regret_and_speed():
    means = np.linspace(0.1, 0.9, 9)
    sim = BanditSimulator(runs=1000, k=9, means=means, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(1000):
        sim.pull(rng.integers(0, 9, size=1000))
    # Uniform play pays 0.9 - 0.5 = 0.4 regret per step on average.
    assert sim.regret.mean() == pytest.approx(400, rel=0.02)
    best = BanditSimulator(runs=10, k=9, means=means, seed=0)
    rewards = np.mean([best.pull(np.full(10, 8)).mean() for _ in range(2000)])
    assert best.regret.max() == 0 and rewards == pytest.approx(0.9, abs=0.02)
    with pytest.raises(ValueError, match="integer arms"):
        sim.pull(np.zeros(3, dtype=int))
