"""SAC and TD3 (rlgen.agents.offpolicy / sac / td3): the squashed-Gaussian log-probability
against torch's own distribution, Polyak targets, TD3's delayed actor, hindsight
relabelling scored by the env's own compute_reward, exact resume with half-finished
episodes, clear errors, and (slow) learning on a goal task and on FetchReach."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import StopAt, needs_extra
from goal_env import POINT_GOAL, PointGoal
from gymnasium import spaces

from rlgen.agents import load_agent
from rlgen.agents.offpolicy import Critics, HindsightReplay, check_env_spaces, polyak_update
from rlgen.agents.sac import SAC, SACConfig, squashed_sample
from rlgen.agents.td3 import TD3, TD3Config
from rlgen.checkpoint import load_checkpoint
from rlgen.config import build_config
from rlgen.errors import ConfigError, NonFiniteLossError
from rlgen.run import evaluate, resume, train
from rlgen.trainer import Trainer

QUIET = ["wandb.mode=disabled", "trainer.progress=off"]
TINY_GOAL = [
    f"env={POINT_GOAL}",
    "steps=600",
    "num_envs=2",
    "learning_starts=100",
    "batch_size=32",
    "hidden=[32,32]",
    "train_freq=2",
    "gradient_steps=2",
    "eval_episodes=2",
    "trainer.eval_every=0",
    "trainer.checkpoint_every=100",
    "trainer.log_every=50",
    "trainer.final_report=false",
]


def build(cls, config_cls, tmp_path, *overrides: str):
    cfg = build_config(config_cls, {}, [*QUIET, *overrides])
    trainer = Trainer(cfg, tmp_path)
    algorithm = cls(cfg, trainer)
    trainer.algorithm = algorithm
    return algorithm


# ----------------------------------------------------------------------------- pieces


def test_squashed_gaussian_log_probability_matches_torch_distributions():
    torch.manual_seed(0)
    mean, log_std = torch.randn(64, 3), torch.randn(64, 3).clamp(-2, 1)
    noise = torch.randn(64, 3)
    actions, log_prob = squashed_sample(mean, log_std, noise)
    base = torch.distributions.Normal(mean.double(), log_std.double().exp())
    reference = torch.distributions.TransformedDistribution(base, [torch.distributions.TanhTransform()])
    u = (mean + log_std.exp() * noise).double()
    expected = reference.log_prob(torch.tanh(u)).sum(-1)
    assert torch.allclose(actions.double(), torch.tanh(u), atol=1e-6)
    keep = torch.tanh(u).abs().max(dim=1).values < 0.999  # atanh of the reference loses precision at +-1
    assert keep.sum() > 40
    assert torch.allclose(log_prob.double()[keep], expected[keep], atol=1e-4)


def test_polyak_update_moves_the_target_by_tau():
    torch.manual_seed(0)
    online, target = Critics(4, 2, [8], 2), Critics(4, 2, [8], 2)
    before = [p.detach().clone() for p in target.parameters()]
    polyak_update(target, online, 0.1)
    for old, new, o in zip(before, target.parameters(), online.parameters(), strict=True):
        assert torch.allclose(new, 0.9 * old + 0.1 * o)


def test_twin_critics_are_independent_networks():
    critics = Critics(3, 1, [16, 16], 2)
    obs, act = torch.randn(5, 3), torch.randn(5, 1)
    q = critics(obs, act)
    assert q.shape == (2, 5) and not torch.allclose(q[0], q[1])
    assert torch.equal(critics(obs, act, members=1), q[:1])  # TD3's actor reads the first alone


def record_gradients(agent) -> list[tuple[str, list[torch.Tensor]]]:
    """(optimizer, gradients of its parameters) of every optimizer step the agent takes from now on."""
    steps: list[tuple[str, list[torch.Tensor]]] = []
    optimize = agent.trainer.optimize

    def recording(losses, optimizer="main", grads=None):
        metrics = optimize(losses, optimizer, grads)
        steps.append((optimizer, [p.grad.clone() for p in agent.trainer.optimizers[optimizer].params]))
        return metrics

    agent.trainer.optimize = recording
    return steps


@pytest.mark.parametrize(
    "precision,activation,ent_coef", [("fp32", "relu", "auto"), ("fp32", "tanh", "0.2"), ("bf16", "relu", "auto")]
)
def test_sac_hand_written_step_matches_autograd(tmp_path, precision, activation, ent_coef):
    """The twin (`manual_grad`, the default) gives every optimizer the gradients autograd
    gives the reference `update`, step after step, and the same metrics: to float rounding
    in fp32, to bf16's in bf16."""
    agents, steps = [], []
    for manual in (True, False):
        agent = build(SAC, SACConfig, tmp_path / str(manual), "env=Pendulum-v1", "hidden=[32,16]",
                      "learning_starts=0", f"manual_grad={manual}", f"trainer.precision={precision}",
                      f"activation={activation}", f"ent_coef={ent_coef}")  # fmt: skip
        assert (agent.fast_update is not None) == manual
        torch.manual_seed(1)
        with torch.no_grad():  # away from the initial weights, so every term has a real gradient
            for param in agent.actor.parameters():
                param.normal_(0, 0.5)
            agent.actor.log_std.bias.fill_(2.0)  # about half the log stds beyond the clamp at 2
        for _ in range(60):
            agent.collect()
        agents.append(agent)
        steps.append(record_gradients(agent))
    metrics = [agent.learn(3) for agent in agents]
    assert metrics[0].keys() == metrics[1].keys()
    for name, value in metrics[1].items():
        assert metrics[0][name] == pytest.approx(value, rel=1e-5 if precision == "fp32" else 2e-2, abs=1e-6), name
    expected = ["ent_coef", "critic", "actor"] if ent_coef == "auto" else ["critic", "actor"]
    assert [name for name, _ in steps[0]] == [name for name, _ in steps[1]] == expected * 3
    tolerance = 1e-4 if precision == "fp32" else 3e-2
    for (name, manual), (_, reference) in zip(*steps, strict=True):
        for got, want in zip(manual, reference, strict=True):
            assert want.abs().max() > 0, name
            torch.testing.assert_close(got, want, rtol=0, atol=tolerance * float(want.abs().max()), msg=name)


