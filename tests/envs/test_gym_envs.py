"""gymnasium envs: the board games against an opponent and the bandit."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlgen.envs  # noqa: F401  (registers the rlgen/ ids)
from rlgen.envs import IllegalMoveError
from rlgen.envs.bandit import BanditSimulator

GAME_IDS = ["rlgen/TicTacToe-v0", "rlgen/Connect4-v0", "rlgen/Othello6-v0", "rlgen/Othello8-v0", "rlgen/Gomoku-v0"]


@pytest.mark.parametrize("env_id", [*GAME_IDS, "rlgen/Bandit-v0"])
def test_check_env_passes_with_the_default_kwargs(env_id):
    # check_env samples actions without the mask: the default illegal="lose" must take them.
    check_env(gym.make(env_id).unwrapped)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gym.make(env_id))  # wrapped: only a warning that it checks the unwrapped env
    assert all("unwrapped" in str(w.message) or "wrapper" in str(w.message) for w in caught), caught


@pytest.mark.filterwarnings("ignore:It seems that your observation:UserWarning")
@pytest.mark.filterwarnings("ignore:The minimal resolution:UserWarning")
@pytest.mark.parametrize("env_id", GAME_IDS)
def test_sb3_check_env_passes(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    sb3_check_env(gym.make(env_id).unwrapped)  # may warn about the observation space; must not raise


@pytest.mark.parametrize("env_id", GAME_IDS)
def test_unmasked_random_play_ends_in_a_result(env_id):
    """A mask-unaware learner: every episode ends, an illegal move loses with -1 and says why."""
    env = gym.make(env_id, opponent="random", learner_side="random")
    rng = np.random.default_rng(0)
    illegal, cells = 0, int(np.prod(env.observation_space.shape[:2]))
    for episode in range(20):
        _, info = env.reset(seed=episode)
        done, steps = False, 0
        while not done:
            action = int(rng.integers(env.action_space.n))
            was_legal = bool(info["action_mask"][action])
            _, reward, done, truncated, info = env.step(action)
            steps += 1
            assert not truncated and steps <= 2 * cells  # a game ends within its board's moves
        if info.get("illegal_move"):
            illegal += 1
            assert not was_legal and reward == -1.0 and info["outcome"] == "loss"
            assert info["reason"].startswith(f"illegal action {action} (") and "legal moves: " in info["reason"]
        else:
            assert was_legal and "reason" not in info
        assert "action_mask" in info
    assert illegal > 0


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


def test_illegal_move_loses_by_default_and_raises_under_error():
    env = gym.make("rlgen/TicTacToe-v0", learner_side="first", opponent="minimax")
    env.reset(seed=0)
    _, _, _, _, info = env.step(4)  # minimax answers in a corner
    taken = [int(a) for a in np.flatnonzero(~info["action_mask"])]
    obs, reward, terminated, truncated, info = env.step(4)
    assert (reward, terminated, truncated) == (-1.0, True, False)
    assert info["illegal_move"] and info["outcome"] == "loss"
    legal = ", ".join(env.unwrapped.game.action_to_text(a) for a in range(9) if a not in taken)
    assert info["reason"] == f"illegal action 4 (b2): square b2 is taken; legal moves: {legal}"
    assert not info["action_mask"].any()  # the episode is over
    assert obs[1, 1, 0] == 1 and obs.sum() == 2  # the board is left as it was
    with pytest.raises(IllegalMoveError, match="episode is over; call reset"):
        env.step(0)
    _, info = env.reset()
    assert "illegal_move" not in info and info["action_mask"].any()

    strict = gym.make("rlgen/TicTacToe-v0", learner_side="first", illegal="error")
    strict.reset(seed=0)
    strict.step(4)
    with pytest.raises(
        IllegalMoveError, match="tictactoe: illegal action 4 \\(b2\\): square b2 is taken; legal moves: a1"
    ):
        strict.step(4)
    with pytest.raises(IllegalMoveError, match="illegal action 9: outside 0..8; legal moves"):
        strict.step(9)
    with pytest.raises(ValueError, match="illegal must be 'lose' .* or 'error'"):
        gym.make("rlgen/TicTacToe-v0", illegal="ignore")


@pytest.mark.parametrize(
    ("env_id", "stones", "action", "why"),
    [
        ("rlgen/Connect4-v0", {row * 7 + 3: (-1) ** row for row in range(6)}, 3, "column 4 is full"),
        ("rlgen/Othello6-v0", {}, 0, "a disc on a1 would flip none"),
        ("rlgen/Othello8-v0", {}, 64, "passing is allowed only without another move"),
        ("rlgen/Gomoku-v0", {40: -1}, 40, "square e5 is taken"),
    ],
)
def test_illegal_reason_names_what_is_wrong(env_id, stones, action, why):
    env = gym.make(env_id, learner_side="first", illegal="error")
    env.reset(seed=0)
    board = env.unwrapped.state.board[0]
    for cell, colour in stones.items():
        board.flat[cell] = colour
    with pytest.raises(IllegalMoveError, match=f"illegal action {action} \\(.*\\): {why}; legal moves: "):
        env.step(action)
    lenient = gym.make(env_id, learner_side="first")
    lenient.reset(seed=0)
    lenient.unwrapped.state.board[0] = board
    _, reward, terminated, _, info = lenient.step(action)
    assert reward == -1.0 and terminated and why in info["reason"]


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


def test_vectorized_simulator_regret_and_rewards():
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
