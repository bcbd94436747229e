"""DQN: TD targets by hand, legal-move masks, exact resume (also after SIGKILL), clear
errors, agents inside PettingZoo, and (slow) the CartPole and Connect Four floors."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from conftest import REPO, RLGEN, StopAt, run_cli
from pettingzoo.classic import connect_four_v3

from rlgen.agents import load_agent
from rlgen.agents._fast.mlp import NumpyForward
from rlgen.agents._fast.td_loss import ManualTDLoss
from rlgen.agents.dqn import (
    DQNConfig,
    NStepCollector,
    QNetwork,
    TDLoss,
    Transitions,
    td_loss,
    td_targets,
)
from rlgen.agents.gym_support import REPORT_SEED, evaluate_episodes
from rlgen.checkpoint import load_checkpoint
from rlgen.cli import main
from rlgen.config import build_config
from rlgen.envs.arena import RandomPolicy, play_pettingzoo
from rlgen.errors import ConfigError
from rlgen.replay import ReplayBuffer
from rlgen.run import build_for_eval, train

QUIET = ["wandb.mode=disabled", "trainer.progress=off"]
# Small but complete: vector envs, a buffer that wraps around, Polyak targets, n-step
# returns, dueling head, masks; evaluation only at the end.
TINY_CONNECT4 = [
    "env=rlgen/Connect4-v0",
    "steps=1024",
    "num_envs=2",
    "train_freq=16",
    "gradient_steps=4",
    "learning_starts=128",
    "buffer_size=600",
    "batch_size=32",
    "hidden=[32]",
    "n_steps=3",
    "dueling=true",
    "tau=0.5",
    "target_update_interval=64",
    "trainer.ema_decay=0.9",
    "eval_episodes=4",
    "trainer.eval_every=0",
    "trainer.checkpoint_every=256",
    "trainer.log_every=64",
    "trainer.final_report=false",
]
TINY_CARTPOLE = [
    "env=CartPole-v1",
    "steps=8192",
    "train_freq=64",
    "gradient_steps=16",
    "learning_starts=512",
    "buffer_size=5000",
    "batch_size=32",
    "hidden=[64,64]",
    "target_update_interval=256",
    "eval_episodes=2",
    "trainer.eval_every=0",
    "trainer.checkpoint_every=1024",
    "trainer.log_every=256",
    "trainer.final_report=false",
]


def config(*overrides: str) -> DQNConfig:
    return build_config(DQNConfig, {}, [*QUIET, *overrides])


def cli_args(overrides: list[str]) -> list[str]:
    args = ["train", "dqn", "--wandb", "disabled"]
    for item in overrides:
        args += ["--set", item]
    return args


def assert_same_training_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"]
    for model in ("q", "target"):
        for key, tensor in a["models"][model].items():
            assert torch.equal(tensor, b["models"][model][key]), f"{model}.{key}"
    for key, tensor in a["emas"]["q"].items():  # the averaged weights the greedy agent uses
        assert torch.equal(tensor, b["emas"]["q"][key]), f"ema.{key}"
    state_a, state_b = a["optimizers"]["main"]["optimizer"]["state"], b["optimizers"]["main"]["optimizer"]["state"]
    for index, slots in state_a.items():
        for slot, value in slots.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(state_b[index][slot])), f"adam {index}.{slot}"
    for key, value in a["algorithm"]["replay"]["arrays"].items():
        assert np.array_equal(value, b["algorithm"]["replay"]["arrays"][key]), f"replay {key}"
    for key in ("position", "size", "added"):
        assert a["algorithm"]["replay"][key] == b["algorithm"]["replay"][key], f"replay {key}"
    assert np.array_equal(a["algorithm"]["obs"], b["algorithm"]["obs"])


# ----------------------------------------------------------------------------- targets


def test_double_dqn_n_step_target_by_hand():
    """Three 2-step transitions (gamma 0.5): bootstrapped, terminated, and a 1-step tail."""
    gamma = 0.5
    collector = NStepCollector(num_envs=1, n=2, gamma=gamma, obs_dim=1)
    obs = lambda v: np.array([[float(v)]], np.float32)  # noqa: E731

    def step(o, a, r, nxt, term):
        return collector.add(
            obs(o),
            np.array([a]),
            np.array([r]),
            obs(nxt),  # noqa: E731
            np.array([term]),
            np.array([term]),
            None,
        )

    assert len(step(0, 1, 1.0, 1, False).actions) == 0  # one reward waiting: nothing yet
    first = step(1, 0, 2.0, 2, False)
    ended = step(2, 1, 4.0, 3, True)
    # s0 -a1-> r1 -> s1 -a0-> r2 -> s2: R = 1 + 0.5 * 2, bootstrap from s2 with gamma^2
    assert first.obs.tolist() == [[0.0]] and first.actions.tolist() == [1] and first.next_obs.tolist() == [[2.0]]
    assert first.rewards.tolist() == [2.0] and first.discounts.tolist() == [0.25] and first.terminated.tolist() == [0.0]
    # s1 -> r2, r4 -> terminal s3; then the tail s2 -> r4 -> terminal s3 (gamma^1)
    assert ended.obs.tolist() == [[1.0], [2.0]] and ended.actions.tolist() == [0, 1]
    assert ended.rewards.tolist() == [2.0 + 0.5 * 4.0, 4.0]
    assert ended.discounts.tolist() == [0.25, 0.5] and ended.terminated.tolist() == [1.0, 1.0]

    # Q-values at each next state: the online net prefers action 1, the target net action 0.
    online = torch.tensor([[1.0, 5.0], [0.0, 9.0], [3.0, 1.0]])
    target = torch.tensor([[10.0, 2.0], [7.0, 8.0], [6.0, 4.0]])
    rewards = torch.tensor([2.0, 4.0, 1.0])
    terminated = torch.tensor([0.0, 1.0, 0.0])
    discounts = torch.tensor([0.25, 0.5, 0.25])
    double = td_targets(rewards, terminated, discounts, target, online)
    # double: Q_target(s', argmax Q_online): 2.0 and 6.0; the terminated row keeps its reward
    assert double.tolist() == [2.0 + 0.25 * 2.0, 4.0, 1.0 + 0.25 * 6.0]
    vanilla = td_targets(rewards, terminated, discounts, target)
    assert vanilla.tolist() == [2.0 + 0.25 * 10.0, 4.0, 1.0 + 0.25 * 6.0]


@pytest.mark.parametrize(("kind", "act"), [("huber", "relu"), ("mse", "tanh")])
def test_hand_written_td_gradient_equals_autograd(kind, act):
    """The twin (`ManualTDLoss`) gives the reference `TDLoss`'s loss, Q-values and gradients."""
    torch.manual_seed(0)
    net = QNetwork(6, 3, [16, 8], act=act)
    reference, manual = TDLoss(net, kind, contextlib.nullcontext), ManualTDLoss.for_network(net.net, kind)
    obs, actions = torch.randn(40, 6), torch.randint(0, 3, (40,))
    targets = torch.randn(40) * 3  # errors inside and outside the Huber loss's quadratic zone
    terms, q_taken, no_grads = reference(obs, actions, targets)
    assert no_grads is None  # autograd takes them from the terms
    ref_grads = torch.autograd.grad(terms["td"], list(net.parameters()))
    assert terms["td"].item() == pytest.approx(td_loss(q_taken, targets, kind).item(), rel=1e-7)
    assert ((q_taken - targets).abs() < 1).any() and ((q_taken - targets).abs() > 1).any()
    hand_terms, hand_q, pairs = manual(obs, actions, targets)
    assert hand_terms["td"].item() == pytest.approx(terms["td"].item(), rel=1e-6)
    torch.testing.assert_close(hand_q, q_taken)
    torch.testing.assert_close(manual.q_values(obs), reference.q_values(obs), rtol=1e-6, atol=1e-6)
    by_param = {id(param): grad for param, grad in pairs}
    assert len(by_param) == len(ref_grads)
    for param, grad in zip(net.parameters(), ref_grads, strict=True):
        torch.testing.assert_close(by_param[id(param)], grad, rtol=1e-5, atol=1e-7)
    assert ManualTDLoss.for_network(QNetwork(6, 3, [16], dueling=True).net, kind) is None  # reference only


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_numpy_acting_forward_follows_the_torch_network(act):
    torch.manual_seed(0)
    net = QNetwork(6, 3, [16, 8], act=act)
    forward = NumpyForward.for_network(net.net)
    obs = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_allclose(forward(obs), net(torch.from_numpy(obs)).detach().numpy(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # an optimizer step changes the parameters in place: the views see it
        for param in net.parameters():
            param.add_(0.5)
    np.testing.assert_allclose(forward(obs), net(torch.from_numpy(obs)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_one_add_per_phase_equals_adding_step_by_step():
    rng = np.random.default_rng(0)

    def steps(k):
        return [
            Transitions(
                rng.normal(size=(2, 3)).astype(np.float32),
                rng.integers(0, 2, 2),
                rng.normal(size=2).astype(np.float32),
                rng.normal(size=(2, 3)).astype(np.float32),
                np.zeros(2, np.float32),
                np.full(2, 0.9, np.float32),
            )
            for _ in range(k)
        ]

    for first, phase in ((3, 4), (1, 9)):  # 9 steps x 2 = 18 transitions overflow the 7 slots
        head, batches = steps(first), steps(phase)
        fields = Transitions.replay_fields(3, 2, None)
        one_by_one, at_once = ReplayBuffer(7, fields), ReplayBuffer(7, fields)
        for batch in head:
            one_by_one.add(**batch.rows())
            at_once.add(**batch.rows())
        for batch in batches:
            one_by_one.add(**batch.rows())
        at_once.add(**Transitions.concat(batches).rows())
        for name, value in one_by_one.state_dict()["arrays"].items():
            np.testing.assert_array_equal(at_once.state_dict()["arrays"][name], value, err_msg=name)
        assert one_by_one.position == at_once.position and one_by_one.size == at_once.size == 7


def test_manual_and_autograd_dqn_updates_agree(tmp_path, monkeypatch):
    calls = []
    original = ManualTDLoss.__call__
    monkeypatch.setattr(ManualTDLoss, "__call__", lambda self, *args: calls.append(1) or original(self, *args))
    runs = {}
    for fused in (True, False):
        calls.clear()
        overrides = (f"manual_grad={fused}", f"numpy_act={fused}")
        runs[fused] = train("dqn", config(*TINY_CARTPOLE, "steps=2048", *overrides), tmp_path / str(fused))
        assert bool(calls) == fused  # each run took its own path
    a, b = (load_checkpoint(runs[f] / "checkpoints" / "last.pt")["models"]["q"] for f in (True, False))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-5)


def test_a_phase_moves_the_network_as_stable_baselines3_does(tmp_path):
    """Same weights, same replay contents, same sampled indices: 32 gradient steps move
    rlgen's Q-network where SB3's DQN moves its own (targets, Huber loss, clipping, Adam),
    so the benchmark's two sides run one algorithm and differ in speed, not in learning."""
    from stable_baselines3 import DQN as SB3DQN
    from stable_baselines3.common.env_util import make_vec_env as sb3_vec_env

    from rlgen.agents.dqn import DQN
    from rlgen.tracking import Tracker
    from rlgen.trainer import Trainer

    steps, batch = 32, 64
    sb3 = SB3DQN(
        "MlpPolicy",
        sb3_vec_env("CartPole-v1", n_envs=1, seed=0),
        learning_rate=5e-4,
        batch_size=batch,
        buffer_size=5000,
        learning_starts=1000,
        gamma=0.99,
        target_update_interval=10,
        train_freq=256,
        gradient_steps=steps,
        max_grad_norm=10,
        policy_kwargs=dict(net_arch=[64, 64]),
        seed=0,
        device="cpu",
    )
    sb3.learn(768)  # three collection phases and no training: learning_starts is 1000
    cfg = config(
        "env=CartPole-v1",
        "optim.lr=5e-4",
        f"batch_size={batch}",
        "buffer_size=5000",
        "gamma=0.99",
        "train_freq=256",
        f"gradient_steps={steps}",
        "hidden=[64,64]",
        "double_q=false",
        "optim.grad_clip=10",
        "trainer.ema_decay=0",
    )
    trainer = Trainer(cfg, tmp_path, Tracker(tmp_path))
    ours = DQN(cfg, trainer)
    trainer.algorithm = ours
    theirs_layers = [m for m in sb3.q_net.q_net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for net in (ours.q_raw, ours.target_raw):
            for mine, theirs in zip([m for m in net.net if isinstance(m, torch.nn.Linear)], theirs_layers, strict=True):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)

    rb, n = sb3.replay_buffer, sb3.replay_buffer.pos
    terminated = rb.dones[:n, 0] * (1 - rb.timeouts[:n, 0])
    assert terminated.sum() > 0  # the phase's batches hold episode ends, where no bootstrap happens
    ours.buffer.add(
        **Transitions(
            rb.observations[:n, 0],
            rb.actions[:n, 0, 0].astype(np.int64),
            rb.rewards[:n, 0],
            rb.next_observations[:n, 0],
            terminated.astype(np.float32),
            np.full(n, 0.99, np.float32),
        ).rows()
    )
    index = np.random.default_rng(1).integers(0, n, size=(steps, batch))
    batches = iter(index)
    rb.sample = lambda batch_size, env=None: rb._get_samples(next(batches), env)
    ours.rng = type("Fixed", (), {"integers": lambda self, low, high, size: index})()

    sb3.train(gradient_steps=steps, batch_size=batch)
    ours.learn(steps)
    before = [m.weight.detach() for m in ours.target_raw.net if isinstance(m, torch.nn.Linear)]  # the target keeps them
    after = [m.weight.detach() for m in ours.q_raw.net if isinstance(m, torch.nn.Linear)]
    for mine, theirs in zip([m for m in ours.q_raw.net if isinstance(m, torch.nn.Linear)], theirs_layers, strict=True):
        for a, b in ((mine.weight, theirs.weight), (mine.bias, theirs.bias)):
            torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-4, atol=1e-6)
    assert (
        min(float((a - b).abs().max()) for a, b in zip(after, before, strict=True)) > 1e-3
    )  # far beyond the tolerance


def test_masked_targets_never_use_an_illegal_action():
    """The illegal action has the largest Q in both networks; the target ignores it, also
    in a terminal row whose next position has no legal move (no NaN)."""
    online = torch.tensor([[9.0, 1.0, 2.0], [9.0, 3.0, 1.0], [9.0, 9.0, 9.0]])
    target = torch.tensor([[50.0, 4.0, 5.0], [50.0, 6.0, 7.0], [50.0, 50.0, 50.0]])
    masks = torch.tensor([[False, True, True], [False, True, True], [False, False, False]])
    rewards, terminated, discounts = torch.tensor([0.0, 0.0, -1.0]), torch.tensor([0.0, 0.0, 1.0]), torch.ones(3)
    assert td_targets(rewards, terminated, discounts, target, online, masks).tolist() == [5.0, 6.0, -1.0]
    assert td_targets(rewards, terminated, discounts, target, None, masks).tolist() == [5.0, 7.0, -1.0]


def make_algorithm(tmp_path, *overrides: str):
    from rlgen.agents.dqn import DQN
    from rlgen.trainer import Trainer

    cfg = config(*overrides)
    trainer = Trainer(cfg, tmp_path)
    algorithm = DQN(cfg, trainer)
    trainer.algorithm = algorithm
    return algorithm


def test_acting_is_legal_and_stored_masks_are_the_next_positions(tmp_path):
    from rlgen.envs.arena import state_from_planes
    from rlgen.envs.game import make_game

    # illegal=error: the env raises IllegalMoveError on any illegal move (the default would end the game)
    algorithm = make_algorithm(tmp_path, *TINY_CONNECT4, "env_kwargs.illegal=error")
    rng = np.random.default_rng(0)
    masks = rng.random((64, 7)) < 0.3
    masks[np.arange(64), rng.integers(7, size=64)] = True
    obs = rng.integers(0, 2, (64, 84)).astype(np.float32)
    for epsilon in (0.0, 0.5, 1.0):
        actions = algorithm.act(obs, masks, epsilon)
        assert masks[np.arange(64), actions].all()
    # Real games, random then greedy: finishing them proves every move was legal.
    for epsilon in (1.0, 0.0, 1.0, 0.0):
        algorithm.epsilon = lambda e=epsilon: e
        algorithm.collect()
    buffer, game = algorithm.buffer.arrays, make_game("connect4")
    size = algorithm.buffer.size
    live = np.flatnonzero(buffer["terminated"][:size] == 0)
    assert len(live) > 50
    for i in live:
        position = state_from_planes(game, buffer["next_obs"][i].reshape(6, 7, 2))
        assert np.array_equal(buffer["next_masks"][i], game.legal_mask(position)[0])
    # augment=true: every stored position's mirror image is stored too
    stored = {row.tobytes() for row in buffer["obs"][:size]}
    mirrored = buffer["obs"][:size].reshape(-1, 6, 7, 2)[:, :, ::-1].reshape(size, -1)
    assert all(row.tobytes() in stored for row in mirrored)


def test_learns_a_small_gridworld(tmp_path):
    """Deterministic FrozenLake (one-hot observations): the greedy policy reaches the goal."""
    cfg = config(
        "env=FrozenLake-v1",
        "env_kwargs.is_slippery=false",
        "steps=4000",
        "learning_starts=500",
        "train_freq=4",
        "gradient_steps=1",
        "target_update_interval=200",
        "exploration_fraction=0.5",
        "batch_size=32",
        "hidden=[32]",
        "optim.lr=3e-3",
        "eval_episodes=1",
        "trainer.eval_every=1000",
    )
    run = train("dqn", cfg, tmp_path / "lake")
    result = json.loads((run / "eval.json").read_text())
    assert result["return_mean"] == 1.0 and result["length_mean"] == 6.0  # the shortest path
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = set().union(*metrics)
    for name in ("charts/episode_return", "charts/epsilon", "losses/td", "losses/q_values", "charts/steps_per_s"):
        assert name in logged, name


# ----------------------------------------------------------------------------- resume


def test_resume_continues_exactly(tmp_path):
    """N steps in one go == N/2, stop, `rlgen resume` to N: same networks, Adam moments,
    replay buffer and env positions (game envs mid-game, n-step transitions half built)."""
    whole = train("dqn", config(*TINY_CONNECT4), tmp_path / "whole")
    half = train("dqn", config(*TINY_CONNECT4), tmp_path / "half", callbacks=(StopAt(512),))
    stopped = load_checkpoint(half / "checkpoints" / "last.pt")
    assert stopped["step"] == 512 and stopped["algorithm"]["nstep"]["count"].any()  # stopped mid-episode
    run_cli("resume", str(half))
    assert_same_training_state(
        load_checkpoint(whole / "checkpoints" / "last.pt"), load_checkpoint(half / "checkpoints" / "last.pt")
    )


def test_sigkill_then_resume_finishes_exactly(tmp_path):
    whole = train("dqn", config(*TINY_CARTPOLE), tmp_path / "whole")
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*RLGEN, *cli_args(TINY_CARTPOLE), "--run-dir", str(killed)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = killed / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not last.exists():
        time.sleep(0.01)
    time.sleep(0.3)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(last)["step"] < 8192
    run_cli("resume", str(killed))
    assert_same_training_state(load_checkpoint(whole / "checkpoints" / "last.pt"), load_checkpoint(last))
    assert json.loads((killed / "summary.json").read_text())["status"] == "finished"


# ----------------------------------------------------------------------------- errors


def test_presets_sit_under_the_users_values():
    """One defaults mechanism: SB3's values, then the env's preset, then the user's."""
    plain, cartpole = config("env=Acrobot-v1"), config("env=CartPole-v1")
    assert (plain.steps, plain.buffer_size, plain.optim.lr, plain.trainer.eval_every) == (
        100_000,
        100_000,
        1e-4,
        10_000,
    )
    assert (cartpole.steps, cartpole.gradient_steps, cartpole.optim.lr, cartpole.trainer.eval_every) == (
        50_000,
        128,
        2.3e-3,
        5000,
    )
    mine = config("env=CartPole-v1", "optim.lr=5e-4", "trainer.eval_every=100")
    assert (mine.optim.lr, mine.trainer.eval_every, mine.gradient_steps, mine.optim.grad_clip) == (5e-4, 100, 128, 10.0)
    connect4 = build_config(DQNConfig, {"env": "rlgen/Connect4-v0", "gamma": 0.9})
    assert (connect4.gamma, connect4.n_steps, connect4.optim.schedule) == (0.9, 3, "cosine")


def test_clear_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"DQN needs Discrete actions.*Pendulum-v1.*rlgen train sac.*rlgen train ppo"):
        config("env=Pendulum-v1")
    with pytest.raises(ConfigError, match=r"'fused_loss' was renamed to 'manual_grad'"):
        config("fused_loss=false")
    with pytest.raises(ConfigError, match=r"'fused_loss' was renamed to 'manual_grad'"):
        build_config(DQNConfig, {"fused_loss": True})  # an old config file

    assert (
        main(
            [
                "train",
                "dqn",
                "--env",
                "MountainCarContinuous-v0",
                "--wandb",
                "disabled",
                "--run-dir",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "DQN needs Discrete actions" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before a run directory was made
    for bad, message in (
        ("tau=0", "tau must be in"),
        ("gradient_steps=0", "gradient_steps must be"),
        ("gamma=1.5", "gamma must be in"),
        ("hidden=[0]", "hidden must be"),
        ("buffer_size=8", r"buffer_size \(8\) must hold at least one batch"),
    ):
        with pytest.raises(ConfigError, match=message):
            config("env=CartPole-v1", bad)
    with pytest.raises(ConfigError, match="unknown config key 'eps_end'.*exploration_final_eps"):
        config("eps_end=0.1")


# ----------------------------------------------------------------------------- agents and eval


class LegalOnly:
    """Wraps an agent and fails on any move the PettingZoo action mask forbids."""

    def __init__(self, agent) -> None:
        self.agent, self.moves = agent, 0

    def act(self, observation, action_mask=None):
        move = self.agent.act(observation, action_mask)
        assert observation["action_mask"][move], f"illegal move {move}"
        self.moves += 1
        return move


def test_agent_plays_inside_pettingzoo_and_eval_cli(tmp_path, capsys):
    run = train("dqn", config(*TINY_CONNECT4, "steps=256"), tmp_path / "c4")
    agent = LegalOnly(load_agent(run))
    table = play_pettingzoo(connect_four_v3.env(), {"dqn": agent, "random": RandomPolicy(0)}, games=6)
    assert sum(table["dqn"].values()) == 6 and agent.moves >= 18
    with pytest.raises(ConfigError, match=r"shape \(6, 7, 2\)"):
        agent.agent.act(np.zeros((3, 3, 2), np.float32))
    # The greedy agent acts with the averaged weights (trainer.ema_decay), not the last update's.
    algorithm, trainer, _ = build_for_eval(run)
    planes = np.random.default_rng(0).integers(0, 2, (4, 6, 7, 2)).astype(np.float32)
    flat = torch.from_numpy(planes.reshape(4, -1))
    with torch.no_grad():
        averaged, online = trainer.emas["q"](flat).numpy(), algorithm.q(flat).numpy()
    assert np.allclose(algorithm.q_values(planes), averaged) and not np.allclose(averaged, online)
    assert main(["eval", str(run), "--games", "6", "--opponent", "lookahead"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["opponent"] == "lookahead" and result["episodes"] == 6
    assert result["win_rate"] + result["draw_rate"] + result["loss_rate"] == pytest.approx(1.0)
    assert main(["eval", str(run), "--games", "2", "--opponent", "alphabeta"]) == 2
    assert "depth" in capsys.readouterr().err

    cartpole_config = config(*TINY_CARTPOLE, "steps=512")
    cartpole = train("dqn", cartpole_config, tmp_path / "cartpole")
    assert main(["eval", str(cartpole), "--episodes", "3"]) == 0
    result = json.loads((cartpole / "eval.json").read_text())
    assert result["episodes"] == 3 and "win_rate" not in result
    # the returns of best.pt's greedy agent on the report's episodes, replayed outside the run
    again = evaluate_episodes("CartPole-v1", load_agent(cartpole).act, 3, cartpole_config.seed + REPORT_SEED)
    assert (result["return_mean"], result["return_std"]) == (again["return_mean"], again["return_std"])
    assert main(["eval", str(cartpole), "--opponent", "random"]) == 2
    assert "--opponent applies to the game envs" in capsys.readouterr().err


# ----------------------------------------------------------------------------- floors


@pytest.mark.slow
def test_cartpole_floor(tmp_path):
    """Default config: greedy mean return >= 475 over 20 episodes."""
    run_cli("train", "dqn", "--env", "CartPole-v1", "--wandb", "disabled", "--run-dir", str(tmp_path / "cp"))
    run_cli("eval", str(tmp_path / "cp"), "--episodes", "20")
    result = json.loads((tmp_path / "cp" / "eval.json").read_text())
    assert result["episodes"] == 20 and result["return_mean"] >= 475, result


@pytest.mark.slow
def test_connect4_floor(tmp_path):
    """Default config vs the random opponent, sides alternating: >= 95% wins in 200 greedy games."""
    run_cli("train", "dqn", "--env", "rlgen/Connect4-v0", "--wandb", "disabled", "--run-dir", str(tmp_path / "c4"))
    run_cli("eval", str(tmp_path / "c4"), "--games", "200")
    result = json.loads((tmp_path / "c4" / "eval.json").read_text())
    assert result["opponent"] == "random" and result["episodes"] == 200
    assert result["win_rate"] >= 0.95, result