def test_sac_hand_written_step_runs_bf16_where_autocast_does_and_leaves_the_rest_to_the_reference(tmp_path):
    bf16 = build(SAC, SACConfig, tmp_path / "bf16", "env=Pendulum-v1", "hidden=[16]", "trainer.precision=bf16")
    obs, actions = torch.randn(8, 3), torch.rand(8, 1) * 2 - 1
    weights, saved, q = bf16.fast_update._critic_forward(bf16.critic, obs, actions)
    assert [w.dtype for w in weights] == [torch.bfloat16] and saved[1].dtype == torch.bfloat16
    assert q.dtype == torch.float32 and q.shape == (2, 8)
    with bf16.trainer.autocast():
        torch.testing.assert_close(q, bf16.critic(obs, actions), rtol=1e-5, atol=1e-5)  # the reference's Q
    for setting in ("activation=gelu", "optim.l2=0.01", "manual_grad=false"):
        agent = build(SAC, SACConfig, tmp_path / setting, "env=Pendulum-v1", "hidden=[16]", setting)
        assert agent.fast_update is None, setting


def test_sac_hand_written_step_stops_on_a_non_finite_batch_as_the_reference_does(tmp_path):
    agent = build(SAC, SACConfig, tmp_path, "env=Pendulum-v1", "hidden=[16]", "learning_starts=0")
    for _ in range(40):
        agent.collect()
    raw = agent.replay.sample(agent.rng, 16, None)
    batch = {"inputs": agent.tensor(raw["obs"]), "actions": agent.tensor(raw["actions"]),
             "rewards": agent.tensor(raw["rewards"]), "next_inputs": agent.tensor(raw["next_obs"]),
             "terminated": agent.tensor(raw["terminated"])}  # fmt: skip
    batch["next_inputs"][3, 1] = float("nan")
    before = [p.detach().clone() for p in agent.critic.parameters()]
    with pytest.raises(NonFiniteLossError, match="critic"):
        agent.fast_update(batch)
    assert all(torch.equal(a, b) for a, b in zip(before, agent.critic.parameters(), strict=True))


