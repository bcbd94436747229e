"""REINFORCE, A2C, PPO: targets by hand, learning on small problems, masks, Gaussian
policies, presets, exact resume, errors; CartPole / InvertedPendulum floors (slow)."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
import torch
from conftest import StopAt, assert_same_state, run_cli
from pettingzoo.classic import tictactoe_v3

from rlgen.agents import load_agent
from rlgen.agents.gym_support import evaluate_episodes
from rlgen.agents.onpolicy import gae, log_prob_entropy
from rlgen.agents.ppo import PPOConfig
from rlgen.checkpoint import load_checkpoint
from rlgen.config import build_config
from rlgen.envs.arena import RandomPolicy, play_pettingzoo
from rlgen.errors import ConfigError, UnknownNameError
from rlgen.registry import get_algo
from rlgen.run import build_for_eval, resume, train

QUIET = ["wandb.mode=disabled", "trainer.progress=off"]
BANDIT = [
    "env=rlgen/Bandit-v0",
    "env_kwargs.k=2",
    "env_kwargs.means=[0.1, 0.9]",
    "env_kwargs.horizon=8",
    "num_envs=4",
    "n_steps=16",
    "trainer.eval_every=0",
    "eval_episodes=2",
    *QUIET,
]


def config(algo: str, *overrides: str):
    return build_config(get_algo(algo).Config, {}, [*overrides, *QUIET])


def test_gae_matches_a_hand_computation():
    rewards = np.array([[1.0], [0.0], [2.0]], np.float32)
    values = np.array([[0.5], [0.2], [0.1]], np.float32)
    dones = np.array([[0.0], [1.0], [0.0]], np.float32)
    last = np.array([0.3], np.float32)
    gamma, lam = 0.9, 0.8
    d2 = 2.0 + gamma * 0.3 - 0.1
    d1 = 0.0 - 0.2  # episode ends after step 1: no bootstrap, no flow from step 2
    d0 = 1.0 + gamma * 0.2 - 0.5
    expected = [d0 + gamma * lam * d1, d1, d2]
    np.testing.assert_allclose(gae(rewards, values, dones, last, gamma, lam)[:, 0], expected, rtol=1e-6)


def test_gaussian_log_prob_and_entropy_match_torch():
    mean, log_std = torch.randn(5, 3), torch.randn(5, 3) * 0.3
    actions = torch.randn(5, 3)
    log_p, entropy = log_prob_entropy((mean, log_std), actions, discrete=False)
    ref = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(log_p, ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, ref.entropy().sum(-1))


@pytest.mark.parametrize(
    ("act", "masked", "ent_coef"), [("tanh", False, 0.0), ("relu", True, 0.01), ("tanh", True, 0.05)]
)
def test_hand_written_ppo_gradient_matches_autograd(act, masked, ent_coef):
    """The twin (`ManualPPOLoss`) gives the reference `PPOLoss`'s terms, statistics and gradients."""
    from gymnasium import spaces

    from rlgen.agents._fast.ppo_loss import ManualPPOLoss
    from rlgen.agents.onpolicy import ActorCritic, Rollout
    from rlgen.agents.ppo import PPOConfig, PPOLoss

    torch.manual_seed(0)
    cfg = PPOConfig(hidden=[32, 16], activation=act, vf_coef=0.7, ent_coef=ent_coef)
    model = ActorCritic(6, spaces.Discrete(5), cfg)
    for param in model.parameters():
        param.data.normal_(0, 0.5)  # away from the tiny-output init, so every term has a real gradient
    obs, adv, returns = torch.randn(64, 6), torch.randn(64), torch.randn(64)
    masks = (torch.rand(64, 5) > 0.3) | (torch.arange(5) == 0) if masked else None
    with torch.no_grad():
        logits = model.policy(obs, masks)
        actions = torch.distributions.Categorical(logits=logits).sample()
        # ratios on both sides of the clip
        old = torch.log_softmax(logits, -1).gather(-1, actions[:, None]).squeeze(-1) + 0.3 * torch.randn(64)
    batch = Rollout(obs, actions, old, torch.zeros(64), adv, returns, masks)

    terms, stats, no_grads = PPOLoss(model, cfg, contextlib.nullcontext)(batch, adv, 0.2)
    assert no_grads is None and set(terms) == ({"policy", "value", "entropy"} if ent_coef else {"policy", "value"})
    model.zero_grad()
    sum(terms.values()).backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    assert 0 < stats[4] < 1  # the clip fraction: ratios on both sides of the clip
    manual = ManualPPOLoss.for_model(model, cfg.vf_coef, cfg.ent_coef)
    hand_terms, hand_stats, pairs = manual(batch, adv, 0.2)
    assert set(hand_terms) == set(terms)
    for name, value in terms.items():
        assert hand_terms[name].item() == pytest.approx(value.item(), rel=1e-5, abs=1e-6), name
    torch.testing.assert_close(hand_stats, stats, rtol=1e-5, atol=1e-6)
    by_param = {id(param): grad for param, grad in pairs}
    assert len(by_param) == len(ref_grads)
    for param, ref in zip(model.parameters(), ref_grads, strict=True):
        torch.testing.assert_close(by_param[id(param)], ref, rtol=1e-4, atol=1e-6)
    gaussian = ActorCritic(6, spaces.Box(-1, 1, (2,)), cfg)
    assert ManualPPOLoss.for_model(gaussian, 0.5, 0.0) is None  # the reference alone for Gaussian policies


