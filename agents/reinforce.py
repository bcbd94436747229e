"""REINFORCE with a learned baseline: Monte-Carlo returns (lambda = 1) of long rollouts,
the policy pushed along log-probability x (return - baseline), the baseline regressed
on the returns. An episode cut by the end of a rollout (or a time limit) is completed
with the baseline's estimate of the rest.

    rlgen train reinforce --env CartPole-v1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from rlgen.agents.onpolicy import OnPolicy, OnPolicyConfig, Rollout, evaluate_actions, normalize_advantages
from rlgen.config import OptimConfig
from rlgen.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    "CartPole-v1": dict(num_envs=4, n_steps=500, steps=400_000, baseline_steps=10),
}


@dataclass
class ReinforceConfig(OnPolicyConfig):
    """REINFORCE with a value baseline; one policy step per rollout of whole episodes."""

    num_envs: int = 4
    """Envs stepped together."""
    n_steps: int = 500
    """Steps per env per rollout: long, so most episodes finish inside one."""
    gae_lambda: float = 1.0
    """Monte-Carlo returns; keep 1 for REINFORCE proper."""
    baseline_steps: int = 5
    """Extra mini-batch steps fitting the baseline to the returns after the policy step."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-3, grad_clip=1.0))
    """Optimizer of the policy and the baseline."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.baseline_steps < 0:
            raise ConfigError(f"baseline_steps must be >= 0, got {self.baseline_steps}")


class Reinforce(OnPolicy):
    name = "reinforce"
    Config = ReinforceConfig
    description = "REINFORCE with a learned value baseline"

    config: ReinforceConfig

    def total_updates(self) -> int:
        return super().total_updates() * (1 + self.config.baseline_steps)

    def update(self, rollout: Rollout) -> dict[str, float]:
        cfg = self.config
        log_probs, entropy, values = evaluate_actions(self.model, rollout, self.trainer.autocast)
        adv = rollout.advantages  # Monte-Carlo return - baseline
        if cfg.normalize_advantage:
            adv = normalize_advantages(adv)
        policy_loss = -(adv * log_probs).mean()
        value_loss = 0.5 * ((values - rollout.returns) ** 2).mean()
        out = {"losses/policy": float(policy_loss.detach()), "losses/entropy": float(entropy.detach().mean())}
        out.update(
            self.trainer.optimize(
                {"policy": policy_loss, "value": cfg.vf_coef * value_loss, "entropy": -cfg.ent_coef * entropy.mean()}
            )
        )
        size = rollout.obs.shape[0]
        for _ in range(cfg.baseline_steps):
            idx = torch.randint(size, (min(size, 256),), device=rollout.obs.device)
            with self.trainer.autocast():
                fit = 0.5 * ((self.model.value(rollout.obs[idx]).float() - rollout.returns[idx]) ** 2).mean()
            self.trainer.optimize({"value": cfg.vf_coef * fit})
        out["losses/value"] = float(value_loss.detach())
        return out
