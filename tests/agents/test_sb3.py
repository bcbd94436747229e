"""stable-baselines3 interop: every sb3:NAME trains, logs SB3's values, resumes its
timesteps / optimizer states / replay buffer, evaluates and acts; MaskablePPO keeps to
legal moves in rlgen's Connect Four and in PettingZoo's."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, RLGEN, LegalMovesOnly
from goal_env import POINT_GOAL
from pettingzoo.classic import connect_four_v3

from rlgen.agents import load_agent
from rlgen.checkpoint import load_checkpoint
from rlgen.cli import main
from rlgen.config import build_config
from rlgen.envs.arena import RandomPolicy, play_pettingzoo
from rlgen.errors import ConfigError, MissingExtraError, UnknownNameError
from rlgen.registry import get_algo
from rlgen.run import build_for_eval

COMMON = ["--wandb", "disabled", "--set", "trainer.progress=off", "--set", "eval_episodes=2"]
SMALL_NET = "algo_kwargs.policy_kwargs.net_arch=[32,32]"
# name -> (env, steps of the first run, config overrides): a few hundred env steps each.
CASES = {
    "sb3:PPO": ("CartPole-v1", 128, ["algo_kwargs.n_steps=64", "algo_kwargs.batch_size=64", "algo_kwargs.n_epochs=2"]),
    "sb3:A2C": ("CartPole-v1", 128, ["algo_kwargs.n_steps=16"]),
    "sb3:DQN": (
        "CartPole-v1",
        200,
        ["chunk=100", "algo_kwargs.learning_starts=50", "algo_kwargs.batch_size=32", SMALL_NET],
    ),
    "sb3:SAC": (
        "Pendulum-v1",
        200,
        ["chunk=100", "algo_kwargs.learning_starts=100", "algo_kwargs.batch_size=32", SMALL_NET],
    ),
    "sb3:TD3": (
        "Pendulum-v1",
        200,
        [
            "chunk=100",
            "algo_kwargs.learning_starts=100",
            "algo_kwargs.batch_size=32",
            SMALL_NET,
            "algo_kwargs.action_noise=normal:0.1",
        ],
    ),
    "sb3:MaskablePPO": (
        "rlgen/Connect4-v0",
        128,
        ["env_kwargs.opponent=random", "algo_kwargs.n_steps=64", "algo_kwargs.batch_size=64", "algo_kwargs.n_epochs=2"],
    ),
}


def train_cli(run: Path, algo: str, steps: int | None = None, *extra: str) -> None:
    env, first, overrides = CASES[algo]
    args = ["train", algo, "--env", env, "--steps", str(steps or first), "--run-dir", str(run), *COMMON]
    for item in [*overrides, f"trainer.eval_every={first}", *extra]:
        args += ["--set", item]
    assert main(args) == 0


def sb3_zip(checkpoint: dict) -> tuple[dict, dict[str, dict]]:
    """(SB3's saved data, optimizer state dicts by file) from an rlgen checkpoint."""
    archive = zipfile.ZipFile(io.BytesIO(checkpoint["models"]["sb3"]["sb3_zip"]))
    data = json.loads(archive.read("data"))
    optimizers = {
        name: torch.load(archive.open(name), weights_only=True)
        for name in archive.namelist()
        if name.endswith("optimizer.pth")
    }
    return data, optimizers


@pytest.mark.parametrize("algo", list(CASES))
def test_trains_logs_resumes_and_acts(tmp_path, algo):
    env, first, _ = CASES[algo]
    run = tmp_path / "run"
    train_cli(run, algo)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in rows if "charts/sb3_fps" in r]
    assert trained and all(np.isfinite(r["charts/sb3_fps"]) for r in trained)
    assert any(k.startswith("losses/") for k in trained[-1]), trained[-1]  # SB3's train/* values
    assert any("charts/episode_return" in r for r in trained)  # SB3's rollout/ep_rew_mean
    assert any("eval/return_mean" in r for r in rows)
    before = load_checkpoint(run / "checkpoints" / "last.pt")
    data, _ = sb3_zip(before)
    assert before["step"] == data["num_timesteps"] == first

    assert main(["resume", str(run), "--steps", str(2 * first)]) == 0
    after = load_checkpoint(run / "checkpoints" / "last.pt")
    data, optimizers = sb3_zip(after)
    assert after["step"] == data["num_timesteps"] == 2 * first
    steps = [
        r["step"]
        for r in (json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())
        if "charts/sb3_fps" in r
    ]
    assert steps == sorted(set(steps)) and steps[-1] == 2 * first and min(s for s in steps if s > first) > first
    # Optimizer states came back: their step counts cover both segments' updates (the
    # configs above take one gradient step per update; TD3's actor updates every 2nd).
    main_optimizer = "critic.optimizer.pth" if "critic.optimizer.pth" in optimizers else "policy.optimizer.pth"
    adam_steps = {float(s["step"]) for s in optimizers[main_optimizer]["state"].values()}
    assert adam_steps == {float(data["_n_updates"])} and data["_n_updates"] > 0
    if algo in ("sb3:DQN", "sb3:SAC", "sb3:TD3"):  # the replay buffer continued, not restarted
        old, new = before["algorithm"]["replay_buffer"], after["algorithm"]["replay_buffer"]
        assert old["pos"] == first and new["pos"] == 2 * first
        for key in ("observations", "actions", "rewards"):
            assert np.array_equal(new["arrays"][key][:first], old["arrays"][key])

    assert main(["eval", str(run), "--episodes", "2"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["episodes"] == 2 and np.isfinite(result["return_mean"])
    agent = load_agent(run, checkpoint="last")
    import gymnasium as gym

    space = gym.make(env).observation_space if not env.startswith("rlgen/") else None
    obs = np.zeros((6, 7, 2), np.float32) if space is None else space.sample()
    action = agent.act(obs)
    assert agent.model.action_space.contains(np.asarray(action, dtype=agent.model.action_space.dtype))


@pytest.mark.parametrize("algo", ["sb3:SAC", "sb3:TD3"])
def test_her_uses_sb3s_buffer_on_goal_envs_and_resumes_with_it(tmp_path, algo):
    """her=true: SB3's HerReplayBuffer (future goals, the env's compute_reward) behind a
    MultiInputPolicy; the checkpoint keeps its episode bounds, so resume samples relabelled
    goals from the first segment's episodes."""
    from stable_baselines3 import HerReplayBuffer

    run = tmp_path / "her"
    args = ["train", algo, "--env", POINT_GOAL, "--steps", "300", "--run-dir", str(run), *COMMON]
    for item in ["her=true", "chunk=60", "algo_kwargs.learning_starts=60", "algo_kwargs.batch_size=32", SMALL_NET]:
        args += ["--set", item]
    assert main(args) == 0
    algorithm, _, _ = build_for_eval(run, checkpoint="last")
    assert isinstance(algorithm.model.replay_buffer, HerReplayBuffer)
    assert algorithm.config.policy == "MultiInputPolicy"
    before = load_checkpoint(run / "checkpoints" / "last.pt")["algorithm"]["replay_buffer"]["arrays"]
    assert before["ep_length"][:270].min() == 30  # nine whole 30-step episodes, each row knows its episode
    assert main(["resume", str(run), "--steps", "420"]) == 0
    after = load_checkpoint(run / "checkpoints" / "last.pt")["algorithm"]["replay_buffer"]["arrays"]
    assert np.array_equal(after["ep_start"][:300], before["ep_start"][:300]) and after["ep_length"][300:390].min() == 30
    assert main(["eval", str(run), "--episodes", "2"]) == 0
    assert "success_rate" in json.loads((run / "eval.json").read_text())


@pytest.mark.parametrize("prob", [0.0, 0.5])
def test_random_action_prob_replaces_that_share_of_sb3s_policy_actions(tmp_path, prob):
    """sb3:SAC / sb3:TD3 take rlgen's random_action_prob (HER's random_eps, which SB3 lacks):
    after learning_starts, that share of the stored actions is uniform instead of the policy's."""
    from rlgen.run import train

    overrides = ["env=Pendulum-v1", "steps=600", "chunk=100", "algo_kwargs.learning_starts=100", SMALL_NET,
                 "algo_kwargs.gradient_steps=0", "wandb.mode=disabled", "trainer.progress=off", "eval_episodes=0",
                 f"random_action_prob={prob}"]  # fmt: skip
    config = build_config(get_algo("sb3:TD3").Config, {}, overrides)
    run = train("sb3:TD3", config, tmp_path / "td3")
    arrays = load_checkpoint(run / "checkpoints" / "last.pt")["algorithm"]["replay_buffer"]["arrays"]
    after = arrays["actions"][100:600, 0, 0]
    # gradient_steps=0 leaves the actor as built: its noiseless actions repeat per observation,
    # so a uniform action is one far from what the actor says for that observation.
    algorithm, _, _ = build_for_eval(run, checkpoint="last")
    policy = algorithm.model.policy
    greedy = policy.scale_action(policy.predict(arrays["observations"][100:600, 0], deterministic=True)[0])[:, 0]
    replaced = np.abs(after - greedy) > 1e-4
    assert replaced.mean() == pytest.approx(prob, abs=0.08)
    with pytest.raises(ConfigError, match="random_action_prob is for SAC and TD3"):
        build_config(get_algo("sb3:PPO").Config, {}, ["random_action_prob=0.3"])


def test_her_errors_name_what_works(tmp_path, capsys):
    with pytest.raises(ConfigError, match="her=true needs an off-policy algorithm"):
        build_config(get_algo("sb3:PPO").Config, {}, ["her=true"])
    args = ["train", "sb3:SAC", "--env", "Pendulum-v1", "--run-dir", str(tmp_path / "p"), *COMMON, "--set", "her=true"]
    assert main(args) == 2
    assert "her=true needs a goal env" in capsys.readouterr().err


def test_sigkill_then_resume_continues(tmp_path):
    """Kill -9 mid-run; `rlgen resume` goes on from the last checkpoint's timesteps with its
    replay buffer, and metrics.jsonl holds each step once."""
    run = tmp_path / "killed"
    env, _, overrides = CASES["sb3:DQN"]
    args = [
        "train",
        "sb3:DQN",
        "--env",
        env,
        "--steps",
        "3000",
        "--run-dir",
        str(run),
        *COMMON,
        "--set",
        "trainer.checkpoint_every=300",
        "--set",
        "eval_episodes=0",
    ]
    for item in overrides:
        args += ["--set", item]
    proc = subprocess.Popen([*RLGEN, *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        text = (run / "metrics.jsonl").read_text() if (run / "metrics.jsonl").exists() else ""
        if '"step": 1000,' in text:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = load_checkpoint(run / "checkpoints" / "last.pt")
    assert 300 <= killed["step"] < 3000 and killed["step"] % 300 == 0
    assert main(["resume", str(run)]) == 0
    final = load_checkpoint(run / "checkpoints" / "last.pt")
    assert final["step"] == sb3_zip(final)[0]["num_timesteps"] == 3000
    old, new = killed["algorithm"]["replay_buffer"], final["algorithm"]["replay_buffer"]
    assert new["pos"] == 3000 and np.array_equal(
        new["arrays"]["observations"][: old["pos"]], old["arrays"]["observations"]
    )
    steps = [
        r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "charts/sb3_fps" in r
    ]
    assert steps == list(range(100, 3001, 100))


def test_schedules_span_the_run_not_one_chunk(tmp_path):
    """SB3 measures schedule progress per learn() call; over chunks it must follow --steps."""
    dqn = tmp_path / "dqn"
    train_cli(dqn, "sb3:DQN", 400, "algo_kwargs.exploration_fraction=0.5", "eval_episodes=0")
    eps = {
        r["step"]: r["charts/epsilon"]
        for r in map(json.loads, (dqn / "metrics.jsonl").read_text().splitlines())
        if "charts/epsilon" in r
    }
    assert eps[100] == pytest.approx(1 - 100 / 200 * 0.95, abs=0.01) and eps[400] == pytest.approx(0.05)
    ppo = tmp_path / "ppo"
    train_cli(ppo, "sb3:PPO", 256, "algo_kwargs.learning_rate=lin_1e-3", "eval_episodes=0")
    lrs = [
        r["charts/learning_rate"]
        for r in map(json.loads, (ppo / "metrics.jsonl").read_text().splitlines())
        if "charts/learning_rate" in r
    ]
    assert lrs == pytest.approx([1e-3 * (1 - s / 256) for s in (64, 128, 192, 256)])


def test_maskable_ppo_keeps_to_legal_moves_in_pettingzoo(tmp_path):
    """Training on rlgen/Connect4-v0 with illegal=error raises IllegalMoveError on any illegal
    move, so a run that finishes made none; the loaded agent then plays PettingZoo's connect_four_v3."""
    run = tmp_path / "c4"
    train_cli(run, "sb3:MaskablePPO", 256, "trainer.eval_every=256", "env_kwargs.illegal=error")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and 0.0 <= summary["eval/score"] <= 1.0
    agent = load_agent(run)
    checked = LegalMovesOnly(agent)
    table = play_pettingzoo(connect_four_v3.env(), {"agent": checked, "random": RandomPolicy(0)}, games=6)
    assert sum(table["agent"].values()) == 6 and len(checked.moves) >= 6 * 3
    # A column the mask forbids is never chosen, even if the policy prefers it.
    mask = np.zeros(7, dtype=np.int8)
    mask[5] = 1
    assert agent.act({"observation": np.zeros((6, 7, 2), np.int8), "action_mask": mask}) == 5


def test_eval_against_other_opponents_and_plain_ppo_respects_masks(tmp_path):
    run = tmp_path / "ppo-c4"
    args = [
        "train",
        "sb3:PPO",
        "--env",
        "rlgen/Connect4-v0",
        "--steps",
        "64",
        "--run-dir",
        str(run),
        *COMMON,
        "--set",
        "env_kwargs.opponent=random",
        "--set",
        "env_kwargs.illegal=lose",
        "--set",
        "algo_kwargs.n_steps=64",
    ]
    assert main(args) == 0
    agent = load_agent(run)
    for column in range(7):  # with one legal column left, a plain PPO policy takes it
        mask = np.eye(7, dtype=bool)[column]
        assert agent.act(np.zeros((6, 7, 2), np.float32), mask) == column
    assert main(["eval", str(run), "--opponent", "alphabeta:1", "--games", "4"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["opponent"] == "alphabeta:1" and result["episodes"] == 4
    assert result["win_rate"] + result["draw_rate"] + result["loss_rate"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="action_mask has shape"):
        agent.act(np.zeros((6, 7, 2), np.float32), np.ones(9, dtype=bool))
    with pytest.raises(ConfigError, match=r"observation has shape \(4,\)"):
        agent.act(np.zeros(4, np.float32))


def test_clear_errors(tmp_path, capsys, monkeypatch):
    with pytest.raises(UnknownNameError, match="sb3:A2C, sb3:DQN, sb3:MaskablePPO, sb3:PPO, sb3:SAC, sb3:TD3"):
        get_algo("sb3:XYZ")
    ppo = get_algo("sb3:PPO").Config
    with pytest.raises(
        ConfigError,
        match=r"learnin_rate is not an argument of stable_baselines3.PPO; valid: learning_rate"
        r".*Did you mean 'learning_rate'",
    ):
        build_config(ppo, {}, ["algo_kwargs.learnin_rate=3e-4"])
    with pytest.raises(ConfigError, match="use --seed instead"):
        build_config(ppo, {}, ["algo_kwargs.seed=1"])
    with pytest.raises(UnknownNameError, match="choices: CnnPolicy, MlpPolicy, MultiInputPolicy"):
        build_config(ppo, {}, ["policy=TinyPolicy"])
    # Text numbers become numbers, nested keys nest, whole floats become ints where SB3 wants ints.
    cfg = build_config(
        get_algo("sb3:DQN").Config,
        {},
        ["algo_kwargs.learning_rate=3e-4", "algo_kwargs.buffer_size=1e4", "algo_kwargs.policy_kwargs.net_arch=[8,8]"],
    )
    assert cfg.algo_kwargs == {"learning_rate": 3e-4, "buffer_size": 10000, "policy_kwargs": {"net_arch": [8, 8]}}
    assert main(["train", "sb3:SAC", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "sac"), *COMMON]) == 2
    err = capsys.readouterr().err
    assert "sb3:SAC cannot be built on 'CartPole-v1'" in err and "Discrete(2)" in err
    assert main(["train", "sb3:PPO", "--set", "chunk=100", "--run-dir", str(tmp_path / "chunk"), *COMMON]) == 2
    assert "chunk=100 must be a multiple of n_steps x n_envs (one rollout) = 2048" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "sb3_contrib", None)  # as if sb3-contrib were not installed
    with pytest.raises(MissingExtraError, match='pip install "sb3-contrib'):
        build_config(get_algo("sb3:MaskablePPO").Config, {}, ["env=rlgen/Connect4-v0"])


def test_list_algos_shows_the_sb3_names(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["list", "algos"]) == 0
    out = capsys.readouterr().out
    for name in CASES:
        assert f"{name} " in out


@pytest.mark.slow
def test_ppo_balances_cartpole(tmp_path):
    """rl-zoo's CartPole-v1 PPO hyper-parameters: greedy mean return >= 475 in 50k steps."""
    run = tmp_path / "cartpole"
    zoo = [
        "n_envs=8",
        "algo_kwargs.n_steps=32",
        "algo_kwargs.batch_size=256",
        "algo_kwargs.gae_lambda=0.8",
        "algo_kwargs.gamma=0.98",
        "algo_kwargs.n_epochs=20",
        "algo_kwargs.ent_coef=0.0",
        "algo_kwargs.learning_rate=lin_1e-3",
        "algo_kwargs.clip_range=lin_0.2",
        "trainer.eval_every=25000",
        "eval_episodes=10",
    ]
    args = [
        "train",
        "sb3:PPO",
        "--env",
        "CartPole-v1",
        "--steps",
        "50000",
        "--run-dir",
        str(run),
        "--wandb",
        "disabled",
        "--set",
        "trainer.progress=off",
    ]
    for item in zoo:
        args += ["--set", item]
    assert main(args) == 0
    assert main(["eval", str(run), "--episodes", "20"]) == 0
    assert json.loads((run / "eval.json").read_text())["return_mean"] >= 475
