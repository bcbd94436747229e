"""Bandit agents: the KL-UCB index, learning on small horizons, exact resume, eval and
load_agent, clear errors; the reference-problem floors are marked slow."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from rlgen.agents import load_agent
from rlgen.agents.bandits import AGENTS, BanditActor, BanditConfig, Experiment, bernoulli_kl, kl_ucb_index
from rlgen.checkpoint import load_checkpoint
from rlgen.cli import main
from rlgen.config import build_config, validate
from rlgen.errors import ConfigError, UnknownNameError
from rlgen.run import train

REFERENCE = "env_kwargs.means=[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]"
QUIET = ["wandb.mode=disabled", "trainer.progress=off"]


def config(*overrides: str) -> BanditConfig:
    return build_config(BanditConfig, {}, [*QUIET, *overrides])


def regret_at_half_and_end(cfg: BanditConfig, steps: int) -> tuple[float, float]:
    """Mean cumulative regret over the runs after steps/2 and after steps."""
    experiment = Experiment(cfg)
    for _ in range(steps // 2):
        experiment.step()
    half = float(experiment.sim.regret.mean())
    for _ in range(steps - steps // 2):
        experiment.step()
    return half, float(experiment.sim.regret.mean())


def test_kl_ucb_index_solves_the_kl_equation():
    rng = np.random.default_rng(0)
    p = rng.random(20_000) ** rng.choice([0.25, 1.0, 4.0], 20_000)  # many near 0 and near 1
    p[:100], p[100:200] = 0.0, 1.0
    counts = rng.integers(1, 20_000, 20_000).astype(float)
    level = 7.0
    lo, hi = p.copy(), np.ones_like(p)  # bisection: counts * KL(p, lo) <= level < counts * KL(p, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(60):
            mid = (lo + hi) / 2
            inside = counts * bernoulli_kl(p, mid) <= level
            lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    index = kl_ucb_index(p, counts, level)
    assert np.abs(index - lo).max() < 1e-9
    assert np.all(index >= p) and np.all(index[100:200] == 1.0)
    assert np.array_equal(kl_ucb_index(np.array([0.3, 1.0]), np.array([5.0, 5.0]), 0.0), [0.3, 1.0])  # no budget: q = p


def test_agents_learn_on_a_small_horizon():
    """1000 steps x 200 runs of the reference problem: uniform play has regret 0.4 t and
    grows linearly; every agent does far better, and KL-UCB / Thompson grow sublinearly."""
    random_half, random_end = regret_at_half_and_end(
        config(REFERENCE, "runs=200", "agent=epsilon_greedy", "epsilon=1"), 1000
    )
    assert 380 < random_end < 420 and 1.9 < random_end / random_half < 2.1
    final = {}
    for agent in AGENTS:
        half, end = regret_at_half_and_end(config(REFERENCE, "runs=200", f"agent={agent}"), 1000)
        final[agent] = end
        assert end < 0.5 * random_end, (agent, end)
        if agent in ("kl_ucb", "thompson_beta"):
            assert end - half < 0.35 * half, (agent, half, end)  # log-like growth, not linear
    assert final["thompson_beta"] < final["ucb1"] and final["kl_ucb"] < final["ucb1"]


def test_every_agent_explores_where_greedy_locks_onto_the_worse_arm():
    """Two close arms (0.4 / 0.6): pure greedy sticks with whichever arm paid first, so its
    regret grows linearly; an agent whose exploration is lost (UCB1 without its bonus, say)
    would too. Every agent's regret is a fraction of greedy's."""
    close = "env_kwargs.means=[0.4,0.6]"
    greedy_half, greedy_end = regret_at_half_and_end(
        config(close, "runs=400", "agent=epsilon_greedy", "epsilon=0"), 2000
    )
    assert 1.8 < greedy_end / greedy_half < 2.2 and greedy_end > 90, (greedy_half, greedy_end)
    for agent in AGENTS:
        _, end = regret_at_half_and_end(config(close, "runs=400", f"agent={agent}"), 2000)
        assert end < 0.4 * greedy_end, (agent, end, greedy_end)


def test_agents_learn_gaussian_problems():
    gaussian = ["env_kwargs.reward=gaussian", "env_kwargs.k=5", "env_kwargs.sigma=1.0", "runs=200"]
    _, random_end = regret_at_half_and_end(config(*gaussian, "agent=epsilon_greedy", "epsilon=1"), 600)
    for agent in AGENTS:
        if agent != "thompson_beta":
            _, end = regret_at_half_and_end(config(*gaussian, f"agent={agent}"), 600)
            assert end < 0.3 * random_end, (agent, end, random_end)


@pytest.mark.parametrize("agent", ["thompson_beta", "gradient"])
def test_cli_resume_is_exact(tmp_path, agent):
    """650 steps in one go == 325 steps, then `rlgen resume --steps 650` (chunks of 100,
    so both runs end on a short chunk and the resume starts mid-chunk)."""
    args = [
        "train",
        "bandit",
        "--env",
        "rlgen/Bandit-v0",
        "--wandb",
        "disabled",
        "--set",
        "trainer.progress=off",
        "--set",
        f"agent={agent}",
        "--set",
        "runs=50",
        "--set",
        "env_kwargs.k=5",
        "--set",
        "trainer.checkpoint_every=200",
    ]
    assert main([*args, "--steps", "650", "--run-dir", str(tmp_path / "whole")]) == 0
    assert main([*args, "--steps", "325", "--run-dir", str(tmp_path / "split")]) == 0
    assert main(["resume", str(tmp_path / "split"), "--steps", "650"]) == 0
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 650
    sa, sb = a["states"]["bandit"], b["states"]["bandit"]
    assert sa["t"] == sb["t"] == 650 and np.any(sa["regret"] > 0)
    for key in ("regret", "means", "reward_sum", "optimal_pulls"):
        assert np.array_equal(sa[key], sb[key]), key
    for key, value in sa["learner"].items():
        assert np.array_equal(value, sb["learner"][key]), key
    assert sa["rng"] == sb["rng"] and sa["sim_rng"] == sb["sim_rng"]
    lines = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    steps = [m["step"] for m in lines if "regret/mean" in m]
    assert steps == [100, 200, 300, 325, 400, 500, 600, 650]  # logged once each, across the resume


def test_training_logs_plots_and_evaluates(tmp_path):
    run = train(
        "bandit",
        config(REFERENCE, "agent=kl_ucb", "runs=100", "steps=1000", "trainer.eval_every=500"),
        tmp_path / "run",
    )
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [m for m in metrics if "regret/mean" in m]
    assert [m["step"] for m in logged] == list(range(100, 1001, 100))
    for m in logged:
        assert m["regret/p05"] <= m["regret/p25"] <= m["regret/p50"] <= m["regret/p75"] <= m["regret/p95"]
        assert 0 <= m["charts/pct_optimal"] <= 100 and 0 < m["charts/avg_reward"] < 0.9
    means = [m["regret/mean"] for m in logged]
    assert means == sorted(means)
    assert sorted(p.name for p in (run / "media").glob("charts_regret_curve_*.png")) == [
        "charts_regret_curve_00000500.png",
        "charts_regret_curve_00001000.png",
    ]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["eval/lai_robbins_bound"] == pytest.approx(
        7.517 * np.log(1000), rel=1e-3
    )
    # `rlgen eval` rebuilds the run from its checkpoint: the same final regret, not a fresh start.
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["steps"] == 1000 and result["runs"] == 100
    assert result["regret_mean"] == pytest.approx(logged[-1]["regret/mean"])
    assert result["regret_p05"] <= result["regret_p50"] <= result["regret_p95"]
    assert result["pct_best_identified"] > 90  # 1000 steps of KL-UCB find the 0.9 arm in nearly every run


def test_load_agent_pulls_the_arm_it_believes_best(tmp_path):
    run = train("bandit", config(REFERENCE, "agent=thompson_beta", "runs=20", "steps=1500"), tmp_path / "run")
    agent = load_agent(run)
    assert agent.act(0) == 8  # the 0.9 arm
    mask = np.ones(9, dtype=bool)
    mask[8] = False
    assert agent.act(0, action_mask=mask) == 7  # the best arm it may pull
    with pytest.raises(ValueError, match="9 arms"):
        agent.act(0, action_mask=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="allows no arm"):
        agent.act(0, action_mask=np.zeros(9, dtype=bool))
    assert yaml.safe_load((run / "config.yaml").read_text())["env_kwargs"]["k"] == 9  # the problem in full


def test_actor_pulls_the_best_allowed_arm():
    actor = BanditActor(np.array([-np.inf, 0.4, 0.7, 0.7, -np.inf]))  # arms 0 and 4 never pulled
    assert actor.act() == 2  # ties: the lowest arm
    assert actor.act(0, action_mask=np.array([1, 1, 0, 1, 1])) == 3
    assert actor.act(0, action_mask=np.array([0, 0, 0, 1, 1])) == 3
    assert actor.act(0, action_mask=np.array([1, 0, 0, 0, 1])) == 0  # only never-pulled arms: the first


def test_problem_is_written_out_in_full():
    """The built config holds the whole problem (so config.yaml does); checking it again
    changes nothing, and means given later (a file's, then --set) still decide k."""
    assert config().env_kwargs == {"k": 10, "reward": "bernoulli", "means": None, "sigma": 1.0, "drift": 0.0}
    full = {"k": 3, "reward": "bernoulli", "means": [0.2, 0.5, 0.8], "sigma": 1.0, "drift": 0.0}
    cfg = config("env_kwargs.means=[0.2,0.5,0.8]")
    assert cfg.env_kwargs == full
    validate(cfg)
    assert cfg.env_kwargs == full
    filed = build_config(BanditConfig, {"env_kwargs": {"means": [0.1, 0.9]}}, ["env_kwargs.means=[0.1,0.5,0.9]"])
    assert filed.env_kwargs["k"] == 3 and filed.env_kwargs["means"] == [0.1, 0.5, 0.9]
    gaussian = config("env_kwargs.reward=gaussian", "env_kwargs.sigma=0.5", "agent=ucb1")
    assert gaussian.env_kwargs == {"k": 10, "reward": "gaussian", "means": None, "sigma": 0.5, "drift": 0.0}
    with pytest.raises(ConfigError, match="means has 2 arms but k=4"):
        config("env_kwargs.k=4", "env_kwargs.means=[0.2,0.8]")


def test_clear_errors(capsys):
    with pytest.raises(
        UnknownNameError, match=r"unknown bandit agent 'thompson'\. Did you mean 'thompson_beta'\?.*kl_ucb"
    ):
        config("agent=thompson")
    with pytest.raises(ConfigError, match=r"epsilon must be in \[0, 1\], got 1.5"):
        config("epsilon=1.5")
    with pytest.raises(ConfigError, match="prior_alpha must be > 0"):
        config("prior_alpha=0")
    with pytest.raises(ConfigError, match="thompson_beta needs Bernoulli rewards.*use thompson_gaussian"):
        config("agent=thompson_beta", "env_kwargs.reward=gaussian")
    with pytest.raises(UnknownNameError, match="Did you mean 'gaussian'.*choices: bernoulli, gaussian"):
        config("env_kwargs.reward=gausian")
    with pytest.raises(UnknownNameError, match="unknown bandit env_kwargs key 'mean'.*Did you mean 'means'"):
        config("env_kwargs.mean=[0.2,0.8]")
    with pytest.raises(ConfigError, match="--steps sets the horizon"):
        config("env_kwargs.horizon=100")
    with pytest.raises(ConfigError, match="at least 2 arms"):
        config("env_kwargs.k=1")
    with pytest.raises(ConfigError, match=r"Bernoulli means must lie in \[0, 1\]"):
        config("env_kwargs.means=[0.5,1.5]")
    with pytest.raises(UnknownNameError, match="unknown bandit environment 'CartPole-v1'"):
        config("env=CartPole-v1")
    assert config("env_kwargs.means=[0.2,0.5,0.8]").env_kwargs["k"] == 3  # k follows the means
    assert main(["train", "bandit", "--set", "agent=ucb", "--wandb", "disabled"]) == 2
    assert "unknown bandit agent 'ucb'" in capsys.readouterr().err


@pytest.mark.slow
def test_reference_problem_floors(tmp_path):
    """9 Bernoulli arms 0.1..0.9, T = 10,000, 500 runs: mean final regret of Thompson <= 60
    and KL-UCB <= 65 (published ~51 and ~54); both well below UCB1's."""
    final = {}
    for agent in ("thompson_beta", "kl_ucb", "ucb1"):
        run = train("bandit", config(REFERENCE, f"agent={agent}", "runs=500", "steps=10000"), tmp_path / agent)
        final[agent] = json.loads((run / "eval.json").read_text())["regret_mean"]
    assert final["thompson_beta"] <= 60 and final["kl_ucb"] <= 65, final
    assert final["ucb1"] > 2 * max(final["thompson_beta"], final["kl_ucb"]), final