def test_td3_moves_its_actor_every_policy_delay_critic_steps(tmp_path):
    td3 = build(TD3, TD3Config, tmp_path, "env=Pendulum-v1", "hidden=[16]", "policy_delay=3", "learning_starts=0")
    td3.collect()
    for _ in range(40):
        td3.collect()
    actor_moves, critic_moves = [], []
    for _ in range(9):
        actor_before = [p.detach().clone() for p in td3.actor.parameters()]
        critic_before = [p.detach().clone() for p in td3.critic.parameters()]
        td3.learn(1)
        actor_moves.append(
            any(not torch.equal(a, p) for a, p in zip(actor_before, td3.actor.parameters(), strict=True))
        )
        critic_moves.append(
            any(not torch.equal(a, p) for a, p in zip(critic_before, td3.critic.parameters(), strict=True))
        )
    assert critic_moves == [True] * 9
    assert actor_moves == [False, False, True] * 3


@pytest.mark.parametrize("prob", [0.0, 0.3, 1.0])
def test_random_action_prob_replaces_that_share_of_policy_actions_with_uniform_ones(tmp_path, prob):
    td3 = build(
        TD3,
        TD3Config,
        tmp_path,
        "env=Pendulum-v1",
        "hidden=[16]",
        "learning_starts=0",
        "num_envs=4",
        f"random_action_prob={prob}",
    )
    td3.explore = lambda inputs: np.full((len(inputs), td3.act_dim), 0.25, np.float32)
    for _ in range(250):
        td3.collect()
    actions = td3.replay.buffer.arrays["actions"][: len(td3.replay)]
    replaced = actions[:, 0] != np.float32(0.25)
    assert replaced.mean() == pytest.approx(prob, abs=0.05)
    if prob:
        assert actions[replaced].min() >= -1.0 and actions[replaced].max() <= 1.0
        assert actions[replaced].std() == pytest.approx(2 / np.sqrt(12), rel=0.15)  # uniform on [-1, 1]
    with pytest.raises(ConfigError, match=r"random_action_prob must be in \[0, 1\]"):
        build_config(TD3Config, {}, ["random_action_prob=1.5"])


def test_td3_action_l2_pulls_the_actors_actions_toward_zero(tmp_path):
    def mean_abs_action(action_l2: float) -> float:
        td3 = build(
            TD3,
            TD3Config,
            tmp_path / str(action_l2),
            "env=Pendulum-v1",
            "hidden=[32]",
            "learning_starts=0",
            "policy_delay=1",
            "seed=3",
            f"action_l2={action_l2}",
        )
        for _ in range(200):
            td3.collect()
        td3.learn(150)
        inputs = td3.observations.inputs(td3.replay.buffer.arrays["obs"][:200], None)
        return float(np.abs(td3.greedy(inputs)).mean())

    plain, penalized = mean_abs_action(0.0), mean_abs_action(1000.0)
    assert penalized < 0.05 < plain


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_bf16_precision_runs_hidden_layers_in_bf16_and_the_heads_in_fp32(tmp_path, algo):
    """trainer.precision reaches the update: bf16 matmuls in the hidden layers, while the Q
    values and the actions come from fp32 heads (bf16 would round Q ~ 500 to steps of 2-4)."""
    cls, config_cls = (SAC, SACConfig) if algo == "sac" else (TD3, TD3Config)
    for precision, hidden_dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        reference = ["manual_grad=false"] if algo == "sac" else []  # the twin's passes: the test below
        agent = build(cls, config_cls, tmp_path / precision, "env=Pendulum-v1", "hidden=[16]", "learning_starts=0",
                      f"trainer.precision={precision}", *reference)  # fmt: skip
        for _ in range(40):
            agent.collect()
        actor_layers = list(agent.actor.trunk) + [agent.actor.mean] if algo == "sac" else list(agent.actor.net)
        watched = {"critic hidden": agent.critic.net[0], "critic head": agent.critic.net[-1],
                   "actor hidden": actor_layers[0], "actor head": actor_layers[-1]}  # fmt: skip
        seen: dict[str, set[torch.dtype]] = {name: set() for name in watched}
        for name, layer in watched.items():
            layer.register_forward_hook(lambda _m, _i, out, name=name, seen=seen: seen[name].add(out.dtype))
        agent.learn(2)
        assert seen == {"critic hidden": {hidden_dtype}, "critic head": {torch.float32},
                        "actor hidden": {hidden_dtype}, "actor head": {torch.float32}}, precision  # fmt: skip
        assert all(p.dtype == torch.float32 and p.isfinite().all() for p in agent.critic.parameters())


