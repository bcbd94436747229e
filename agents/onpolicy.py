"""On-policy actor-critic machinery shared by REINFORCE, A2C and PPO: the config fields
they have in common, the actor-critic network, observation / reward normalization, and
the rollout with generalized advantage estimation. Each algorithm module adds its own
config fields and its `update`.

Rollouts step `num_envs` copies of the env for `n_steps` each. A truncated episode (time
limit) bootstraps from the value of its final observation; a terminated one does not.
Checkpoints hold the envs' state as plain data (`rlgen.agents.gym_support.env_state`), so
`rlgen resume` continues mid-episode exactly; envs whose state lives in C structures
(MuJoCo) start new episodes. The env section of the config, episode statistics and the
greedy evaluation report are the gym agents' shared ones (`rlgen.agents.gym_support`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rlgen.agents.gym_support import (
    Agent,
    EpisodeStats,
    GreedyEvaluation,
    GymEnvConfig,
    encode_obs,
    env_state,
    final_observations,
    has_action_masks,
    is_game_env,
    make_env,
    make_vec_env,
    obs_size,
    resume_envs,
    vec_action_masks,
)
from rlgen.algorithm import Algorithm
from rlgen.config import OptimConfig, TrainerConfig
from rlgen.errors import ConfigError, RlgenError
from rlgen.nets import MLP, GaussianHead, init_weights

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

MASKED_LOGIT = -1e8

# Tuned starting points by env (the rl-baselines3-zoo values where it has them); a preset
# sits under the user's config file and --set overrides.
CONTINUOUS = "continuous control"


@dataclass
class OnPolicyConfig(GymEnvConfig):
    """Fields every on-policy actor-critic shares. `--steps` counts env steps."""

    steps: int = 100_000
    """Env steps (summed over the vector envs)."""
    num_envs: int = 8
    """Envs stepped together."""
    n_steps: int = 32
    """Steps per env per rollout (rollout size = num_envs * n_steps), SB3's PPO / A2C `n_steps`."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda (1 = Monte-Carlo returns, 0 = one-step TD)."""
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layer widths of the policy and of the value network (separate networks)."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu, ..."""
    ortho_init: bool = True
    """Orthogonal init (gain sqrt 2 hidden, 0.01 policy output, 1 value output)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of a Gaussian policy (continuous actions)."""
    normalize_obs: bool = False
    """Normalize observations by running mean / std (stats saved with the checkpoint)."""
    normalize_reward: bool = False
    """Scale rewards by the running std of the discounted return."""
    clip_obs: float = 10.0
    """Clip normalized observations (and scaled rewards) to +/- this."""
    normalize_advantage: bool = True
    """Standardize advantages (per mini-batch)."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=3e-4, eps=1e-5, grad_clip=0.5))
    """Optimizer of policy and value together (grad_clip = max gradient norm)."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(log_every=2_048, eval_every=10_000, checkpoint_every=10_000)
    )
    """Trainer plumbing; every/interval values count env steps."""

    ALIASES: ClassVar[dict[str, str]] = {"net_arch": "hidden", "activation_fn": "activation"}

    @classmethod
    def preset(cls, env: str) -> dict[str, Any]:
        """Tuned defaults for `env` (by id, else by action-space kind: CONTINUOUS)."""
        if env in cls.PRESETS:
            return cls.PRESETS[env]
        if CONTINUOUS in cls.PRESETS and env and not is_game_env(env):
            try:
                space = make_env(env).action_space
            except RlgenError:  # unknown id or a missing extra: say so now, not after the run dir exists
                raise
            except Exception:  # an env that cannot be built without kwargs; the run reports it
                return {}
            if isinstance(space, spaces.Box):
                return cls.PRESETS[CONTINUOUS]
        return {}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_steps < 1:
            raise ConfigError(f"n_steps must be >= 1, got {self.n_steps}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ConfigError(f"gamma and gae_lambda must lie in [0, 1], got {self.gamma}, {self.gae_lambda}")
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"hidden must list positive layer widths, got {self.hidden}")


# ----------------------------------------------------------------------------- model