def test_manual_and_autograd_ppo_updates_agree(tmp_path, monkeypatch):
    from rlgen.agents._fast.ppo_loss import ManualPPOLoss

    calls = []
    original = ManualPPOLoss.__call__
    monkeypatch.setattr(ManualPPOLoss, "__call__", lambda self, *args: calls.append(1) or original(self, *args))
    runs = {
        fused: train(
            "ppo",
            config(
                "ppo",
                "env=CartPole-v1",
                "num_envs=2",
                "n_steps=32",
                "batch_size=16",
                "n_epochs=2",
                "steps=128",
                "trainer.eval_every=0",
                f"manual_grad={fused}",
            ),
            tmp_path / str(fused),
        )
        for fused in (True, False)
    }
    a, b = (load_checkpoint(runs[f] / "checkpoints" / "last.pt")["models"]["policy"] for f in (True, False))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-5)
    assert calls, "the default run took the hand-written twin"
    assert any(not torch.equal(a[key], b[key]) for key in a), "both runs took the same path"  # float rounding differs


@pytest.mark.parametrize("algo", ["ppo", "a2c", "reinforce"])
def test_each_algorithm_learns_the_better_arm(tmp_path, algo):
    extra = ["optim.lr=0.01"] if algo != "ppo" else []
    run = train(algo, config(algo, *BANDIT, "steps=4096", *extra), tmp_path / algo)
    agent = load_agent(run, checkpoint="last")
    assert agent.act(0) == 1
    summary = json.loads((run / "summary.json").read_text())
    assert summary["charts/episode_return"] > 0.75 * 8, summary  # 0.9 per pull at best, 0.1 at worst


def test_presets_sit_under_file_values_and_overrides():
    cfg = build_config(PPOConfig, {}, ["env=CartPole-v1"])
    assert (cfg.n_epochs, cfg.gae_lambda, cfg.optim.lr, cfg.optim.schedule) == (20, 0.8, 1e-3, "linear")
    cfg = build_config(PPOConfig, {"n_epochs": 3, "optim": {"eps": 1e-7}}, ["env=CartPole-v1", "gamma=0.9"])
    assert (cfg.n_epochs, cfg.gamma, cfg.optim.eps, cfg.optim.lr) == (3, 0.9, 1e-7, 1e-3)
    cfg = build_config(PPOConfig, {}, ["env=Pendulum-v1"])  # any Box action space: the continuous recipe
    assert cfg.normalize_obs and cfg.num_envs == 1 and cfg.n_steps == 2048


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_resume_continues_exactly(tmp_path, algo):
    common = [
        "env=CartPole-v1",
        "num_envs=2",
        "n_steps=16",
        "trainer.checkpoint_every=32",
        "trainer.eval_every=64",
        "eval_episodes=1",
        "normalize_obs=true",
        "normalize_reward=true",
    ]
    whole = train(algo, config(algo, *common, "steps=256"), tmp_path / "whole")
    part = train(algo, config(algo, *common, "steps=256"), tmp_path / "part", callbacks=(StopAt(128),))
    assert json.loads((part / "summary.json").read_text())["status"].startswith("stopped")
    resume(part)
    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(part / "checkpoints" / "last.pt")
    # weights, Adam moments and schedule, observation and return normalizers, the envs'
    # states and every generator
    for section in ("models", "optimizers", "states", "algorithm"):
        assert_same_state(a[section], b[section], section)

    def evals(run):
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [(m["step"], m["eval/return_mean"]) for m in lines if "eval/return_mean" in m]

    assert evals(part) == evals(whole) and len(evals(whole)) == 4


