"""TD3: twin delayed DDPG (twin critics, target policy smoothing, the actor and the
targets updated every `policy_delay` critic steps), as SB3's TD3.

    rlgen train td3 --env HalfCheetah-v5
    rlgen train td3 --env FetchReach-v4         # goal env: hindsight experience replay

Read top to bottom: the config and PRESETS, the deterministic actor, then `update`.
Collection, replay (HER included), evaluation and checkpoints are
`rlgen.agents.offpolicy`'s.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlgen.agents.offpolicy import (
    FETCH_OBJECT_PRESET,
    FETCH_OBJECT_TASKS,
    LOCOMOTION,
    LOCOMOTION_PRESET,
    OffPolicy,
    OffPolicyConfig,
    polyak_update,
    with_fp32_head,
)
from rlgen.config import OptimConfig
from rlgen.errors import ConfigError
from rlgen.nets import MLP

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

# Per-env values over the defaults (SB3's TD3 with rl-zoo's Gaussian exploration noise).
PRESETS: dict[str, dict[str, Any]] = {
    **{env: LOCOMOTION_PRESET for env in LOCOMOTION},
    "FetchReach-v4": dict(
        steps=10_000,
        learning_starts=1000,
        batch_size=256,
        gamma=0.95,
        hidden=[64, 64],
        eval_episodes=10,
        trainer=dict(log_every=1000, eval_every=2000, checkpoint_every=2000),
    ),
    **{env: FETCH_OBJECT_PRESET for env in FETCH_OBJECT_TASKS},
}


@dataclass
class TD3Config(OffPolicyConfig):
    """TD3 with Stable-Baselines3's defaults; `PRESETS` tune per env."""

    hidden: list[int] = field(default_factory=lambda: [400, 300])
    """Hidden layer widths of the actor and of each critic (SB3's TD3 net_arch)."""
    policy_delay: int = 2
    """Critic steps per actor and target update."""
    target_policy_noise: float = 0.2
    """Std of the Gaussian noise on the target policy's actions (smoothing)."""
    target_noise_clip: float = 0.5
    """Clip of that noise."""
    action_noise: float = 0.1
    """Std of the Gaussian exploration noise on the actor's actions (0 = none)."""
    action_l2: float = 0.0
    """Weight of the mean squared [-1, 1] action in the actor's loss (HER's `action_l2`, 1.0
    in openai/baselines' Fetch runs: keeps the tanh out of saturation while Q is flat)."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-3))
    """Optimizer of the actor and the critics (SB3's TD3 learning rate 1e-3)."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.policy_delay < 1:
            raise ConfigError(f"policy_delay must be >= 1, got {self.policy_delay}")
        for key in ("target_policy_noise", "target_noise_clip", "action_noise", "action_l2"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")


class DeterministicActor(nn.Module):
    """MLP -> tanh: one action in [-1, 1] per observation."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], act: str = "relu") -> None:
        super().__init__()
        self.net = MLP(obs_dim, hidden, act_dim, act)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(with_fp32_head(self.net, obs))


class TD3(OffPolicy):
    """Critic step every update; actor and Polyak targets every `policy_delay` updates."""

    name = "td3"
    Config = TD3Config
    description = "TD3: twin critics, target policy smoothing, delayed actor, HER for goal envs (Box actions)"

    config: TD3Config

    def __init__(self, config: TD3Config, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        cfg = config
        inputs = self.observations.size
        actor = DeterministicActor(inputs, self.act_dim, cfg.hidden, cfg.activation)
        self.actor = trainer.add_model("actor", actor)
        self.actor_target = trainer.add_model("actor_target", copy.deepcopy(actor).requires_grad_(False))
        self.add_critics()
        trainer.add_optimizer(
            "actor", ["actor"], cfg.optim, total_steps=max(1, self.total_updates() // cfg.policy_delay)
        )
        self.actor_updates = 0

    def noise(self, shape: tuple[int, ...], std: float) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device) * std

    @torch.no_grad()
    def explore(self, inputs: np.ndarray) -> np.ndarray:
        actions = self.actor(self.tensor(inputs))
        return (actions + self.noise(tuple(actions.shape), self.config.action_noise)).clamp(-1.0, 1.0).cpu().numpy()

    @torch.no_grad()
    def greedy(self, inputs: np.ndarray) -> np.ndarray:
        return self.actor(self.tensor(inputs)).cpu().numpy()

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg, trainer = self.config, self.trainer
        with torch.no_grad(), trainer.autocast():
            next_actions = self.actor_target(batch["next_inputs"])
            smoothing = self.noise(tuple(next_actions.shape), cfg.target_policy_noise)
            smoothing = smoothing.clamp(-cfg.target_noise_clip, cfg.target_noise_clip)
            next_actions = (next_actions + smoothing).clamp(-1.0, 1.0)
            next_q = self.critic_target(batch["next_inputs"], next_actions).min(dim=0).values
            target_q = batch["rewards"] + (1.0 - batch["terminated"]) * cfg.gamma * next_q
        with trainer.autocast():
            q = self.critic(batch["inputs"], batch["actions"])
        critic_loss = F.mse_loss(q, target_q.expand_as(q), reduction="none").mean(dim=1).sum()
        trainer.optimize({"critic": critic_loss}, "critic")
        metrics = {"losses/critic": float(critic_loss.detach()), "charts/q_values": float(q.detach().mean())}

        if (self.updates + 1) % cfg.policy_delay == 0:
            with self.critic_frozen():
                with trainer.autocast():
                    actions = self.actor(batch["inputs"])
                    actor_loss = -self.critic(batch["inputs"], actions, members=1)[0].mean()
                    if cfg.action_l2:
                        actor_loss = actor_loss + cfg.action_l2 * actions.float().pow(2).mean()
                trainer.optimize({"actor": actor_loss}, "actor")
            polyak_update(self.critic_target, self.critic, cfg.tau)
            polyak_update(self.actor_target, self.actor, cfg.tau)
            self.actor_updates += 1
            metrics["losses/actor"] = float(actor_loss.detach())
        metrics["charts/actor_updates"] = float(self.actor_updates)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "actor_updates": self.actor_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state:
            self.actor_updates = int(state["actor_updates"])
