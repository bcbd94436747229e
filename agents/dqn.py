"""DQN: deep Q-learning from a replay buffer with a target network.

    rlgen train dqn --env CartPole-v1
    rlgen train dqn --env rlgen/Connect4-v0          # vs a random opponent, sides alternate
    rlgen eval RUN --episodes 20                      # greedy episodes
    rlgen eval RUN --games 200 --opponent lookahead   # game envs: another opponent

`--steps` counts env steps (transitions, summed over the vector envs). Each training call
collects `train_freq` steps of every env (epsilon-greedy, masked to legal moves on game
envs), stores n-step transitions in the shared replay buffer (`rlgen.replay`), updates the
target network, then takes `gradient_steps` optimizer steps on the Huber (or MSE) TD error
through the shared Trainer. Double DQN, a dueling head and (on board games) mirrored
copies of each transition are options. The greedy agent acts with an exponential moving
average of the Q-network's weights (trainer.ema_decay).

Read top to bottom: the config (Stable-Baselines3's DQN defaults, then `PRESETS` per env),
the Q-network, n-step transitions, the TD targets and loss (`TDLoss`), then the loop. The
hyper-parameters mean what SB3's DQN means by the same names (`learning_starts`,
`train_freq`, `target_update_interval` and `exploration_*` count env steps; `tau` < 1 makes
the target update Polyak averaging; `n_steps` is the n of n-step returns, as in SB3's DQN,
not PPO's rollout length; `optim.lr` is SB3's `learning_rate` and `optim.grad_clip` its
`max_grad_norm`), so a config can be carried over as is.

Fast paths, each chosen once in the constructor and held equal to its reference by tests:
`manual_grad` swaps `TDLoss` for its hand-written twin (`rlgen.agents._fast.td_loss`),
`numpy_act` runs the exploring policy's forward pass in numpy.

Resume is exact: checkpoints carry the replay buffer, the half-built n-step transitions,
every RNG and the envs' own state (their numpy arrays, scalars and random generators, read
through wrappers as plain data). An env holding state in other objects (e.g. a physics
engine's C structures) cannot be captured that way; it restarts from a seeded reset on
resume, so its run continues from an episode boundary instead.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

from rlgen.agents._fast.mlp import Grads, NumpyForward
from rlgen.agents._fast.td_loss import ManualTDLoss
from rlgen.agents.gym_support import (
    Agent,
    EpisodeStats,
    GreedyEvaluation,
    GymEnvConfig,
    check_replay_settings,
    encode_obs,
    env_state,
    final_observations,
    is_game_env,
    make_env,
    make_vec_env,
    obs_size,
    resume_envs,
    vec_action_masks,
)
from rlgen.algorithm import Algorithm
from rlgen.config import OptimConfig, TrainerConfig
from rlgen.errors import ConfigError, unknown_name
from rlgen.nets import ACTIVATIONS, MLP, DuelingHead
from rlgen.replay import ReplayBuffer

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

# ----------------------------------------------------------------------------- config

# Per-env values over the defaults. CartPole: rl-zoo's tuned DQN hyper-parameters; its
# greedy return swings between evaluations, so they come often. Connect Four vs random: a
# short discount (0.8 per own move) keeps "win now" well apart from "win later" in Q, which
# the MLP otherwise confuses; mirrored transitions, cosine lr decay and the averaged weights
# of the greedy agent (trainer.ema_decay) steady the final policy, and few evaluations keep
# best.pt from going to an early checkpoint that was lucky on the evaluation games.
PRESETS: dict[str, dict[str, Any]] = {
    "CartPole-v1": dict(
        steps=50_000,
        optim=dict(lr=2.3e-3),
        learning_starts=1000,
        batch_size=64,
        target_update_interval=10,
        train_freq=256,
        gradient_steps=128,
        exploration_fraction=0.16,
        exploration_final_eps=0.04,
        hidden=[256, 256],
        trainer=dict(eval_every=5000),
    ),
    "rlgen/Connect4-v0": dict(
        steps=60_000,
        optim=dict(lr=1e-3, schedule="cosine", min_lr_ratio=0.1),
        buffer_size=50_000,
        learning_starts=1000,
        batch_size=128,
        gamma=0.8,
        target_update_interval=500,
        hidden=[256, 256],
        n_steps=3,
        eval_episodes=300,
        trainer=dict(eval_every=30_000),
    ),
}


@dataclass
class DQNConfig(GymEnvConfig):
    """Deep Q-learning with Stable-Baselines3's DQN defaults (a 100k rather than 1M buffer, to
    stay small in memory and checkpoints); `PRESETS` tune CartPole-v1 and rlgen/Connect4-v0."""

    env: str = "CartPole-v1"
    """Gymnasium env id with Discrete actions, e.g. CartPole-v1 or rlgen/Connect4-v0."""
    steps: int = 100_000
    """Env steps to train, summed over the vector envs."""
    eval_episodes: int = 20
    """Greedy episodes (games on game envs) per evaluation."""
    buffer_size: int = 100_000
    """Replay buffer capacity in transitions."""
    learning_starts: int = 100
    """Env steps of uniformly random actions before the first gradient step."""
    batch_size: int = 32
    """Transitions per gradient step."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 1.0
    """Target update coefficient: 1 = hard copy, < 1 = Polyak averaging."""
    target_update_interval: int = 10_000
    """Env steps between target updates (SB3's count: every interval // num_envs vector steps)."""
    train_freq: int = 4
    """Steps of each env between training phases (so train_freq * num_envs env steps)."""
    gradient_steps: int = 1
    """Gradient steps per training phase (-1 = as many as env steps collected)."""
    exploration_fraction: float = 0.1
    """Fraction of `steps` over which epsilon falls linearly to its final value."""
    exploration_initial_eps: float = 1.0
    """Epsilon at the start of the schedule."""
    exploration_final_eps: float = 0.05
    """Epsilon after the schedule."""
    n_steps: int = 1
    """n of n-step returns (1 = one-step TD targets), SB3's DQN `n_steps`."""
    double_q: bool = True
    """Double DQN: the online network picks the next action, the target network values it."""
    dueling: bool = False
    """Dueling head: Q = V(s) + A(s, a) - mean A on top of the hidden layers."""
    augment: bool = True
    """Board-game envs: also store each transition's mirror images (the game's symmetries)."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: huber (smooth L1, as SB3) or mse."""
    manual_grad: bool = True
    """Take the TD loss's gradient from its hand-written twin (rlgen.agents._fast.td_loss)
    instead of autograd where it applies: an MLP Q-network without a dueling head, fp32.
    Same math (a test holds them equal), no autograd graph: ~12% cheaper a step on CPU."""
    numpy_act: bool = True
    """Explore through a numpy forward pass of the Q-network where it applies (a CPU fp32 MLP
    without a dueling head): one observation costs ~14 us in numpy, ~40-110 us in torch."""
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layer widths of the Q-network MLP (SB3's net_arch)."""
    activation: str = "relu"
    """Activation of the hidden layers."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-4, grad_clip=10.0))
    """Optimizer: lr is SB3's learning_rate, grad_clip its max_grad_norm."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            log_every=1000, eval_every=10_000, checkpoint_every=10_000, ema_decay=0.998
        )
    )
    """Trainer plumbing, counted in env steps. ema_decay > 0: the greedy agent (evaluation,
    load_agent) uses an exponential moving average of the Q-network's weights; exploration
    and TD targets always use the online and target networks."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    RENAMED: ClassVar[dict[str, str]] = {"fused_loss": "manual_grad"}
    ALIASES: ClassVar[dict[str, str]] = {"net_arch": "hidden", "activation_fn": "activation"}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_replay_settings(self, positive=("target_update_interval", "n_steps"))
        for key in ("exploration_fraction", "exploration_initial_eps", "exploration_final_eps"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{key} must be in [0, 1], got {getattr(self, key)}")
        if not all(width >= 1 for width in self.hidden):
            raise ConfigError(f"hidden must be positive layer widths, e.g. [256, 256], got {self.hidden}")
        if self.activation not in ACTIVATIONS:
            raise unknown_name("activation", self.activation, list(ACTIVATIONS))
        if self.optim.lr <= 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.optim.lr}")
        check_env(self.env, self.env_kwargs)


def check_env(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Raise a ConfigError unless the env has Discrete actions and a flat-encodable observation."""
    env = make_env(env_id, env_kwargs)
    try:
        check_spaces(env_id, env.observation_space, env.action_space)
    finally:
        env.close()


