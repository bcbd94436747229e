"""What SAC and TD3 share: the config, twin critics, goal observations, hindsight replay,
the collection loop, evaluation with success rates, and checkpoints.

    rlgen train sac --env HalfCheetah-v5
    rlgen train sac --env FetchReach-v4          # goal env: hindsight experience replay on

Each training call steps every env `train_freq` times (uniform random actions before
`learning_starts`, then the algorithm's exploring policy), stores the transitions in the
shared replay buffer (`rlgen.replay`) and takes `gradient_steps` updates
(`OffPolicy.update`, the algorithm's own). Actions live in [-1, 1] inside the learner and
are scaled to the env's box on the way out, as SB3 does.

Goal envs (gymnasium-robotics' Fetch: observation / achieved_goal / desired_goal dicts)
keep their dict; the networks see (observation, desired goal), normalized by running
statistics of each part (`normalize_obs`, on by default there). With `her`, transitions
enter the buffer one whole episode at a time and a sampled batch has a share
1 - 1 / (1 + n_sampled_goal) of its goals replaced by an achieved goal of the same or a
later step of the episode (HER's `future` strategy), rewards recomputed by the env's own
`compute_reward`.

Resume: weights, optimizers, the buffer, half-finished episodes, the normalizers and every
generator are plain data and continue exactly; MuJoCo keeps its physics in C structures,
so a resumed run starts new episodes and says so (as PPO does).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rlgen.agents.gym_support import (
    REPORT_SEED,
    EpisodeStats,
    GreedyEvaluation,
    GymEnvConfig,
    check_replay_settings,
    env_state,
    make_env,
    make_vec_env,
    resume_envs,
)
from rlgen.agents.onpolicy import RunningMeanStd
from rlgen.algorithm import Algorithm
from rlgen.config import OptimConfig, TrainerConfig
from rlgen.errors import ConfigError, unknown_name
from rlgen.nets import ACTIVATIONS, activation
from rlgen.replay import ReplayBuffer

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")

VIDEO_SIZE = {"width": 240, "height": 240}
"""Frame size of the report's rendered episode where the env takes one (MuJoCo, Fetch)."""

LOCOMOTION = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5")
LOCOMOTION_PRESET: dict[str, Any] = dict(
    steps=1_000_000,
    learning_starts=10_000,
    eval_episodes=5,
    video_stride=4,
    trainer=dict(log_every=5000, eval_every=25_000, checkpoint_every=25_000),
)
"""rl-zoo's MuJoCo settings for SAC and TD3 (10k random steps first, then SB3's defaults)."""

FETCH_OBJECT_TASKS = ("FetchPush-v4", "FetchPickAndPlace-v4")
FETCH_OBJECT_PRESET: dict[str, Any] = dict(
    steps=300_000,
    learning_starts=1000,
    batch_size=256,
    gamma=0.95,
    tau=0.05,
    optim=dict(lr=1e-3),
    hidden=[256, 256, 256],
    train_freq=2,
    random_action_prob=0.3,
    eval_episodes=10,
    trainer=dict(log_every=5000, eval_every=10_000, checkpoint_every=50_000),
)
"""Fetch tasks with a block (push, pick and place): HER's settings (openai/baselines: three
256-wide layers, lr 1e-3, gamma 0.95-0.98, Polyak 0.05, 30% uniformly random actions), one
gradient step per two env steps (baselines takes 0.4)."""

# ----------------------------------------------------------------------------- config


