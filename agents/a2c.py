"""A2C: synchronous advantage actor-critic — short rollouts from many envs, one gradient
step on the whole rollout (policy gradient with n-step / GAE advantages + value loss).

    rlgen train a2c --env CartPole-v1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from rlgen.agents.onpolicy import OnPolicy, OnPolicyConfig, Rollout, evaluate_actions, normalize_advantages
from rlgen.config import OptimConfig

PRESETS: dict[str, dict[str, Any]] = {
    "CartPole-v1": dict(num_envs=8, n_steps=5, steps=200_000, optim=dict(lr=7e-4)),
}


@dataclass
class A2CConfig(OnPolicyConfig):
    """Advantage actor-critic with SB3's defaults: RMSprop, 5-step rollouts, lambda 1."""

    n_steps: int = 5
    """Steps per env per rollout."""
    gae_lambda: float = 1.0
    """GAE lambda (1 = plain n-step returns)."""
    normalize_advantage: bool = False
    """Standardize advantages over the rollout."""
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(name="rmsprop", lr=7e-4, momentum=0.0, eps=1e-5, grad_clip=0.5)
    )
    """Optimizer (RMSprop without momentum, as the original A2C)."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    ALIASES: ClassVar[dict[str, str]] = {"rms_prop_eps": "optim.eps"}


class A2C(OnPolicy):
    name = "a2c"
    Config = A2CConfig
    description = "A2C (synchronous advantage actor-critic, vectorized envs)"

    def update(self, rollout: Rollout) -> dict[str, float]:
        cfg = self.config
        log_probs, entropy, values = evaluate_actions(self.model, rollout, self.trainer.autocast)
        adv = rollout.advantages
        if cfg.normalize_advantage:
            adv = normalize_advantages(adv)
        policy_loss = -(adv * log_probs).mean()
        value_loss = 0.5 * ((values - rollout.returns) ** 2).mean()
        metrics = self.trainer.optimize(
            {"policy": policy_loss, "value": cfg.vf_coef * value_loss, "entropy": -cfg.ent_coef * entropy.mean()}
        )
        return {
            "losses/policy": float(policy_loss.detach()),
            "losses/value": float(value_loss.detach()),
            "losses/entropy": float(entropy.detach().mean()),
            **metrics,
        }