def check_spaces(env_id: str, observation_space: spaces.Space, action_space: spaces.Space) -> None:
    if not isinstance(action_space, spaces.Discrete):
        raise ConfigError(
            f"DQN needs Discrete actions, but '{env_id}' has {action_space}. For continuous actions use "
            f"SAC or TD3 (rlgen train sac --env {env_id}) or PPO (rlgen train ppo --env {env_id})."
        )
    obs_size(observation_space)  # raises for spaces encode_obs cannot flatten


# ----------------------------------------------------------------------------- network


class QNetwork(nn.Module):
    """Flat observation -> one Q-value per action: an MLP, optionally with a dueling head."""

    def __init__(self, obs_dim: int, actions: int, hidden: list[int], dueling: bool = False, act: str = "relu") -> None:
        super().__init__()
        if dueling:
            trunk = MLP(obs_dim, hidden, None, act)  # ends in an activation, as the streams expect
            self.net = nn.Sequential(trunk, DuelingHead(trunk.out_dim, actions, hidden[-1] if hidden else 64, act))
        else:
            self.net = MLP(obs_dim, hidden, actions, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ----------------------------------------------------------------------------- transitions


@dataclass
class Transitions:
    """A batch of n-step transitions (numpy arrays, or tensors once on the device)."""

    obs: Any
    """float32 [N, obs_dim] encoded observations."""
    actions: Any
    """int64 [N] actions taken."""
    rewards: Any
    """float32 [N] discounted sums of the n (or fewer, at an episode's end) rewards."""
    next_obs: Any
    """float32 [N, obs_dim] observation n steps later (the final one where an episode ended)."""
    terminated: Any
    """float32 [N] 1 where the episode terminated within the n steps (no bootstrap); truncation is 0."""
    discounts: Any
    """float32 [N] gamma ** k, k the steps to `next_obs`."""
    next_masks: Any = None
    """bool [N, A] legal actions at `next_obs` (game envs), else None."""

    @staticmethod
    def replay_fields(obs_dim: int, actions: int, masks: np.ndarray | None) -> dict[str, tuple[tuple[int, ...], Any]]:
        """The replay buffer's fields for these transitions (`next_masks` only on masked envs)."""
        spec: dict[str, tuple[tuple[int, ...], Any]] = {
            "obs": ((obs_dim,), np.float32),
            "actions": ((), np.int64),
            "rewards": ((), np.float32),
            "next_obs": ((obs_dim,), np.float32),
            "terminated": ((), np.float32),
            "discounts": ((), np.float32),
        }
        if masks is not None:
            spec["next_masks"] = ((actions,), bool)
        return spec

    def rows(self) -> dict[str, Any]:
        """The fields to store (all but an absent `next_masks`)."""
        return {name: value for name, value in vars(self).items() if value is not None}

    @staticmethod
    def concat(batches: list[Transitions]) -> Transitions:
        """One batch of numpy transitions from many, in order."""
        names = [f.name for f in fields(Transitions)]
        return Transitions(
            *(
                None if getattr(batches[0], name) is None else np.concatenate([getattr(b, name) for b in batches])
                for name in names
            )
        )


class NStepCollector:
    """Turns each env's stream of one-step transitions into n-step ones.

    Keeps the last n (obs, action, reward) of every env; emits the oldest once n are
    waiting, and all of them when the episode ends (with the shorter sums and discounts).
    """

    def __init__(self, num_envs: int, n: int, gamma: float, obs_dim: int) -> None:
        self.n, self.gamma = n, gamma
        self.obs = np.zeros((num_envs, n, obs_dim), np.float32)
        self.actions = np.zeros((num_envs, n), np.int64)
        self.rewards = np.zeros((num_envs, n), np.float64)
        self.count = np.zeros(num_envs, np.int64)
        self.powers = gamma ** np.arange(n)

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        done: np.ndarray,
        next_masks: np.ndarray | None,
    ) -> Transitions:
        if self.n == 1:  # every step is a finished transition: no window to keep
            return Transitions(
                obs,
                actions,
                rewards.astype(np.float32),
                next_obs,
                terminated.astype(np.float32),
                np.full(len(actions), self.gamma, np.float32),
                next_masks,
            )
        envs = np.arange(len(actions))
        self.obs[envs, self.count] = obs
        self.actions[envs, self.count] = actions
        self.rewards[envs, self.count] = rewards
        self.count += 1
        parts: list[tuple] = []
        full = np.flatnonzero(self.count == self.n)
        if len(full):
            parts.append(
                (
                    self.obs[full, 0],
                    self.actions[full, 0],
                    self.rewards[full] @ self.powers,
                    full,
                    np.full(len(full), self.gamma**self.n),
                )
            )
            self.obs[full, :-1] = self.obs[full, 1:]
            self.actions[full, :-1] = self.actions[full, 1:]
            self.rewards[full, :-1] = self.rewards[full, 1:]
            self.count[full] -= 1
        for i in np.flatnonzero(done & (self.count > 0)):
            k = int(self.count[i])
            # Return of each waiting step j to the episode's end: sum_m gamma^(m-j) r_m.
            returns = np.array([self.rewards[i, j:k] @ self.powers[: k - j] for j in range(k)])
            parts.append(
                (self.obs[i, :k], self.actions[i, :k], returns, np.full(k, i), self.gamma ** (k - np.arange(k)))
            )
            self.count[i] = 0
        if not parts:
            empty = np.zeros(0, np.float32)
            return Transitions(
                obs[:0],
                self.actions[:0, 0],
                empty,
                next_obs[:0],
                empty,
                empty,
                None if next_masks is None else next_masks[:0],
            )
        src = np.concatenate([p[3] for p in parts])
        return Transitions(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]).astype(np.float32),
            next_obs[src],
            terminated[src].astype(np.float32),
            np.concatenate([p[4] for p in parts]).astype(np.float32),
            None if next_masks is None else next_masks[src],
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "obs": self.obs.copy(),
            "actions": self.actions.copy(),
            "rewards": self.rewards.copy(),
            "count": self.count.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("obs", "actions", "rewards", "count"):
            getattr(self, name)[...] = state[name]