def test_masked_policy_never_plays_an_illegal_move_and_acts_in_pettingzoo(tmp_path):
    # illegal=error: the env raises IllegalMoveError on an illegal move, so finishing proves the masks work
    run = train(
        "ppo",
        config(
            "ppo",
            "env=rlgen/TicTacToe-v0",
            "env_kwargs.illegal=error",
            "num_envs=4",
            "n_steps=32",
            "steps=1024",
            "batch_size=64",
            "trainer.eval_every=512",
            "eval_episodes=4",
        ),
        tmp_path / "ttt",
    )
    agent = load_agent(run)
    chosen: list[bool] = []

    def checked(observation: dict) -> int:
        action = agent.act(observation)  # the PettingZoo dict, mask inside
        chosen.append(bool(observation["action_mask"][action]))
        return action

    table = play_pettingzoo(tictactoe_v3.env(), {"agent": checked, "random": RandomPolicy(seed=1)}, games=10, seed=3)
    assert sum(table["agent"].values()) == 10 and chosen and all(chosen)


def test_gaussian_policy_acts_inside_the_action_bounds(tmp_path):
    run = train(
        "ppo",
        config(
            "ppo",
            "env=Pendulum-v1",
            "n_steps=64",
            "batch_size=32",
            "n_epochs=2",
            "steps=128",
            "trainer.eval_every=0",
            "eval_episodes=1",
            "log_std_init=2.0",
        ),
        tmp_path / "pend",
    )
    algorithm, _, _ = build_for_eval(run)
    assert algorithm.obs_rms.count >= 128  # the normalization the policy was trained with comes back for acting
    observations = [
        np.array([np.cos(a), np.sin(a), 8.0 * b], np.float32)
        for a, b in zip(np.linspace(0, 6, 20), np.linspace(-1, 1, 20), strict=True)
    ]
    assert all(a.shape == (1,) and -2.0 <= a[0] <= 2.0 for a in map(load_agent(run).act, observations))
    # A freshly trained mean stays near 0 (the head starts at gain 0.01): push it far out of
    # Pendulum's [-2, 2] so the bound, not the network, decides the action.
    for bias, bound in ((10.0, 2.0), (-10.0, -2.0)):
        with torch.no_grad():
            algorithm.model.pi_head.mean.bias.fill_(bias)
        assert all(a.shape == (1,) and a[0] == bound for a in map(algorithm.agent().act, observations))


def test_clear_errors():
    with pytest.raises(UnknownNameError, match="CartPole-v1"):
        config("ppo", "env=CartPole-v9")
    with pytest.raises(ConfigError, match="n_steps must be >= 1"):
        config("a2c", "n_steps=0")
    with pytest.raises(ConfigError, match="do not fit 'CartPole-v1'"):
        train("ppo", config("ppo", "env=CartPole-v1", "env_kwargs.colour=red", "steps=64"))


def test_eval_cli_writes_eval_json(tmp_path):
    run = train("a2c", config("a2c", *BANDIT, "steps=256"), tmp_path / "run")
    out = run_cli("eval", str(run), "--episodes", "3")
    result = json.loads((run / "eval.json").read_text())
    assert result["episodes"] == 3 and 0 <= result["return_mean"] <= 8
    assert "return_mean" in out.stdout
    proc = run_cli("eval", str(run), "--opponent", "random", check=False)
    assert proc.returncode != 0 and "no opponent" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "a2c", "reinforce"])
def test_cartpole_floor(tmp_path, algo):
    """Default configs: greedy mean return >= 475 over 20 fresh episodes."""
    run = train(algo, config(algo, "env=CartPole-v1"), tmp_path / algo)
    result = evaluate_episodes("CartPole-v1", load_agent(run).act, episodes=20, seed=2024)
    assert result["return_mean"] >= 475, result


@pytest.mark.slow
def test_inverted_pendulum_floor(tmp_path):
    run = train("ppo", config("ppo", "env=InvertedPendulum-v5"), tmp_path / "ip")
    result = evaluate_episodes("InvertedPendulum-v5", load_agent(run).act, episodes=20, seed=2024)
    assert result["return_mean"] >= 950, result