@dataclass
class OffPolicyConfig(GymEnvConfig):
    """The hyper-parameters SAC and TD3 share, under SB3's names (`optim.lr` is SB3's
    `learning_rate`; `hidden` its `net_arch`)."""

    env: str = "HalfCheetah-v5"
    """Gymnasium env id with a Box action space (MuJoCo, Fetch goal envs, Pendulum-v1, ...)."""
    steps: int = 1_000_000
    """Env steps to train, summed over the vector envs."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity in transitions."""
    learning_starts: int = 100
    """Env steps of uniformly random actions before the first update."""
    random_action_prob: float = 0.0
    """After `learning_starts`, the share of exploring steps whose action is uniformly random
    instead of the policy's (HER's `random_eps`: 0.3 in openai/baselines' Fetch runs; a block
    only moves when the gripper happens to touch it)."""
    batch_size: int = 256
    """Transitions per gradient step."""
    tau: float = 0.005
    """Polyak coefficient of the target networks (1 = hard copies)."""
    gamma: float = 0.99
    """Discount factor."""
    train_freq: int = 1
    """Steps of each env between training phases."""
    gradient_steps: int = 1
    """Gradient steps per training phase (-1 = as many as env steps collected)."""
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    """Hidden layer widths of the actor and of each critic (SB3's net_arch)."""
    activation: str = "relu"
    """Activation of the hidden layers (SB3's activation_fn)."""
    n_critics: int = 2
    """Q-networks; targets take their minimum (clipped double Q)."""
    her: bool | None = None
    """Hindsight experience replay (None = on for goal envs, off otherwise)."""
    n_sampled_goal: int = 4
    """HER: relabelled goals per real one (so 4 relabels 80% of every batch)."""
    normalize_obs: bool | None = None
    """Running mean / std normalization of observations and goals (None = on for goal envs)."""
    clip_obs: float = 5.0
    """Clip normalized observations to +/- this."""
    eval_episodes: int = 10
    """Greedy (deterministic) episodes per periodic evaluation."""
    video_frames: int = 100
    """Frames of one greedy episode rendered headless (EGL for MuJoCo) at the final report
    and `rlgen eval`, as a GIF in media/ and a W&B video (0 = none)."""
    video_stride: int = 1
    """Render every this-many-th step of that episode (long MuJoCo episodes: 4)."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=3e-4))
    """Optimizer of the actor and the critics (each its own Adam, as SB3)."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(log_every=1000, eval_every=10_000, checkpoint_every=10_000)
    )
    """Trainer plumbing, counted in env steps."""

    ALIASES: ClassVar[dict[str, str]] = {
        **GymEnvConfig.ALIASES,
        "net_arch": "hidden",
        "activation_fn": "activation",
        "learning_rate": "optim.lr",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        check_replay_settings(self, positive=("n_critics", "n_sampled_goal"))
        if not self.hidden or not all(width >= 1 for width in self.hidden):
            raise ConfigError(f"hidden must be positive layer widths, e.g. [256, 256], got {self.hidden}")
        if self.activation not in ACTIVATIONS:
            raise unknown_name("activation", self.activation, list(ACTIVATIONS))
        if self.optim.lr <= 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.optim.lr}")
        if not 0.0 <= self.random_action_prob <= 1.0:
            raise ConfigError(f"random_action_prob must be in [0, 1], got {self.random_action_prob}")
        if self.video_frames < 0 or self.video_stride < 1:
            raise ConfigError(
                f"video_frames must be >= 0 and video_stride >= 1, got {self.video_frames} and {self.video_stride}"
            )


def check_env_spaces(algo: str, env_id: str, env: gym.Env, her: bool | None) -> tuple[spaces.Box, spaces.Space, bool]:
    """(action box, observation space, goal env?) of `env`, or a ConfigError saying what
    an off-policy continuous-control learner cannot take and what would work."""
    action_space, observation_space = env.action_space, env.observation_space
    if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
        raise ConfigError(
            f"{algo} needs a 1-D Box action space, but '{env_id}' has {action_space}; for Discrete actions "
            f"use DQN or PPO (rlgen train dqn --env {env_id})"
        )
    if not np.all(np.isfinite(action_space.low)) or not np.all(np.isfinite(action_space.high)):
        raise ConfigError(f"{algo} scales its [-1, 1] actions to the env's bounds; '{env_id}' has unbounded actions")
    goal = isinstance(observation_space, spaces.Dict) and set(GOAL_KEYS) <= set(observation_space.spaces)
    flat_spaces = [observation_space[k] for k in ("observation", "desired_goal")] if goal else [observation_space]
    for space in flat_spaces:
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ConfigError(
                f"{algo} takes flat vector observations (or a goal dict of them); '{env_id}' observes {space}"
                + (" (images need a CNN encoder, which this learner does not have)" if len(space.shape) == 3 else "")
            )
    if goal and not callable(getattr(env.unwrapped, "compute_reward", None)):
        raise ConfigError(
            f"'{env_id}' has a goal dict but no compute_reward(achieved_goal, desired_goal, info); "
            "hindsight relabelling needs the env to score a substituted goal"
        )
    if her and not goal:
        raise ConfigError(
            f"her=true needs a goal env (a dict observation with {', '.join(GOAL_KEYS)}, e.g. FetchReach-v4); "
            f"'{env_id}' observes {observation_space}; leave her unset"
        )
    return action_space, observation_space, goal


