"""Tabular Q-learning: the update by hand, exact resume, clear errors, agents in PettingZoo,
tic-tac-toe optimal in every position, and (slow) near-optimal Taxi."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import tictactoe_oracle as oracle
import yaml
from pettingzoo.classic import tictactoe_v3

from rlgen.agents import load_agent
from rlgen.agents.qlearning import QLearning, QLearningConfig, position_keys, td_update
from rlgen.checkpoint import load_checkpoint
from rlgen.cli import main
from rlgen.config import build_config, to_dict
from rlgen.envs.arena import RandomPolicy, play_pettingzoo
from rlgen.errors import ConfigError, UnknownNameError
from rlgen.run import train
from rlgen.trainer import Trainer

QUIET = ["wandb.mode=disabled", "trainer.progress=off"]
CLI_QUIET = ["--wandb", "disabled", "--set", "trainer.progress=off"]


def build(tmp_path, *overrides: str) -> QLearning:
    config = build_config(QLearningConfig, {}, [*QUIET, *overrides])
    trainer = Trainer(config, tmp_path)
    algorithm = QLearning(config, trainer)
    trainer.algorithm = algorithm
    return algorithm


GREEDY = ["epsilon_start=0", "epsilon_end=0", "alpha=0.5", "alpha_decay_steps=0", "q_init=0", "chunk=1"]


def test_gym_update_by_hand(tmp_path):
    """Q(s,a) += alpha (r + gamma max Q(s') - Q(s,a)): no bootstrap past a terminal state,
    a bootstrap through a time-limit truncation."""
    algo = build(tmp_path, "env=FrozenLake-v1", "env_kwargs.is_slippery=false", "discount=0.9", *GREEDY)
    q = algo.table.values
    # Cell 14 (row 3, col 2) -> right (2) reaches the goal 15: reward 1, terminated.
    algo.env.unwrapped.s, algo.obs = 14, 14
    q[14] = [0.0, 0.0, 0.2, 0.0]
    q[15] = [5.0, 5.0, 5.0, 5.0]  # must be ignored: the episode ended
    algo.train_step()
    assert q[14, 2] == pytest.approx(0.2 + 0.5 * (1.0 - 0.2))
    assert algo.obs == 0 and algo.episodes == 1  # reset to the start
    # Cell 0 -> down (1) reaches 4 with reward 0 as the time limit truncates the episode.
    q[0] = [0.0, 0.1, 0.0, 0.0]
    q[4] = [0.5, 0.8, 0.2, 0.0]
    limit = algo.env
    while not isinstance(limit, gym.wrappers.TimeLimit):
        limit = limit.env
    limit._elapsed_steps = limit._max_episode_steps - 1
    metrics = algo.train_step()
    assert q[0, 1] == pytest.approx(0.1 + 0.5 * (0.9 * 0.8 - 0.1))
    assert algo.episodes == 2 and metrics["losses/td_error"] == pytest.approx(0.9 * 0.8 - 0.1)


def test_negamax_update_by_hand(tmp_path):
    """A winning move is pulled toward +1; any other move toward minus the opponent's best
    value in the next position, read from the opponent's side of the shared table."""
    algo = build(tmp_path, "env=tictactoe", "games=1", *GREEDY)
    game, table = algo.game, algo.table
    # X (to move) has a1, b1; O has a2, b2: c1 (action 2) wins.
    state = game.initial(1)
    state.board[0] = [[1, 1, 0], [-1, -1, 0], [0, 0, 0]]
    state.moves[0] = 4
    algo.state, algo.rows = state, None
    row = table.rows(position_keys(state), game.legal_mask(state))[0]
    table.values[row, 2] = 0.2
    algo.train_step()
    assert table.values[row, 2] == pytest.approx(0.2 + 0.5 * (1.0 - 0.2))
    assert algo.state.moves[0] == 0  # the finished game started again
    # From the empty board X plays the centre; O's view of the result has its best reply at 0.6.
    start = table.rows(position_keys(algo.state), game.legal_mask(algo.state))[0]
    table.values[start, 4] = 0.3
    after = game.step(algo.state, [4])
    assert position_keys(after)[0, 4] == -1  # X's stone is the opponent's from O's side
    reply = table.rows(position_keys(after), game.legal_mask(after))[0]
    table.values[reply, [0, 1]] = [0.6, -0.2]
    algo.train_step()
    assert table.values[start, 4] == pytest.approx(0.3 + 0.5 * (-0.6 - 0.3))
    assert np.isneginf(table.values[reply, 4])  # the occupied centre is masked


def test_duplicate_pairs_in_a_batch_share_one_averaged_step():
    values = np.zeros((2, 3))
    errors = td_update(values, np.array([0, 0, 1]), np.array([1, 1, 2]), np.array([1.0, 0.0, -1.0]), alpha=0.5)
    assert values[0, 1] == pytest.approx(0.25) and values[1, 2] == pytest.approx(-0.5)
    assert np.allclose(errors, [1.0, 0.0, -1.0]) and np.count_nonzero(values) == 2


def _cli_resume(tmp_path, env: str, steps: int, *overrides: str) -> tuple[dict, dict]:
    sets = [item for o in overrides for item in ("--set", o)]
    whole, split = tmp_path / "whole", tmp_path / "split"
    common = ["train", "qlearning", "--env", env, *CLI_QUIET, *sets]
    assert main([*common, "--steps", str(steps), "--run-dir", str(whole)]) == 0
    assert main([*common, "--steps", str(steps // 2), "--run-dir", str(split)]) == 0
    half = load_checkpoint(split / "checkpoints" / "last.pt")
    assert main(["resume", str(split), "--steps", str(steps)]) == 0
    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(split / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == steps
    for key in a["states"]["table"]:
        assert np.array_equal(a["states"]["table"][key], b["states"]["table"][key]), key
    assert a["algorithm"]["rng"] == b["algorithm"]["rng"]
    return half, a


def test_resume_continues_exactly_on_a_game(tmp_path):
    half, whole = _cli_resume(
        tmp_path,
        "tictactoe",
        4000,
        "games=50",
        "chunk=500",
        "trainer.eval_every=1000",
        "trainer.checkpoint_every=1000",
        "eval_opponent=random",
        "eval_games=10",
        "epsilon_decay_steps=3000",
    )
    assert half["algorithm"]["games"]["moves"].any()  # the cut fell inside games in progress
    assert len(whole["states"]["table"]["keys"]) > len(half["states"]["table"]["keys"])


def test_resume_continues_exactly_on_a_gym_env(tmp_path):
    half, _ = _cli_resume(
        tmp_path, "Taxi-v4", 3000, "trainer.eval_every=1000", "trainer.checkpoint_every=1000", "eval_episodes=3"
    )
    assert half["algorithm"]["episode_length"] > 0  # the cut fell inside an episode


def test_clear_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="Discrete observation and action spaces.*use dqn"):
        build_config(QLearningConfig, {}, ["env=CartPole-v1"])
    with pytest.raises(ConfigError, match="continuous actions"):
        build_config(QLearningConfig, {}, ["env=Pendulum-v1"])
    with pytest.raises(ConfigError, match="use --env tictactoe"):
        build_config(QLearningConfig, {}, ["env=rlgen/TicTacToe-v0"])
    with pytest.raises(UnknownNameError, match="Did you mean 'tictactoe'"):
        build_config(QLearningConfig, {}, ["env=tictacto"])
    with pytest.raises(ConfigError, match=r"alpha must be in \(0, 1\]"):
        build_config(QLearningConfig, {}, ["alpha=0"])
    with pytest.raises(ConfigError, match="multiple of games"):
        build_config(QLearningConfig, {}, ["games=64", "chunk=1000"])
    with pytest.raises(ConfigError, match="do not fit the game"):
        build_config(QLearningConfig, {}, ["env_kwargs.size=5"])
    with pytest.raises(ConfigError, match="chunk must be >= 1, got 0"):
        build_config(QLearningConfig, {}, ["chunk=0"])
    with pytest.raises(ConfigError, match="alpha_decay_steps must be >= 0, got -1"):
        build_config(QLearningConfig, {}, ["alpha_decay_steps=-1"])
    with pytest.raises(ConfigError, match="eval_episodes must be >= 1, got 0"):
        build_config(QLearningConfig, {}, ["env=Taxi-v4", "eval_episodes=0"])
    # a field of the other kind of env is not checked (earlier runs saved 0 there)
    assert build_config(QLearningConfig, {}, ["eval_episodes=0"]).eval_episodes == 0
    assert main(["train", "qlearning", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "cp"), *CLI_QUIET]) == 2
    assert "use dqn" in capsys.readouterr().err and not (tmp_path / "cp").exists()


def test_defaults_per_env():
    ttt = build_config(QLearningConfig, {}, ["env=tictactoe"])
    taxi = build_config(QLearningConfig, {}, ["env=Taxi-v4", "q_init=0", "epsilon_decay_steps=0"])
    assert ttt.eval_opponent == "minimax" and ttt.discount == 1.0 and ttt.chunk % ttt.games == 0
    assert taxi.discount == 0.99 and taxi.eval_episodes == 100 and taxi.steps > 0
    assert taxi.q_init == 0.0 and taxi.epsilon_decay_steps == 0  # explicit zeros are kept


def test_presets_by_env_kind():
    """The field defaults are tictactoe's; any other env starts from its kind's PRESETS row,
    under a config file's values and `--set` overrides."""
    assert to_dict(build_config(QLearningConfig, {}, [])) == to_dict(QLearningConfig())
    assert QLearningConfig.preset("tictactoe") == {}
    assert QLearningConfig.preset("connect4") == QLearningConfig.PRESETS["game"]
    assert QLearningConfig.preset("FrozenLake-v1") == QLearningConfig.PRESETS["FrozenLake"]
    assert QLearningConfig.preset("FrozenLake8x8-v1") == QLearningConfig.PRESETS["gym"]
    c4 = build_config(QLearningConfig, {}, ["env=connect4"])
    assert c4.eval_opponent == "random" and c4.steps == 1_000_000 and c4.epsilon_end == 0.1
    taxi = build_config(QLearningConfig, {}, ["env=Taxi-v4"])
    row = {key: value for key, value in QLearningConfig.PRESETS["Taxi"].items() if key != "trainer"}
    assert {key: getattr(taxi, key) for key in row} == row
    # the gym kinds evaluate every 25k steps (tic-tac-toe's 2M-move run every 200k)
    assert taxi.trainer.eval_every == 25_000 and build_config(QLearningConfig, {}, []).trainer.eval_every == 200_000
    assert taxi.q_init == 20.0 and taxi.alpha == 1.0  # optimistic start, copy each target
    filed = build_config(QLearningConfig, {"env": "Taxi-v4", "alpha": 0.3, "q_init": 5}, ["q_init=7"])
    assert filed.alpha == 0.3 and filed.q_init == 7.0 and filed.epsilon_start == 0.05
    QLearningConfig.preset("Taxi-v4")["q_init"] = 0.0
    assert QLearningConfig.PRESETS["Taxi"]["q_init"] == 20.0  # a preset is handed out as a copy


def test_tictactoe_agent_in_pettingzoo_eval_and_play(tmp_path, capsys):
    run = train(
        "qlearning", build_config(QLearningConfig, {}, ["env=tictactoe", "steps=60000", *QUIET]), tmp_path / "ttt"
    )
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [m for m in metrics if "losses/td_error" in m]
    assert train_rows[-1]["charts/table_size"] > 3000 and train_rows[-1]["charts/epsilon"] < 1.0
    assert any("eval/losses_second" in m for m in metrics)
    agent = load_agent(run)
    table = play_pettingzoo(tictactoe_v3.env(), {"agent": agent, "random": RandomPolicy(0)}, games=40)
    assert sum(table["agent"].values()) == 40  # every move was legal in PettingZoo's own env
    assert table["agent"]["wins"] >= 24, table
    assert main(["eval", str(run), "--opponent", "random", "--games", "20"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["opponent"] == "random" and sum(result["total"].values()) == 20
    assert main(["eval", str(run), "--episodes", "5"]) == 2
    assert "--opponent NAME --games N" in capsys.readouterr().err
    from rlgen.agents.play import play_terminal

    typed = iter(["b2", "zz", "a1", "c1", "a3", "c3", "b1", "b3", "a2", "c2"])
    shown: list[str] = []
    outcome = play_terminal(run, human_first=True, read=lambda prompt: next(typed), write=shown.append)
    assert outcome in (-1, 0, 1) and "agent plays" in "\n".join(shown)


def test_gym_agent_and_eval(tmp_path, capsys):
    cfg = build_config(QLearningConfig, {}, ["env=CliffWalking-v1", "eval_episodes=2", *QUIET])
    run = train("qlearning", cfg, tmp_path / "cliff")
    saved = yaml.safe_load((run / "config.yaml").read_text())  # the values the run used, preset and --set
    assert saved["steps"] == 30_000 and saved["discount"] == 0.99 and saved["eval_episodes"] == 2
    agent = load_agent(run)
    values = load_checkpoint(run / "checkpoints" / "last.pt")["states"]["table"]["values"]
    assert all(agent.act(s) == int(values[s].argmax()) for s in (0, 24, 36))
    assert main(["eval", str(run), "--episodes", "3"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["episodes"] == 3 and result["return_mean"] == -13.0  # the shortest safe path
    assert main(["eval", str(run), "--opponent", "minimax"]) == 2
    assert "--episodes N" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tictactoe_is_optimal_in_every_reachable_position(tmp_path, seed):
    """The default run's greedy move keeps the minimax value in all 4,520 reachable positions
    with a move to make (either side to move), judged by the independent oracle; so it never
    loses to minimax, and inside PettingZoo it beats random moves."""
    cfg = build_config(QLearningConfig, {}, ["env=tictactoe", f"seed={seed}", *QUIET])
    run = train("qlearning", cfg, tmp_path / "ttt")
    agent = load_agent(run)
    assert len(oracle.positions()) == 4520
    wrong = oracle.misses(agent.act_states)
    assert wrong == {"lets_win_go": [], "loses": [], "illegal": []}, {k: v[:5] for k, v in wrong.items()}
    if seed == 0:
        table = play_pettingzoo(tictactoe_v3.env(), {"agent": agent, "random": RandomPolicy(1)}, games=100)
        assert table["agent"]["losses"] == 0 and table["agent"]["wins"] >= 80, table


def _taxi_optimal_values(discount: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q*, V* by value iteration on Taxi's transition table, and the start-state weights."""
    env = gym.make("Taxi-v4").unwrapped
    n_s, n_a = env.observation_space.n, env.action_space.n
    nxt = np.zeros((n_s, n_a), dtype=np.int64)
    reward = np.zeros((n_s, n_a))
    done = np.zeros((n_s, n_a), dtype=bool)
    for s in range(n_s):
        for a in range(n_a):
            ((_, nxt[s, a], reward[s, a], done[s, a]),) = env.P[s][a]  # deterministic: one outcome
    v = np.zeros(n_s)
    for _ in range(500):
        q = reward + discount * np.where(done, 0.0, v[nxt])
        v = q.max(axis=1)
    return q, v, env.initial_state_distrib


@pytest.mark.slow
def test_taxi_reaches_the_return_floor(tmp_path):
    """Default config on Taxi (gymnasium's Taxi-v4; v3 is deprecated there): mean greedy
    return >= 7.5 over 100 episodes, and the greedy action optimal in every start state."""
    cfg = build_config(QLearningConfig, {}, ["env=Taxi-v4", *QUIET])
    run = train("qlearning", cfg, tmp_path / "taxi")
    assert main(["eval", str(run), "--episodes", "100"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["episodes"] == 100 and result["return_mean"] >= 7.5, result
    q_star, v_star, starts = _taxi_optimal_values(cfg.discount)
    greedy = load_checkpoint(run / "checkpoints" / "last.pt")["states"]["table"]["values"].argmax(axis=1)
    chosen = q_star[np.arange(len(greedy)), greedy]
    assert np.all(chosen[starts > 0] >= v_star[starts > 0] - 1e-9)
