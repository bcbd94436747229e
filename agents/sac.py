"""SAC: soft actor-critic (twin Q critics, Polyak-averaged target critics, a squashed-
Gaussian policy, the entropy coefficient tuned toward a target entropy), as SB3's SAC.

    rlgen train sac --env HalfCheetah-v5
    rlgen train sac --env FetchReach-v4         # goal env: hindsight experience replay
    rlgen eval RUN --episodes 50                # greedy return and success rate

Read top to bottom: the config and PRESETS, the actor and its log-probability, then
`update` (one gradient step: entropy coefficient, critics, actor, targets), which runs
through autograd; `manual_grad` (on by default) runs its hand-written twin
(`rlgen.agents._fast.sac_update`, held equal by a test) where it applies. Collection,
replay (HER included), evaluation and checkpoints are `rlgen.agents.offpolicy`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlgen.agents._fast.sac_update import ManualSACUpdate
from rlgen.agents.offpolicy import (
    FETCH_OBJECT_PRESET,
    FETCH_OBJECT_TASKS,
    LOCOMOTION,
    LOCOMOTION_PRESET,
    OffPolicy,
    OffPolicyConfig,
    fp32,
    polyak_update,
)
from rlgen.errors import ConfigError
from rlgen.nets import MLP

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

# Per-env values over the defaults (SB3's SAC). FetchReach: rl-zoo's HER settings.
PRESETS: dict[str, dict[str, Any]] = {
    **{env: LOCOMOTION_PRESET for env in LOCOMOTION},
    "FetchReach-v4": dict(
        steps=10_000,
        learning_starts=1000,
        batch_size=256,
        gamma=0.95,
        optim=dict(lr=1e-3),
        hidden=[64, 64],
        eval_episodes=10,
        trainer=dict(log_every=1000, eval_every=2000, checkpoint_every=2000),
    ),
    **{env: FETCH_OBJECT_PRESET for env in FETCH_OBJECT_TASKS},
}

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
"""SB3's bounds of the policy's log standard deviation."""


@dataclass
class SACConfig(OffPolicyConfig):
    """Soft actor-critic with Stable-Baselines3's defaults; `PRESETS` tune per env."""

    ent_coef: str = "auto"
    """Entropy coefficient: 'auto' (learned, starting at 1), 'auto_X' (learned, starting
    at X) or a fixed number."""
    target_entropy: str = "auto"
    """Entropy the learned coefficient aims for: 'auto' = -(action dimensions), or a number."""
    target_update_interval: int = 1
    """Gradient steps between target-critic updates."""
    manual_grad: bool = True
    """Run `update`'s hand-written twin (`rlgen.agents._fast.sac_update`: the same step, its
    gradients by the chain rule) where it applies; false runs `update` through autograd."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    def __post_init__(self) -> None:
        super().__post_init__()
        entropy_coefficient(self.ent_coef)
        if self.target_entropy != "auto":
            try:
                float(self.target_entropy)
            except ValueError:
                raise ConfigError(f"target_entropy must be 'auto' or a number, got '{self.target_entropy}'") from None
        if self.target_update_interval < 1:
            raise ConfigError(f"target_update_interval must be >= 1, got {self.target_update_interval}")


def entropy_coefficient(spec: str) -> tuple[bool, float]:
    """(learned?, initial value) of an `ent_coef` setting."""
    text = str(spec)
    learned = text.startswith("auto")
    value = text[5:] if text.startswith("auto_") else ("1.0" if learned else text)
    try:
        initial = float(value)
    except ValueError:
        raise ConfigError(f"ent_coef must be 'auto', 'auto_X' or a number > 0, got '{spec}'") from None
    if initial <= 0:
        raise ConfigError(f"ent_coef must be > 0, got '{spec}'")
    return learned, initial


# ----------------------------------------------------------------------------- actor


class SquashedGaussianActor(nn.Module):
    """MLP -> mean and log standard deviation of a Gaussian whose samples pass through tanh."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], act: str = "relu") -> None:
        super().__init__()
        self.trunk = MLP(obs_dim, hidden, None, act)
        self.mean = nn.Linear(self.trunk.out_dim, act_dim)
        self.log_std = nn.Linear(self.trunk.out_dim, act_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.trunk(obs)
        return fp32(self.mean, x), fp32(self.log_std, x).clamp(LOG_STD_MIN, LOG_STD_MAX)


def squashed_sample(
    mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tanh(u), log pi(tanh(u))) for u = mean + std * noise: the Gaussian's log-density
    minus log |d tanh(u) / du| = 2 (log 2 - u - softplus(-2u)), summed over dimensions
    (the stable form of log(1 - tanh(u)^2))."""
    u = mean + log_std.exp() * noise
    gaussian = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    jacobian = (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
    return torch.tanh(u), gaussian - jacobian


class EntropyCoefficient(nn.Module):
    """log(alpha) as a parameter (a module, so the Trainer checkpoints it)."""

    def __init__(self, initial: float) -> None:
        super().__init__()
        self.log_value = nn.Parameter(torch.tensor(math.log(initial)))


# ----------------------------------------------------------------------------- algorithm


class SAC(OffPolicy):
    """One gradient step: entropy coefficient, twin critics, actor, target critics."""

    name = "sac"
    Config = SACConfig
    description = "SAC: twin critics, squashed-Gaussian policy, learned entropy, HER for goal envs (Box actions)"

    config: SACConfig

    def __init__(self, config: SACConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        cfg = config
        inputs = self.observations.size
        self.actor = trainer.add_model("actor", SquashedGaussianActor(inputs, self.act_dim, cfg.hidden, cfg.activation))
        self.add_critics()
        self.learned_alpha, initial = entropy_coefficient(cfg.ent_coef)
        self.alpha = trainer.add_model("ent_coef", EntropyCoefficient(initial).requires_grad_(self.learned_alpha))
        self.target_entropy = -float(self.act_dim) if cfg.target_entropy == "auto" else float(cfg.target_entropy)
        total = self.total_updates()
        trainer.add_optimizer("actor", ["actor"], cfg.optim, total_steps=total)
        if self.learned_alpha:
            trainer.add_optimizer("ent_coef", ["ent_coef"], cfg.optim, total_steps=total)
        if cfg.manual_grad:
            self.fast_update = ManualSACUpdate.for_algorithm(self)

    def noise(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    @torch.no_grad()
    def explore(self, inputs: np.ndarray) -> np.ndarray:
        mean, log_std = self.actor(self.tensor(inputs))
        # squashed_sample's action without its log-probability, which acting does not need
        return torch.tanh(mean + log_std.exp() * self.noise(tuple(mean.shape))).cpu().numpy()

    @torch.no_grad()
    def greedy(self, inputs: np.ndarray) -> np.ndarray:
        mean, _ = self.actor(self.tensor(inputs))
        return torch.tanh(mean).cpu().numpy()

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg, trainer = self.config, self.trainer
        with trainer.autocast():
            mean, log_std = self.actor(batch["inputs"])
        actions_pi, log_prob = squashed_sample(mean, log_std, self.noise(tuple(mean.shape)))
        metrics: dict[str, float] = {}

        alpha = self.alpha.log_value.detach().exp()
        if self.learned_alpha:
            alpha_loss = -(self.alpha.log_value * (log_prob.detach() + self.target_entropy)).mean()
            trainer.optimize({"ent_coef": alpha_loss}, "ent_coef")
            metrics["losses/ent_coef"] = float(alpha_loss.detach())

        with torch.no_grad(), trainer.autocast():
            next_mean, next_log_std = self.actor(batch["next_inputs"])
            next_actions, next_log_prob = squashed_sample(next_mean, next_log_std, self.noise(tuple(next_mean.shape)))
            next_q = self.critic_target(batch["next_inputs"], next_actions).min(dim=0).values
            next_q = next_q - alpha * next_log_prob
            target_q = batch["rewards"] + (1.0 - batch["terminated"]) * cfg.gamma * next_q
        with trainer.autocast():
            q = self.critic(batch["inputs"], batch["actions"])
        critic_loss = 0.5 * F.mse_loss(q, target_q.expand_as(q), reduction="none").mean(dim=1).sum()
        trainer.optimize({"critic": critic_loss}, "critic")

        with self.critic_frozen():
            with trainer.autocast():
                q_pi = self.critic(batch["inputs"], actions_pi).min(dim=0).values
            actor_loss = (alpha * log_prob - q_pi).mean()
            trainer.optimize({"actor": actor_loss}, "actor")

        if (self.updates + 1) % cfg.target_update_interval == 0:
            polyak_update(self.critic_target, self.critic, cfg.tau)
        metrics.update(
            {
                "losses/critic": float(critic_loss.detach()),
                "losses/actor": float(actor_loss.detach()),
                "charts/ent_coef": float(alpha),
                "charts/q_values": float(q.detach().mean()),
                "charts/entropy": float(-log_prob.detach().mean()),
            }
        )
        return metrics