# ----------------------------------------------------------------------------- networks


class EnsembleLinear(nn.Module):
    """`members` independent linear layers applied in one batched matmul: [M, B, in] -> [M, B, out]
    (an input of fewer members goes through the first ones)."""

    def __init__(self, members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default initialization, per member
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = x.shape[0]
        return torch.baddbmm(self.bias[:members], x, self.weight[:members])


class Critics(nn.Module):
    """`n` Q-networks over (observation, action), computed together: [n, B] (or the first
    `members` of them: TD3's actor reads the first critic only)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], n: int, act: str = "relu") -> None:
        super().__init__()
        self.n = n
        layers: list[nn.Module] = []
        dim = obs_dim + act_dim
        for width in hidden:
            layers += [EnsembleLinear(n, dim, width), activation(act)]
            dim = width
        layers.append(EnsembleLinear(n, dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, members: int | None = None) -> torch.Tensor:
        x = torch.cat([obs, actions], dim=-1).expand(members or self.n, -1, -1)
        return with_fp32_head(self.net, x).squeeze(-1)


def fp32(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`layer(x)` in fp32 even inside autocast: bf16's 8-bit mantissa would round Q values
    of hundreds to steps of 2-4, coarser than the TD errors the critics learn from."""
    if not torch.is_autocast_enabled(x.device.type):
        return layer(x)
    with torch.autocast(x.device.type, enabled=False):
        return layer(x.float())


def with_fp32_head(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """`net(x)` with every layer but the last in autocast's precision, the last in fp32."""
    *body, head = net
    for layer in body:
        x = layer(x)
    return fp32(head, x)


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau online, parameters and buffers alike."""
    torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)
    for t, o in zip(target.buffers(), online.buffers(), strict=True):
        t.copy_(o)


# ----------------------------------------------------------------------------- observations


class Observations:
    """Flat network inputs from env observations: (observation, desired goal) of a goal
    env, the vector itself otherwise, each part normalized by its own running statistics
    when `normalize` (clipped to +/- `clip`)."""

    def __init__(self, space: spaces.Space, goal: bool, normalize: bool, clip: float) -> None:
        self.goal, self.normalize, self.clip = goal, normalize, clip
        if goal:
            self.obs_dim, self.goal_dim = int(space["observation"].shape[0]), int(space["desired_goal"].shape[0])
        else:
            self.obs_dim, self.goal_dim = int(np.prod(space.shape)), 0
        self.obs_rms = RunningMeanStd((self.obs_dim,))
        self.goal_rms = RunningMeanStd((self.goal_dim,))

    @property
    def size(self) -> int:
        return self.obs_dim + self.goal_dim

    def split(self, obs: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """float32 (observation [B, D], achieved goal [B, G], desired goal [B, G]) of a batch."""
        if not self.goal:
            return np.asarray(obs, np.float32).reshape(-1, self.obs_dim), None, None
        observation = np.asarray(obs["observation"], np.float32).reshape(-1, self.obs_dim)
        achieved = np.asarray(obs["achieved_goal"], np.float32).reshape(-1, self.goal_dim)
        desired = np.asarray(obs["desired_goal"], np.float32).reshape(-1, self.goal_dim)
        return observation, achieved, desired

    def update(self, obs: np.ndarray, goals: np.ndarray | None) -> None:
        if self.normalize:
            self.obs_rms.update(obs)
            if goals is not None:
                self.goal_rms.update(goals)

    def inputs(self, obs: np.ndarray, goals: np.ndarray | None) -> np.ndarray:
        """float32 [B, size]: the network's input."""
        if self.normalize:
            obs = self._scale(obs, self.obs_rms)
            goals = None if goals is None else self._scale(goals, self.goal_rms)
        return obs if goals is None else np.concatenate([obs, goals], axis=1).astype(np.float32)

    def _scale(self, x: np.ndarray, rms: RunningMeanStd) -> np.ndarray:
        return np.clip((x - rms.mean) / np.sqrt(rms.var + 1e-8), -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"obs": self.obs_rms.state_dict(), "goal": self.goal_rms.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.obs_rms.load_state_dict(state["obs"])
        self.goal_rms.load_state_dict(state["goal"])


# ----------------------------------------------------------------------------- replay


class HindsightReplay:
    """The shared replay buffer with whole episodes kept together for HER.

    Rows: observation, action, reward, next observation, terminated; goal envs add the
    desired goal, the achieved goal after the step and `steps_left` (rows after this one
    in its episode). With `her`, each env's steps wait until its episode ends and enter
    the buffer as one block, so a row's later steps are newer rows, still stored."""

    def __init__(
        self, capacity: int, obs_dim: int, act_dim: int, goal_dim: int, num_envs: int, her: bool, relabel: float
    ) -> None:
        self.goal_dim, self.her, self.relabel = goal_dim, her, relabel
        fields: dict[str, tuple[tuple[int, ...], Any]] = {
            "obs": ((obs_dim,), np.float32),
            "actions": ((act_dim,), np.float32),
            "rewards": ((), np.float32),
            "next_obs": ((obs_dim,), np.float32),
            "terminated": ((), np.float32),
        }
        if goal_dim:
            fields.update(
                goal=((goal_dim,), np.float32),
                next_achieved=((goal_dim,), np.float32),
                steps_left=((), np.int64),
            )
        self.buffer = ReplayBuffer(capacity, fields)
        self.pending: list[list[dict[str, np.ndarray]]] = [[] for _ in range(num_envs)]

    def __len__(self) -> int:
        return len(self.buffer)

    def add(self, rows: dict[str, np.ndarray], done: np.ndarray) -> None:
        """One vector step's rows (one per env); `done` ends those envs' episodes."""
        if not self.her:
            if self.goal_dim:
                rows = {**rows, "steps_left": np.zeros(len(done), np.int64)}
            self.buffer.add(**rows)
            return
        for i in range(len(done)):
            self.pending[i].append({name: value[i] for name, value in rows.items()})
            if done[i]:
                episode = self.pending[i]
                self.pending[i] = []
                block = {name: np.stack([row[name] for row in episode]) for name in episode[0]}
                block["steps_left"] = np.arange(len(episode) - 1, -1, -1, dtype=np.int64)
                self.buffer.add(**block)

    def sample(self, rng: np.random.Generator, batch_size: int, compute_reward: Any) -> dict[str, np.ndarray]:
        """A uniform batch; with HER a `relabel` share of it gets a future achieved goal."""
        index = self.buffer.sample_index(rng, batch_size)
        batch = self.buffer.take(index)
        if not self.her:
            return batch
        virtual = np.flatnonzero(rng.random(batch_size) < self.relabel)
        if len(virtual):
            ahead = rng.integers(0, batch["steps_left"][virtual] + 1)
            future = (index[virtual] + ahead) % self.buffer.capacity
            goals = self.buffer.arrays["next_achieved"][future]
            batch["goal"][virtual] = goals
            batch["rewards"][virtual] = np.asarray(
                compute_reward(batch["next_achieved"][virtual], goals, None), np.float32
            )
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict(), "pending": [list(p) for p in self.pending]}

    def load_state_dict(self, state: dict[str, Any], in_progress: bool = True) -> None:
        self.buffer.load_state_dict(state["buffer"])
        self.pending = [list(p) for p in state["pending"]] if in_progress else [[] for _ in self.pending]


# ----------------------------------------------------------------------------- agent


class ContinuousAgent:
    """The trained policy acting deterministically: `act(observation) -> action` on raw
    observations (a goal dict or a vector), scaled to the env's action box."""

    def __init__(self, policy: Any, observations: Observations, action_space: spaces.Box) -> None:
        self.policy, self.observations, self.action_space = policy, observations, action_space

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> np.ndarray:
        self._check(observation)
        obs, _, goal = self.observations.split(observation)
        return to_env_actions(self.policy(self.observations.inputs(obs, goal)), self.action_space)[0]

    def _check(self, observation: Any) -> None:
        o = self.observations
        if o.goal:
            sizes = {"observation": o.obs_dim, "achieved_goal": o.goal_dim, "desired_goal": o.goal_dim}
            if not isinstance(observation, dict) or any(
                np.size(observation.get(key, ())) != size for key, size in sizes.items()
            ):
                raise ValueError(f"act takes one goal dict of {sizes} values; got {_describe(observation)}")
        elif isinstance(observation, dict) or np.size(observation) != o.obs_dim:
            raise ValueError(f"act takes one observation of {o.obs_dim} values; got {_describe(observation)}")


def _describe(observation: Any) -> str:
    if isinstance(observation, dict):
        return "a dict of " + str({key: np.shape(value) for key, value in observation.items()})
    return f"shape {np.shape(observation)}"


def to_env_actions(actions: np.ndarray, space: spaces.Box) -> np.ndarray:
    """[-1, 1] actions scaled to the env's box."""
    low, high = space.low, space.high
    return (low + (np.clip(actions, -1.0, 1.0) + 1.0) * 0.5 * (high - low)).astype(space.dtype)


def video_env(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env:
    """The env the report renders: small frames (MuJoCo's default 480 x 480 make GIFs of
    megabytes) seen by the model's tracking camera where it has one (MuJoCo locomotion:
    'track'; the default camera stays put while the robot runs out of the picture)."""
    for extra in ({**VIDEO_SIZE, "camera_name": "track"}, VIDEO_SIZE, {}):
        try:
            env = make_env(env_id, {**env_kwargs, **extra}, render_mode="rgb_array")
        except ConfigError:  # the env takes no such argument
            continue
        model = getattr(env.unwrapped, "model", None)
        cameras = [model.camera(i).name for i in range(model.ncam)] if model is not None else []
        if "camera_name" not in extra or "track" in cameras:
            return env
        env.close()
    return make_env(env_id, env_kwargs, render_mode="rgb_array")


# ----------------------------------------------------------------------------- algorithm


class OffPolicy(GreedyEvaluation, Algorithm):
    """Collection, replay, evaluation and checkpoint glue; subclasses build their networks
    and optimizers, `explore(inputs) -> actions`, `greedy(inputs) -> actions` and
    `update(batch) -> metrics` (one gradient step)."""

    input_kind = "env"
    unit = "env steps"
    default_monitor = "eval/return_mean"

    config: OffPolicyConfig

    def __init__(self, config: OffPolicyConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        cfg = config
        # One env of our own: the space checks before any vector env, and compute_reward for HER.
        probe = make_env(cfg.env, cfg.env_kwargs)
        self.release_on_close(probe.close)
        self.action_space, self.obs_space, self.goal_env = check_env_spaces(self.name, cfg.env, probe, cfg.her)
        self.envs = make_vec_env(cfg.env, cfg.num_envs, cfg.env_kwargs, seed=cfg.seed)
        self.release_on_close(self.envs.close)
        self.her = self.goal_env if cfg.her is None else cfg.her
        normalize = self.goal_env if cfg.normalize_obs is None else cfg.normalize_obs
        self.observations = Observations(self.obs_space, self.goal_env, normalize, cfg.clip_obs)
        trainer.register_state("observations", self.observations, for_eval=True)
        self.compute_reward = probe.unwrapped.compute_reward if self.goal_env else None
        self.act_dim = int(self.action_space.shape[0])
        self.device = trainer.device
        self.replay = HindsightReplay(
            cfg.buffer_size,
            self.observations.obs_dim,
            self.act_dim,
            self.observations.goal_dim,
            cfg.num_envs,
            self.her,
            1.0 - 1.0 / (1.0 + cfg.n_sampled_goal),
        )
        self.steps_per_call = cfg.train_freq * cfg.num_envs
        self.rng = np.random.default_rng(cfg.seed)
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.obs, _ = self.envs.reset(seed=cfg.seed)
        self.env_steps = 0
        self.updates = 0
        self.episodes = EpisodeStats(cfg.num_envs)
        self.successes: list[float] = []
        self.fast_update: Callable[[dict[str, torch.Tensor]], dict[str, float]] | None = None
        """A hand-written twin of `update` where the algorithm has one (`rlgen.agents._fast`)."""

    def total_updates(self) -> int:
        """Gradient steps over the whole run (for learning-rate schedules)."""
        cfg = self.config
        per_phase = cfg.gradient_steps if cfg.gradient_steps > 0 else self.steps_per_call
        return max(1, (cfg.steps - cfg.learning_starts) // self.steps_per_call * per_phase)

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, device=self.device)

    def add_critics(self) -> None:
        """The `n_critics` Q-networks, their Polyak-averaged target and their optimizer."""
        cfg, trainer = self.config, self.trainer
        critics = Critics(self.observations.size, self.act_dim, cfg.hidden, cfg.n_critics, cfg.activation)
        self.critic = trainer.add_model("critic", critics)
        self.critic_target = trainer.add_model("critic_target", copy.deepcopy(critics).requires_grad_(False))
        trainer.add_optimizer("critic", ["critic"], cfg.optim, total_steps=self.total_updates())

    @contextmanager
    def critic_frozen(self) -> Iterator[None]:
        """The actor's loss moves the actor alone: no gradients for the critics meanwhile."""
        self.critic.requires_grad_(False)
        try:
            yield
        finally:
            self.critic.requires_grad_(True)

    # -- the algorithm's part

    def explore(self, inputs: np.ndarray) -> np.ndarray:
        """[-1, 1] actions of the exploring policy for a batch of network inputs."""
        raise NotImplementedError

    def greedy(self, inputs: np.ndarray) -> np.ndarray:
        """[-1, 1] actions of the deterministic policy for a batch of network inputs."""
        raise NotImplementedError

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One gradient step on a batch (inputs, actions, rewards, next_inputs, terminated)."""
        raise NotImplementedError

    # -- collecting

    def collect(self) -> None:
        cfg = self.config
        for _ in range(cfg.train_freq):
            obs, achieved, goal = self.observations.split(self.obs)
            # Goal statistics from desired and achieved goals: relabelled batches carry both.
            self.observations.update(obs, None if goal is None else np.concatenate([goal, achieved]))
            if self.env_steps < cfg.learning_starts:
                actions = self.rng.uniform(-1.0, 1.0, (cfg.num_envs, self.act_dim)).astype(np.float32)
            else:
                actions = self.explore(self.observations.inputs(obs, goal))
                if cfg.random_action_prob > 0:
                    uniform = self.rng.uniform(-1.0, 1.0, actions.shape).astype(np.float32)
                    coins = self.rng.random((cfg.num_envs, 1)) < cfg.random_action_prob
                    actions = np.where(coins, uniform, actions)
            next_obs, rewards, terminated, truncated, info = self.envs.step(to_env_actions(actions, self.action_space))
            done = terminated | truncated
            true_next = self._final_observations(next_obs, done, info)
            next_flat, next_achieved, _ = self.observations.split(true_next)
            rows = {
                "obs": obs,
                "actions": actions,
                "rewards": np.asarray(rewards, np.float32),
                "next_obs": next_flat,
                "terminated": np.asarray(terminated, np.float32),
            }
            if self.goal_env:
                rows.update(goal=goal, next_achieved=next_achieved)
            self.replay.add(rows, done)
            self.episodes.track(np.asarray(rewards, np.float64), done)
            if done.any() and "is_success" in info.get("final_info", {}):
                self.successes.extend(float(s) for s in np.asarray(info["final_info"]["is_success"])[done])
            self.obs = next_obs
            self.env_steps += cfg.num_envs

    def _final_observations(self, next_obs: Any, done: np.ndarray, info: dict[str, Any]) -> Any:
        """The true next observation of each env: the final one where an episode ended."""
        if not done.any() or "final_obs" not in info:
            return next_obs
        finals = info["final_obs"]
        if isinstance(next_obs, dict):
            out = {k: np.array(v, copy=True) for k, v in next_obs.items()}
            for i in np.flatnonzero(done):
                for k in out:
                    out[k][i] = finals[i][k]
            return out
        out = np.array(next_obs, copy=True)
        for i in np.flatnonzero(done):
            out[i] = finals[i]
        return out

    # -- learning

    def learn(self, updates: int) -> dict[str, float]:
        totals: dict[str, float] = {}
        counts: dict[str, int] = {}  # some metrics come every few steps (TD3's actor loss)
        for _ in range(updates):
            raw = self.replay.sample(self.rng, self.config.batch_size, self.compute_reward)
            goal = raw.get("goal")
            batch = {
                "inputs": self.tensor(self.observations.inputs(raw["obs"], goal)),
                "actions": self.tensor(raw["actions"]),
                "rewards": self.tensor(raw["rewards"]),
                "next_inputs": self.tensor(self.observations.inputs(raw["next_obs"], goal)),
                "terminated": self.tensor(raw["terminated"]),
            }
            for name, value in (self.fast_update or self.update)(batch).items():
                totals[name] = totals.get(name, 0.0) + value
                counts[name] = counts.get(name, 0) + 1
            self.updates += 1
        return {name: value / counts[name] for name, value in totals.items()}

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        self.collect()
        metrics = {"charts/replay_size": float(len(self.replay)), **self.episodes.metrics()}
        if self.successes:
            metrics["charts/success_rate"] = float(np.mean(self.successes[-100:]))
            self.successes = self.successes[-100:]
        if self.env_steps > cfg.learning_starts and len(self.replay) >= 1:
            metrics.update(self.learn(cfg.gradient_steps if cfg.gradient_steps > 0 else self.steps_per_call))
            metrics["charts/updates"] = float(self.updates)
        return metrics

    # -- evaluation

    def agent(self, simulations: int | None = None) -> ContinuousAgent:
        """The deterministic policy on raw observations (`simulations` is for search agents)."""
        return ContinuousAgent(self.greedy, self.observations, self.action_space)

    def report(self, episodes: int | None = None, **_: Any) -> dict[str, Any]:
        """Greedy episodes for `rlgen eval --episodes N` (and the final report), plus one
        rendered episode."""
        result = super().report(episodes=episodes)
        if self.config.video_frames:
            result["video"] = self.record_video()
        return result

    def record_video(self) -> str:
        """One greedy episode rendered to media/ and W&B; where the env cannot render
        headless, a note saying why instead (the report goes on)."""
        cfg = self.config
        try:
            env = video_env(cfg.env, cfg.env_kwargs)
        except Exception as exc:  # an env without rgb_array rendering
            return f"not rendered: {type(exc).__name__}: {exc}"
        act, frames = self.agent().act, []
        try:
            obs, _ = env.reset(seed=cfg.seed + REPORT_SEED)
            for step in range(cfg.video_frames * cfg.video_stride):
                if step % cfg.video_stride == 0:
                    frames.append(env.render())
                obs, _, terminated, truncated, _ = env.step(act(obs))
                if terminated or truncated:
                    break
        except Exception as exc:  # no EGL / display, or an env whose render() is missing
            return f"not rendered: {type(exc).__name__}: {exc}"
        finally:
            env.close()
        fps = max(1, round(env.metadata.get("render_fps", 30) / cfg.video_stride))
        path = self.trainer.tracker.log_video("videos/eval", frames, self.trainer.step, fps=fps)
        return str(path.relative_to(self.trainer.run_dir))

    # -- checkpoint

    def state_dict(self) -> dict[str, Any]:
        return {
            "replay": self.replay.state_dict(),
            "rng": self.rng.bit_generator.state,
            "generator": self.generator.get_state(),
            "envs": env_state(self.envs),
            "obs": self.obs,
            "env_steps": self.env_steps,
            "updates": self.updates,
            "episodes": self.episodes.state_dict(),
            "successes": np.array(self.successes, np.float64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.rng.bit_generator.state = state["rng"]
        self.generator.set_state(state["generator"])
        self.env_steps, self.updates = int(state["env_steps"]), int(state["updates"])
        self.successes = [float(s) for s in state["successes"]]
        exact = resume_envs(self.envs, state["envs"], self.config.env, self.trainer.tracker.print)
        self.replay.load_state_dict(state["replay"], in_progress=exact)
        self.episodes.load_state_dict(state["episodes"], in_progress=exact)
        if exact:
            self.obs = state["obs"]
        else:  # new episodes from a seed
            self.obs, _ = self.envs.reset(seed=self.config.seed + self.env_steps)