def symmetric_copies(batch: Transitions, symmetries: list[tuple[np.ndarray, np.ndarray]]) -> list[Transitions]:
    """`batch` under each board symmetry (cell and action permutations of the game core, as
    gathers; identity first) for observations laid out as (H, W, planes)."""
    if len(batch.actions) == 0:
        return [batch]
    return [
        Transitions(
            _permute_cells(batch.obs, cells),
            np.argsort(acts)[batch.actions],
            batch.rewards,
            _permute_cells(batch.next_obs, cells),
            batch.terminated,
            batch.discounts,
            None if batch.next_masks is None else batch.next_masks[:, acts],
        )
        for cells, acts in symmetries
    ]


def _permute_cells(obs: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Flat (H * W * planes) observations with their board cells gathered by `cells`."""
    return obs.reshape(len(obs), len(cells), -1)[:, cells].reshape(len(obs), -1)


# ----------------------------------------------------------------------------- loss


def td_targets(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    discounts: torch.Tensor,
    next_q_target: torch.Tensor,
    next_q_online: torch.Tensor | None = None,
    next_masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """y = r + (1 - terminated) * discount * Q_target(s', a'), a' the best legal action at s'
    by the online network (double DQN, `next_q_online` given) or by the target network."""
    if next_masks is not None:
        next_q_target = next_q_target.masked_fill(~next_masks, -torch.inf)
        if next_q_online is not None:
            next_q_online = next_q_online.masked_fill(~next_masks, -torch.inf)
    if next_q_online is None:
        next_value = next_q_target.max(dim=-1).values
    else:
        next_value = next_q_target.gather(-1, next_q_online.argmax(dim=-1, keepdim=True)).squeeze(-1)
    # where, not a product: 0 * -inf would be NaN for a (terminal) position with no legal move
    return rewards + torch.where(terminated > 0, torch.zeros_like(next_value), discounts * next_value)


def td_loss(q_taken: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    """Huber (smooth L1 with delta 1, as SB3) or squared TD error, averaged over the batch."""
    return F.smooth_l1_loss(q_taken, targets) if kind == "huber" else F.mse_loss(q_taken, targets)


class TDLoss:
    """The TD loss of the online Q-network through autograd: the reference the update loop
    calls, `loss(obs, actions, targets) -> (terms, q_taken, grads)`. `terms` go to
    `Trainer.optimize`; `grads` is None here (autograd takes them from `terms`), while the
    hand-written twin (`rlgen.agents._fast.td_loss.ManualTDLoss`) returns them itself."""

    def __init__(self, q: nn.Module, kind: str, autocast: Callable[[], Any]) -> None:
        self.q, self.kind, self.autocast = q, kind, autocast

    @torch.no_grad()
    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """The online network's Q-values (no gradient), e.g. for double DQN's next action."""
        with self.autocast():
            return self.q(obs).float()

    def __call__(
        self, obs: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, Grads | None]:
        with self.autocast():
            q = self.q(obs).float()
        q_taken = q.gather(1, actions[:, None]).squeeze(1)
        return {"td": td_loss(q_taken, targets, self.kind)}, q_taken.detach(), None


# ----------------------------------------------------------------------------- algorithm


class DQN(GreedyEvaluation, Algorithm):
    """Collect `train_freq` steps per env, update the target, take `gradient_steps` steps."""

    name = "dqn"
    Config = DQNConfig
    unit = "env steps"
    input_kind = "env"
    description = "DQN: replay buffer, target net, double/dueling, n-step returns, legal-move masks (Discrete actions)"
    default_monitor = "eval/return_mean"

    config: DQNConfig

    def __init__(self, config: DQNConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        cfg = config
        self.envs = make_vec_env(cfg.env, cfg.num_envs, cfg.env_kwargs, seed=cfg.seed)
        self.release_on_close(self.envs.close)
        self.obs_space = self.envs.single_observation_space
        self.action_space = self.envs.single_action_space
        check_spaces(cfg.env, self.obs_space, self.action_space)
        self.obs_dim, self.num_actions = obs_size(self.obs_space), int(self.action_space.n)
        self.device = trainer.device

        net = QNetwork(self.obs_dim, self.num_actions, list(cfg.hidden), cfg.dueling, cfg.activation)
        self.q_raw = net
        self.q = trainer.add_model("q", net)
        self.target_raw = copy.deepcopy(net).requires_grad_(False)
        self.target = trainer.add_model("target", self.target_raw)
        # The scheduler's horizon is counted in optimizer steps, like SB3's learning-rate schedule.
        chunk = cfg.train_freq * cfg.num_envs
        updates = cfg.gradient_steps if cfg.gradient_steps > 0 else chunk
        trainer.add_optimizer("main", ["q"], cfg.optim, total_steps=max(1, cfg.steps // chunk * updates))
        if trainer.tcfg.ema_decay > 0:
            trainer.add_ema("q")
        self.steps_per_call = chunk
        # The fast twins, picked once: the loop below reads the same whichever runs.
        plain = trainer.amp_dtype is None
        manual = ManualTDLoss.for_network(net.net, cfg.loss) if cfg.manual_grad and plain else None
        self.td_loss = (
            manual if manual is not None and trainer.takes_gradients() else TDLoss(self.q, cfg.loss, trainer.autocast)
        )
        fast_act = NumpyForward.for_network(net.net) if cfg.numpy_act and plain else None
        self.explore_q: Callable[[np.ndarray], np.ndarray] = fast_act or self.online_q

        self.rng = np.random.default_rng(cfg.seed)
        obs, _ = self.envs.reset(seed=cfg.seed)
        self.obs = encode_obs(self.obs_space, obs)
        self.masks = vec_action_masks(self.envs)
        self.buffer = ReplayBuffer(
            cfg.buffer_size, Transitions.replay_fields(self.obs_dim, self.num_actions, self.masks)
        )
        self.nstep = NStepCollector(cfg.num_envs, cfg.n_steps, cfg.gamma, self.obs_dim)
        game = getattr(self.envs.envs[0].unwrapped, "game", None) if is_game_env(cfg.env) else None
        self.symmetries = game.symmetries() if cfg.augment and game is not None else []
        self.env_steps = 0
        self.vector_steps = 0
        self.updates = 0
        self.episodes = EpisodeStats(cfg.num_envs)

    # -- acting

    def epsilon(self) -> float:
        """SB3's linear schedule over the fraction of `steps` done; 1 before learning_starts."""
        cfg = self.config
        if self.env_steps < cfg.learning_starts:
            return 1.0
        progress = self.env_steps / max(cfg.steps, 1)
        if cfg.exploration_fraction <= 0 or progress >= cfg.exploration_fraction:
            return cfg.exploration_final_eps
        span = cfg.exploration_final_eps - cfg.exploration_initial_eps
        return cfg.exploration_initial_eps + progress / cfg.exploration_fraction * span

    @torch.no_grad()
    def online_q(self, x: np.ndarray, net: nn.Module | None = None) -> np.ndarray:
        """float32 [B, A] Q-values of encoded observations by the online network (or `net`)."""
        with self.trainer.autocast():
            return (self.q if net is None else net)(torch.from_numpy(x).to(self.device)).float().cpu().numpy()

    def q_values(self, observations: np.ndarray) -> np.ndarray:
        """float32 [B, A] Q-values of the greedy agent for a batch of raw observations."""
        x = encode_obs(self.obs_space, observations)
        if x.shape[-1] != self.obs_dim:
            raise ConfigError(
                f"this agent takes observations of shape {self.obs_space.shape} ({self.obs_dim} values); "
                f"got a batch of shape {np.shape(observations)}"
            )
        # With trainer.ema_decay > 0 the greedy agent uses the averaged weights (steadier
        # than the last update's); exploration during training always uses the online net.
        return self.online_q(x, self.trainer.emas.get("q", self.q))

    def act(self, obs: np.ndarray, masks: np.ndarray | None, epsilon: float) -> np.ndarray:
        """Epsilon-greedy actions, both the random and the greedy ones among legal actions."""
        explore = self.rng.random(len(obs)) < epsilon
        if masks is None:
            actions = self.rng.integers(self.num_actions, size=len(obs))
        else:
            actions = (self.rng.random(masks.shape) * masks).argmax(axis=1)  # uniform over legal moves
        if not explore.all():
            q = self.explore_q(obs)
            greedy = (q if masks is None else np.where(masks, q, -np.inf)).argmax(axis=1)
            actions = np.where(explore, actions, greedy)
        return actions

    # -- collecting

    def collect(self) -> int:
        """Step every env `train_freq` times into the replay buffer; returns how many target
        updates fell due (SB3 counts them per vector step, while the network is unchanged)."""
        cfg = self.config
        every = max(cfg.target_update_interval // cfg.num_envs, 1)
        due = 0
        staged: list[Transitions] = []  # the buffer is not sampled while collecting: one add per phase
        for _ in range(cfg.train_freq):
            actions = self.act(self.obs, self.masks, self.epsilon())
            next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
            done = terminated | truncated
            true_next = encode_obs(self.obs_space, final_observations(next_obs, done, info))
            new_masks = vec_action_masks(self.envs)
            next_masks = None
            if new_masks is not None:
                next_masks = new_masks.copy()
                final = info.get("final_info", {}).get("action_mask")
                if done.any() and final is not None:
                    next_masks[done] = final[done]
                next_masks[~next_masks.any(axis=1)] = True  # terminal: no bootstrap, any row will do
            batch = self.nstep.add(self.obs, actions, rewards, true_next, terminated, done, next_masks)
            staged.extend(symmetric_copies(batch, self.symmetries) if self.symmetries else [batch])
            self.episodes.track(rewards, done)
            self.obs, self.masks = encode_obs(self.obs_space, next_obs), new_masks
            self.env_steps += cfg.num_envs
            self.vector_steps += 1
            due += self.vector_steps % every == 0
        self.buffer.add(**Transitions.concat(staged).rows())
        return due

    @torch.no_grad()
    def update_target(self, times: int) -> None:
        """`times` Polyak updates with the same online weights, in one: weight 1 - (1 - tau)^times."""
        if times <= 0:
            return
        weight = 1.0 - (1.0 - self.config.tau) ** times
        for target, online in zip(self.target_raw.parameters(), self.q_raw.parameters(), strict=True):
            if weight >= 1.0:
                target.copy_(online)
            else:
                target.lerp_(online, weight)

    # -- learning

    def learn(self, updates: int) -> dict[str, float]:
        """`updates` gradient steps on uniformly sampled batches."""
        cfg = self.config
        batch = Transitions(**self.buffer.take(self.buffer.sample_index(self.rng, (updates, cfg.batch_size))))
        dev = self.device
        obs, next_obs = torch.from_numpy(batch.obs).to(dev), torch.from_numpy(batch.next_obs).to(dev)
        actions = torch.from_numpy(batch.actions).to(dev)
        rewards, terminated = torch.from_numpy(batch.rewards).to(dev), torch.from_numpy(batch.terminated).to(dev)
        discounts = torch.from_numpy(batch.discounts).to(dev)
        masks = None if batch.next_masks is None else torch.from_numpy(batch.next_masks).to(dev)
        # The target network is fixed for the whole phase: value every batch's next states at
        # once, and without double DQN (whose next action the online network picks) every target.
        with torch.no_grad(), self.trainer.autocast():
            next_q_target = self.target(next_obs.flatten(0, 1)).float().view(updates, cfg.batch_size, -1)
            fixed_targets = (
                None if cfg.double_q else td_targets(rewards, terminated, discounts, next_q_target, None, masks)
            )
        losses: list[torch.Tensor] = []
        q_taken_all: list[torch.Tensor] = []
        grad_norm = lr = 0.0
        self.q.train()
        for g in range(updates):
            if fixed_targets is not None:
                targets = fixed_targets[g]
            else:
                next_online = self.td_loss.q_values(next_obs[g])
                g_masks = None if masks is None else masks[g]
                targets = td_targets(rewards[g], terminated[g], discounts[g], next_q_target[g], next_online, g_masks)
            terms, q_taken, grads = self.td_loss(obs[g], actions[g], targets)
            metrics = self.trainer.optimize(terms, grads=grads)
            losses.append(terms["td"].detach())
            q_taken_all.append(q_taken)  # averaged once per phase, not once per step
            grad_norm += metrics.get("train/grad_norm", 0.0)
            lr = metrics.get("train/lr", lr)
        self.updates += updates
        return {
            "losses/td": float(torch.stack(losses).mean()),
            "losses/q_values": float(torch.stack(q_taken_all).mean()),
            "train/grad_norm": grad_norm / updates,
            "train/lr": lr,
            "charts/updates": float(self.updates),
        }

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        due = self.collect()
        collect_s = time.perf_counter() - start
        self.update_target(due)
        metrics = {
            "charts/epsilon": self.epsilon(),
            "charts/replay_size": float(self.buffer.size),
            "charts/collect_steps_per_s": self.steps_per_call / max(collect_s, 1e-9),
            **self.episodes.metrics(),
        }
        if self.env_steps > cfg.learning_starts:
            metrics.update(self.learn(cfg.gradient_steps if cfg.gradient_steps > 0 else self.steps_per_call))
        return metrics

    # -- evaluation

    def agent(self, simulations: int | None = None) -> Agent:
        """The greedy, legal-move-masked policy (`simulations` is for search agents; unused)."""
        return Agent(self.q_values, self.action_space)

    # -- checkpoint

    def state_dict(self) -> dict[str, Any]:
        return {
            "replay": self.buffer.state_dict(),
            "nstep": self.nstep.state_dict(),
            "rng": self.rng.bit_generator.state,
            "envs": env_state(self.envs),
            "obs": self.obs.copy(),
            "masks": None if self.masks is None else self.masks.copy(),
            "env_steps": self.env_steps,
            "vector_steps": self.vector_steps,
            "updates": self.updates,
            "episodes": self.episodes.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.buffer.load_state_dict(state["replay"])
        self.rng.bit_generator.state = state["rng"]
        self.env_steps, self.vector_steps = int(state["env_steps"]), int(state["vector_steps"])
        self.updates = int(state["updates"])
        exact = resume_envs(self.envs, state["envs"], self.config.env, self.trainer.tracker.print)
        self.episodes.load_state_dict(state["episodes"], in_progress=exact)
        if exact:
            self.nstep.load_state_dict(state["nstep"])
            self.obs, self.masks = state["obs"], state["masks"]
        else:  # new episodes from a seed
            obs, _ = self.envs.reset(seed=self.config.seed + self.env_steps)
            self.obs, self.masks = encode_obs(self.obs_space, obs), vec_action_masks(self.envs)
