"""`rlgen play`: every run that learned a board game plays in the terminal; others get a clear error."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlgen.envs  # noqa: F401  (registers the rlgen/ ids)
from rlgen.agents.play import game_player, planes_of, play_terminal
from rlgen.cli import main
from rlgen.config import build_config
from rlgen.errors import ConfigError
from rlgen.registry import get_algo
from rlgen.run import train

QUIET = ["wandb.mode=disabled", "trainer.progress=off", "trainer.eval_every=0"]
SQUARES = [f"{c}{r}" for r in "123" for c in "abc"]


def _train(tmp_path, algo: str, *overrides: str):
    return train(algo, build_config(get_algo(algo).Config, {}, [*overrides, *QUIET]), tmp_path / algo)


def test_planes_are_the_gym_envs_observation_from_the_side_to_move():
    env = gym.make("rlgen/Connect4-v0", opponent="random", learner_side="second").unwrapped
    obs, info = env.reset(seed=1)
    for _ in range(6):
        assert np.array_equal(planes_of(env.state), obs)
        obs, _, done, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
        if done:
            break


def test_a_dqn_run_on_a_game_env_plays_a_whole_game(tmp_path):
    run = _train(tmp_path, "dqn", "env=rlgen/TicTacToe-v0", "steps=300", "learning_starts=100", "eval_episodes=2")
    typed = iter(SQUARES * 2)  # taken squares are refused and the next one is tried
    shown: list[str] = []
    outcome = play_terminal(run, human_first=True, read=lambda prompt: next(typed), write=shown.append)
    text = "\n".join(shown)
    assert text.count("agent plays") >= 2 and "expects to score" not in text  # a policy has no value to show
    assert text.splitlines()[-1] == {1: "you win!", 0: "a draw.", -1: "the agent wins."}[outcome]
    assert outcome == _human_x_outcome(shown[-2])  # the final board, read independently


def _human_x_outcome(board: str) -> int:
    """1 if X (the human, first) has three in a line on a rendered tic-tac-toe board, -1 if
    O has, else 0."""
    cells = [row.split()[1:] for row in board.splitlines()[1:4]]
    lines = [*cells, *map(list, zip(*cells, strict=True)), [cells[i][i] for i in range(3)]]
    lines.append([cells[i][2 - i] for i in range(3)])
    return next((1 if line[0] == "X" else -1 for line in lines if line[0] != "." and len(set(line)) == 1), 0)


def test_play_on_a_run_without_a_game_says_what_to_do(tmp_path, capsys):
    run = _train(tmp_path, "ppo", "env=CartPole-v1", "steps=64", "n_steps=32", "num_envs=2", "batch_size=32")
    with pytest.raises(
        ConfigError, match=r"ppo run on --env CartPole-v1, not a board game.*rlgen eval .* --episodes 20"
    ):
        game_player(run)
    assert main(["play", str(run)]) == 2
    err = capsys.readouterr().err
    assert "rlgen play plays board games" in err and "Traceback" not in err


def test_ctrl_c_stops_the_game_without_the_training_message(tmp_path, capsys, monkeypatch):
    run = _train(tmp_path, "qlearning", "env=tictactoe", "steps=200")

    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    shown: list[str] = []
    assert play_terminal(run, human_first=True, read=interrupted, write=shown.append) == -2
    assert shown[-1].strip() == "stopped."
    monkeypatch.setattr("builtins.input", interrupted)
    assert main(["play", str(run), "--human-first"]) == 0
    out = capsys.readouterr()
    assert "stopped." in out.out and "rlgen resume" not in out.err