# ----------------------------------------------------------------------------- hindsight replay


def test_her_relabels_with_a_later_achieved_goal_of_the_same_episode_and_the_envs_reward():
    env = gym.make(POINT_GOAL)
    replay = HindsightReplay(10_000, 3, 3, 3, num_envs=1, her=True, relabel=1.0)
    rng = np.random.default_rng(0)
    episodes = []
    for episode in range(6):
        obs, _ = env.reset(seed=episode)
        rows = []
        for t in range(30):
            action = rng.uniform(-1, 1, 3).astype(np.float32)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            row = {
                "obs": obs["observation"][None],
                "actions": action[None],
                "rewards": np.array([reward], np.float32),
                "next_obs": next_obs["observation"][None],
                "terminated": np.zeros(1, np.float32),
                "goal": obs["desired_goal"][None],
                "next_achieved": next_obs["achieved_goal"][None],
            }
            replay.add(row, np.array([truncated]))
            assert len(replay) == (30 * episode if t < 29 else 30 * (episode + 1))  # whole episodes only
            rows.append(next_obs["achieved_goal"].copy())
            obs = next_obs
        episodes.append(np.stack(rows))
    batch_index = np.random.default_rng(1)
    batch = replay.sample(batch_index, 512, env.unwrapped.compute_reward)
    index = np.random.default_rng(1).integers(0, len(replay), 512)  # the rows the batch drew
    for row, goal, reward, achieved in zip(index, batch["goal"], batch["rewards"], batch["next_achieved"], strict=True):
        episode, step = divmod(int(row), 30)
        later = episodes[episode][step:]
        assert np.any(np.all(later == goal, axis=1)), "the goal is not a later achieved goal of the episode"
        assert reward == env.unwrapped.compute_reward(achieved, goal, None)
    assert (batch["rewards"] == 0).mean() > 0.05  # relabelling makes successes out of failures


def test_her_ratio_follows_n_sampled_goal(tmp_path):
    sac = build(SAC, SACConfig, tmp_path, *TINY_GOAL, "n_sampled_goal=4")
    assert sac.her and sac.replay.relabel == pytest.approx(0.8)
    plain = build(SAC, SACConfig, tmp_path / "plain", *TINY_GOAL, "her=false")
    assert not plain.her


# ----------------------------------------------------------------------------- runs and resume


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_resume_continues_exactly_with_half_finished_episodes(tmp_path, algo):
    config_cls = SACConfig if algo == "sac" else TD3Config
    cfg = build_config(config_cls, {}, [*QUIET, *TINY_GOAL])
    whole = train(algo, cfg, tmp_path / "whole")
    half = train(algo, build_config(config_cls, {}, [*QUIET, *TINY_GOAL]), tmp_path / "half", callbacks=(StopAt(312),))
    stopped = load_checkpoint(half / "checkpoints" / "last.pt")
    assert stopped["step"] == 312 and any(stopped["algorithm"]["replay"]["pending"])  # mid-episode
    resume(half)
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (whole, half))
    assert a["step"] == b["step"] == 600
    for model, weights in a["models"].items():
        for key, tensor in weights.items():
            assert torch.equal(tensor, b["models"][model][key]), f"{model}.{key}"
    for key, value in a["algorithm"]["replay"]["buffer"]["arrays"].items():
        assert np.array_equal(value, b["algorithm"]["replay"]["buffer"]["arrays"][key]), key
    assert a["algorithm"]["rng"] == b["algorithm"]["rng"]