class ActorCritic(nn.Module):
    """Separate MLPs: policy logits (or Gaussian mean and state-independent log std) and value."""

    def __init__(self, obs_dim: int, action_space: spaces.Space, cfg: OnPolicyConfig) -> None:
        super().__init__()
        self.discrete = isinstance(action_space, spaces.Discrete)
        width = cfg.hidden[-1]
        self.pi_body = MLP(obs_dim, cfg.hidden, act=cfg.activation)
        self.v_body = MLP(obs_dim, cfg.hidden, act=cfg.activation)
        self.v_head = nn.Linear(width, 1)
        if self.discrete:
            self.pi_head: nn.Module = nn.Linear(width, int(action_space.n))
        else:
            self.pi_head = GaussianHead(width, int(np.prod(action_space.shape)), cfg.log_std_init)
        if cfg.ortho_init:
            for body in (self.pi_body, self.v_body):
                for layer in body:
                    if isinstance(layer, nn.Linear):
                        nn.init.orthogonal_(layer.weight, gain=np.sqrt(2))
                        nn.init.zeros_(layer.bias)
            out = self.pi_head if self.discrete else self.pi_head.mean
            nn.init.orthogonal_(out.weight, gain=0.01)
            nn.init.zeros_(out.bias)
            nn.init.orthogonal_(self.v_head.weight, gain=1.0)
            nn.init.zeros_(self.v_head.bias)
        else:
            init_weights(self.v_head)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.v_head(self.v_body(obs)).squeeze(-1)

    def policy(
        self, obs: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Masked logits (discrete) or (mean, log_std) (continuous)."""
        out = self.pi_head(self.pi_body(obs))
        if self.discrete and mask is not None:
            out = out.masked_fill(~mask, MASKED_LOGIT)
        return out


def sample_actions(params: Any, discrete: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw actions from the policy and return them with their log-probabilities."""
    if discrete:
        # argmax(log p - log Exp(1)) is torch.multinomial's own draw (same noise, same action), without its overhead
        log_p = torch.log_softmax(params, dim=-1)
        noise = torch.empty_like(log_p).exponential_().clamp_min_(1e-30).log_()  # bounded: a masked logit never wins
        actions = (log_p - noise).argmax(-1)
        return actions, log_p.gather(-1, actions[:, None]).squeeze(-1)
    mean, log_std = params
    actions = mean + log_std.exp() * torch.randn_like(mean)
    return actions, gaussian_log_prob(mean, log_std, actions)


def gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    z = (actions - mean) / log_std.exp()
    return (-0.5 * z.pow(2) - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)


def log_prob_entropy(params: Any, actions: torch.Tensor, discrete: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of `actions` and the policy's entropy, per sample."""
    if discrete:
        log_p = torch.log_softmax(params, dim=-1)
        entropy = -(log_p.exp() * log_p).sum(-1)
        return log_p.gather(-1, actions.long()[:, None]).squeeze(-1), entropy
    mean, log_std = params
    entropy = (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(-1)
    return gaussian_log_prob(mean, log_std, actions), entropy


def evaluate_actions(
    model: ActorCritic, batch: Rollout, autocast: Callable[[], Any]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-probabilities of the batch's actions, the policy's entropies and the values under
    the current model (differentiable): what every on-policy loss starts from."""
    with autocast():
        params = model.policy(batch.obs, batch.masks)
        values = model.value(batch.obs).float()
    log_probs, entropy = log_prob_entropy(params, batch.actions, model.discrete)
    return log_probs, entropy, values


def normalize_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """Advantages standardized to mean 0, std 1 (as SB3: the std's epsilon is 1e-8)."""
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


class RunningMeanStd:
    """Running mean and variance (parallel-batch update), checkpointable."""

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4

    def update(self, batch: np.ndarray) -> None:
        b_mean, b_var, b_count = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        self.var = (self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total) / total
        self.count = total

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = np.asarray(state["mean"]), np.asarray(state["var"]), float(state["count"])


# ----------------------------------------------------------------------------- rollout


@dataclass
class Rollout:
    """One rollout, flattened to [num_envs * n_steps] tensors."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    masks: torch.Tensor | None

    def take(self, idx: torch.Tensor) -> Rollout:
        """The samples at `idx` (a mini-batch)."""
        return Rollout(
            self.obs[idx],
            self.actions[idx],
            self.log_probs[idx],
            self.values[idx],
            self.advantages[idx],
            self.returns[idx],
            None if self.masks is None else self.masks[idx],
        )


def gae(
    rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, last_values: np.ndarray, gamma: float, lam: float
) -> np.ndarray:
    """Generalized advantage estimates over [T, N] arrays; `dones[t]` ends the episode after step t."""
    advantages = np.zeros_like(rewards)
    running = np.zeros_like(last_values)
    next_values = last_values
    for t in range(len(rewards) - 1, -1, -1):
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_values * not_done - values[t]
        running = delta + gamma * lam * not_done * running
        advantages[t] = running
        next_values = values[t]
    return advantages


class OnPolicy(GreedyEvaluation, Algorithm):
    """Rollout collection, normalization, evaluation and checkpoint glue; subclasses
    implement `update(rollout)` and may set `total_updates()` for LR schedules."""

    input_kind = "env"
    unit = "env steps, in whole rollouts of num_envs x n_steps (a run can end past --steps)"
    default_monitor = "eval/return_mean"

    config: OnPolicyConfig

    def __init__(self, config: OnPolicyConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        cfg = config
        self.envs = make_vec_env(cfg.env, cfg.num_envs, cfg.env_kwargs, seed=cfg.seed)
        self.release_on_close(self.envs.close)
        self.obs_space = self.envs.single_observation_space
        self.action_space = self.envs.single_action_space
        if not isinstance(self.action_space, (spaces.Discrete, spaces.Box)):
            raise ConfigError(
                f"{self.name} supports Discrete and Box action spaces; '{cfg.env}' has {self.action_space}"
            )
        self.discrete = isinstance(self.action_space, spaces.Discrete)
        self.device = trainer.device
        self.model = trainer.add_model("policy", ActorCritic(obs_size(self.obs_space), self.action_space, cfg))
        trainer.add_optimizer("main", ["policy"], cfg.optim, total_steps=self.total_updates())
        self.steps_per_call = cfg.num_envs * cfg.n_steps
        self.obs_rms = RunningMeanStd((obs_size(self.obs_space),))
        self.ret_rms = RunningMeanStd(())
        trainer.register_state("obs_rms", self.obs_rms, for_eval=True)  # the policy acts on normalized observations
        self.discounted = np.zeros(cfg.num_envs)
        self.episodes = EpisodeStats(cfg.num_envs)
        self.obs, _ = self.envs.reset(seed=cfg.seed)

    def total_updates(self) -> int:
        """Optimizer steps over the whole run (for LR schedules)."""
        return max(self.config.steps // (self.config.num_envs * self.config.n_steps), 1)

    # -- observations and rewards

    def normalize(self, obs: np.ndarray, update: bool = False) -> np.ndarray:
        x = encode_obs(self.obs_space, obs)
        if not self.config.normalize_obs:
            return x
        if update:
            self.obs_rms.update(x)
        clip = self.config.clip_obs
        return np.clip((x - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8), -clip, clip).astype(np.float32)

    def scale_rewards(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        if not self.config.normalize_reward:
            return rewards
        self.discounted = self.discounted * self.config.gamma + rewards
        self.ret_rms.update(self.discounted)
        self.discounted[dones] = 0.0
        clip = self.config.clip_obs
        return np.clip(rewards / np.sqrt(self.ret_rms.var + 1e-8), -clip, clip)

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, device=self.device)

    # -- rollout

    @torch.no_grad()
    def collect(self) -> tuple[Rollout, dict[str, float]]:
        cfg = self.config
        T, N = cfg.n_steps, cfg.num_envs
        obs_buf = np.zeros((T, N, obs_size(self.obs_space)), np.float32)
        act_shape = () if self.discrete else self.action_space.shape
        act_buf = np.zeros((T, N, *act_shape), np.int64 if self.discrete else np.float32)
        logp_buf, val_buf, rew_buf, done_buf = (np.zeros((T, N), np.float32) for _ in range(4))
        masked = self.discrete and has_action_masks(self.envs)
        mask_buf = np.zeros((T, N, int(self.action_space.n)), bool) if masked else None
        self.model.eval()
        for t in range(T):
            x = self.normalize(self.obs, update=True)
            masks = vec_action_masks(self.envs) if mask_buf is not None else None
            xt = self.tensor(x)
            params = self.model.policy(xt, None if masks is None else self.tensor(masks))
            actions, log_probs = sample_actions(params, self.discrete)
            values = self.model.value(xt)
            env_actions = actions.cpu().numpy()
            if not self.discrete:
                env_actions = np.clip(env_actions, self.action_space.low, self.action_space.high)
            next_obs, rewards, terminated, truncated, info = self.envs.step(env_actions)
            dones = terminated | truncated
            rewards = np.asarray(rewards, np.float64)
            self.episodes.track(rewards, dones)
            scaled = self.scale_rewards(rewards, dones)
            cut = truncated & ~terminated
            if cut.any():  # time limit: the episode could have gone on, so bootstrap from its final state
                final = self.normalize(final_observations(next_obs, cut, info)[cut])
                scaled = scaled.copy()
                scaled[cut] += cfg.gamma * self.model.value(self.tensor(final)).cpu().numpy()
            obs_buf[t], act_buf[t], logp_buf[t], val_buf[t] = (
                x,
                actions.cpu().numpy(),
                log_probs.cpu().numpy(),
                values.cpu().numpy(),
            )
            rew_buf[t], done_buf[t] = scaled, dones
            if mask_buf is not None:
                mask_buf[t] = masks
            self.obs = next_obs
        last_values = self.model.value(self.tensor(self.normalize(self.obs))).cpu().numpy()
        advantages = gae(rew_buf, val_buf, done_buf, last_values, cfg.gamma, cfg.gae_lambda)
        returns = advantages + val_buf

        def flat(a: np.ndarray) -> torch.Tensor:
            return self.tensor(a.reshape(T * N, *a.shape[2:]))

        rollout = Rollout(
            flat(obs_buf),
            flat(act_buf),
            flat(logp_buf),
            flat(val_buf),
            flat(advantages),
            flat(returns),
            None if mask_buf is None else flat(mask_buf),
        )
        return rollout, self.episodes.metrics()

    def update(self, rollout: Rollout) -> dict[str, float]:
        raise NotImplementedError

    def train_step(self) -> dict[str, float]:
        rollout, stats = self.collect()
        self.model.train()
        stats.update(self.update(rollout))
        return stats

    # -- evaluation and acting

    def agent(self, simulations: int | None = None) -> Agent:
        """The greedy policy: most probable legal action, or the Gaussian mean."""

        @torch.no_grad()
        def scores(obs: np.ndarray) -> np.ndarray:
            self.model.eval()
            params = self.model.policy(self.tensor(self.normalize(obs)))
            return (params if self.discrete else params[0]).cpu().numpy()

        return Agent(scores, self.action_space)

    # -- checkpoint

    def state_dict(self) -> dict[str, Any]:
        return {
            "ret_rms": self.ret_rms.state_dict(),
            "discounted": self.discounted,
            "envs": env_state(self.envs),
            "obs": np.asarray(self.obs),
            "episodes": self.episodes.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.ret_rms.load_state_dict(state["ret_rms"])
        exact = resume_envs(self.envs, state["envs"], self.config.env, self.trainer.tracker.print)
        self.episodes.load_state_dict(state["episodes"], in_progress=exact)
        if exact:  # continue the very episodes in progress
            self.obs = np.asarray(state["obs"])
            self.discounted = np.asarray(state["discounted"], np.float64).copy()
        else:  # e.g. MuJoCo: its state lives in C structures; start new episodes
            self.obs, _ = self.envs.reset(seed=self.config.seed + self.episodes.episodes + 1)