def test_load_agent_acts_on_raw_goal_dicts_and_vectors(tmp_path):
    run = train("sac", build_config(SACConfig, {}, [*QUIET, *TINY_GOAL, "steps=200"]), tmp_path / "goal")
    agent = load_agent(run, checkpoint="last")
    env = gym.make(POINT_GOAL)
    obs, _ = env.reset(seed=0)
    action = agent.act(obs)
    assert action.shape == (3,) and env.action_space.contains(action)
    assert np.array_equal(action, agent.act(obs))  # deterministic
    pendulum = train(
        "td3",
        build_config(
            TD3Config, {}, [*QUIET, "env=Pendulum-v1", "steps=300", "hidden=[16]", "trainer.final_report=false"]
        ),
        tmp_path / "pendulum",
    )
    agent = load_agent(pendulum, checkpoint="last")
    action = agent.act(np.zeros(3, np.float32))
    assert action.shape == (1,) and -2.0 <= action[0] <= 2.0  # scaled to Pendulum's [-2, 2]
    with pytest.raises(ValueError, match="one observation of 3 values"):
        agent.act(np.zeros(5, np.float32))
    result = evaluate(pendulum, episodes=1, checkpoint="last")  # a greedy episode rendered to media/
    video = pendulum / result["video"]
    assert video.suffix == ".gif" and video.stat().st_size > 0
    assert evaluate(run, episodes=1, checkpoint="last")["video"].startswith("not rendered")  # no render()


# ----------------------------------------------------------------------------- errors


def test_bad_envs_and_settings_get_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs a 1-D Box action space.*use DQN or PPO"):
        build(SAC, SACConfig, tmp_path, "env=CartPole-v1")
    with pytest.raises(ConfigError, match="her=true needs a goal env"):
        build(SAC, SACConfig, tmp_path, "env=Pendulum-v1", "her=true")
    camera = gym.Env()
    camera.observation_space = spaces.Box(0, 255, (64, 64, 3), np.uint8)
    camera.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    with pytest.raises(ConfigError, match="flat vector observations.*images need a CNN encoder"):
        check_env_spaces("sac", "Camera-v0", camera, None)
    goal = PointGoal()
    goal.compute_reward = None  # a goal dict the env cannot score
    with pytest.raises(ConfigError, match="no compute_reward"):
        check_env_spaces("sac", POINT_GOAL, goal, None)
    with pytest.raises(ConfigError, match="ent_coef must be 'auto', 'auto_X' or a number"):
        build_config(SACConfig, {}, ["ent_coef=lots"])
    with pytest.raises(ConfigError, match="tau must be in"):
        build_config(TD3Config, {}, ["tau=0"])
    with pytest.raises(ConfigError, match="policy_delay must be >= 1"):
        build_config(TD3Config, {}, ["policy_delay=0"])


# ----------------------------------------------------------------------------- learning


@pytest.mark.parametrize(("algo", "her"), [("sac", True), ("td3", True), ("sac", False)])
def test_her_learns_the_point_goal_task_that_plain_replay_does_not(tmp_path, algo, her):
    """Sparse reward, 30-step episodes in a cube: random exploration almost never meets a
    goal, so plain replay learns nothing in 6k steps, while with HER both learners reach
    the goal from nearly every start."""
    config_cls = SACConfig if algo == "sac" else TD3Config
    overrides = [
        f"env={POINT_GOAL}",
        "steps=6000",
        "learning_starts=500",
        "gamma=0.95",
        "hidden=[64,64]",
        "optim.lr=1e-3",
        f"her={str(her).lower()}",
        "eval_episodes=50",
        "trainer.eval_every=0",
        "trainer.checkpoint_every=6000",
        "trainer.log_every=1000",
    ]
    run = train(algo, build_config(config_cls, {}, [*QUIET, *overrides]), tmp_path / algo)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 6000
    success = json.loads((run / "eval.json").read_text())["success_rate"]
    assert success >= 0.9 if her else success <= 0.3, success


@pytest.mark.slow
@needs_extra("gymnasium_robotics", install='pip install -e ".[robotics]"')
def test_sac_her_reaches_on_fetchreach(tmp_path):
    run = train("sac", build_config(SACConfig, {}, [*QUIET, "env=FetchReach-v4", "seed=0"]), tmp_path / "reach")
    assert json.loads((run / "eval.json").read_text())["success_rate"] >= 0.9
