"""PPO: clipped surrogate objective on GAE advantages, several epochs of mini-batches
per rollout.

    rlgen train ppo --env CartPole-v1
    rlgen train ppo --env HalfCheetah-v5        # Gaussian policy, obs / reward normalization

Read top to bottom: config, then `PPOLoss` (the loss of one mini-batch), then `update`
(epochs of mini-batches); rollouts, normalization, masks for games, evaluation and
checkpoints come from `rlgen.agents.onpolicy`. With `manual_grad` (on by default) the
loss's hand-written twin (`rlgen.agents._fast.ppo_loss`, same signature, held equal by a
test) runs where it applies; `manual_grad=false` runs `PPOLoss` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from rlgen.agents._fast.mlp import Grads
from rlgen.agents._fast.ppo_loss import ManualPPOLoss
from rlgen.agents.onpolicy import (
    CONTINUOUS,
    ActorCritic,
    OnPolicy,
    OnPolicyConfig,
    Rollout,
    evaluate_actions,
    normalize_advantages,
)
from rlgen.errors import ConfigError

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

# the common MuJoCo recipe: one env, 2048-step rollouts, 10 epochs of 64-sample mini-batches, normalization
MUJOCO: dict[str, Any] = dict(
    num_envs=1,
    n_steps=2048,
    batch_size=64,
    n_epochs=10,
    gamma=0.99,
    gae_lambda=0.95,
    clip_range=0.2,
    normalize_obs=True,
    normalize_reward=True,
    steps=1_000_000,
    optim=dict(lr=3e-4, schedule="linear"),
)
PRESETS: dict[str, dict[str, Any]] = {
    # rl-baselines3-zoo's tuned CartPole PPO; SB3's value loss is vf_coef x MSE, ours vf_coef x MSE / 2,
    # so its vf_coef 0.5 is our 1.0
    "CartPole-v1": dict(
        num_envs=8,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        vf_coef=1.0,
        clip_range=0.2,
        clip_decay=True,
        optim=dict(lr=1e-3, schedule="linear"),
    ),
    CONTINUOUS: MUJOCO,
    "InvertedPendulum-v5": {**MUJOCO, "steps": 100_000},
    # rl-baselines3-zoo's tuned HalfCheetah PPO (vf_coef 0.58096 in SB3's units is 1.16192 here)
    "HalfCheetah-v5": {
        **MUJOCO,
        "n_steps": 512,
        "batch_size": 64,
        "n_epochs": 20,
        "gamma": 0.98,
        "gae_lambda": 0.92,
        "clip_range": 0.1,
        "ent_coef": 0.000401762,
        "vf_coef": 1.16192,
        "hidden": [256, 256],
        "activation": "relu",
        "ortho_init": False,
        "log_std_init": -2.0,
        "optim": dict(lr=2.0633e-5, schedule="constant", grad_clip=0.8),
        "trainer": dict(eval_every=50_000, checkpoint_every=50_000),
    },
}


@dataclass
class PPOConfig(OnPolicyConfig):
    """Proximal policy optimization. Env presets (CartPole-v1, InvertedPendulum-v5, any
    continuous-action env) sit under your values."""

    batch_size: int = 64
    """Mini-batch size (the rollout num_envs * n_steps is split into these)."""
    n_epochs: int = 10
    """Passes over each rollout."""
    clip_range: float = 0.2
    """Clip of the probability ratio."""
    clip_decay: bool = False
    """Anneal clip_range linearly to 0 over training."""
    clip_range_vf: float = 0.0
    """Clip the value change around the rollout's values (0 = off)."""
    target_kl: float = 0.0
    """Stop the epochs of a rollout early when the approximate KL exceeds 1.5 x this (0 = off)."""
    manual_grad: bool = True
    """Take the loss's gradient from its hand-written twin (rlgen.agents._fast.ppo_loss) instead
    of autograd where it applies: discrete actions, MLP bodies, no value clipping, fp32, no
    l1/l2 penalty. Same math (a test holds them equal), no autograd graph."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    RENAMED: ClassVar[dict[str, str]] = {"fused_loss": "manual_grad"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1 or self.n_epochs < 1:
            raise ConfigError(f"batch_size and n_epochs must be >= 1, got {self.batch_size}, {self.n_epochs}")
        if self.clip_range <= 0:
            raise ConfigError(f"clip_range must be > 0, got {self.clip_range}")


# ----------------------------------------------------------------------------- loss

STATS = ("losses/policy", "losses/value", "losses/entropy", "losses/approx_kl", "losses/clip_fraction")
"""What the `stats` tensor of a loss holds, in order."""


class PPOLoss:
    """PPO's loss of one mini-batch through autograd: `loss(batch, advantages, clip) ->
    (terms, stats, grads)`. `terms` (policy loss, vf_coef x value loss, -ent_coef x entropy)
    go to `Trainer.optimize`; `stats` is STATS as one detached tensor; `grads` is None here
    (autograd takes them from `terms`), while the hand-written twin returns them itself."""

    def __init__(self, model: ActorCritic, config: PPOConfig, autocast: Callable[[], Any]) -> None:
        self.model, self.config, self.autocast = model, config, autocast

    def __call__(
        self, batch: Rollout, adv: torch.Tensor, clip: float
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, Grads | None]:
        cfg = self.config
        log_probs, entropy, values = evaluate_actions(self.model, batch, self.autocast)
        log_ratio = log_probs - batch.log_probs
        ratio = log_ratio.exp()
        policy_loss = -torch.min(adv * ratio, adv * ratio.clamp(1 - clip, 1 + clip)).mean()
        if cfg.clip_range_vf > 0:
            clipped = batch.values + (values - batch.values).clamp(-cfg.clip_range_vf, cfg.clip_range_vf)
            value_loss = 0.5 * torch.max((values - batch.returns) ** 2, (clipped - batch.returns) ** 2).mean()
        else:
            value_loss = 0.5 * ((values - batch.returns) ** 2).mean()
        entropy = entropy.mean()
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean()
            clip_fraction = ((ratio - 1).abs() > clip).float().mean()
        terms = {"policy": policy_loss, "value": cfg.vf_coef * value_loss}
        if cfg.ent_coef != 0:  # a zero-weighted term would still cost its backward pass
            terms["entropy"] = -cfg.ent_coef * entropy
        stats = torch.stack([policy_loss.detach(), value_loss.detach(), entropy.detach(), approx_kl, clip_fraction])
        return terms, stats, None


# ----------------------------------------------------------------------------- algorithm


class PPO(OnPolicy):
    name = "ppo"
    Config = PPOConfig
    description = "PPO (GAE, clipped objective, masks, Gaussian or categorical policy)"

    config: PPOConfig

    def __init__(self, config: PPOConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        # The hand-written twin, picked once: `update` reads the same whichever runs.
        applies = config.manual_grad and config.clip_range_vf == 0 and trainer.amp_dtype is None
        manual = ManualPPOLoss.for_model(self.model, config.vf_coef, config.ent_coef) if applies else None
        self.loss = (
            manual
            if manual is not None and trainer.takes_gradients()
            else PPOLoss(self.model, config, trainer.autocast)
        )

    def total_updates(self) -> int:
        cfg = self.config
        rollout = cfg.num_envs * cfg.n_steps
        return max(cfg.steps // rollout, 1) * cfg.n_epochs * max(-(-rollout // cfg.batch_size), 1)

    def update(self, rollout: Rollout) -> dict[str, float]:
        cfg = self.config
        progress = min(self.trainer.step / max(cfg.steps, 1), 1.0)
        clip = cfg.clip_range * (1.0 - progress) if cfg.clip_decay else cfg.clip_range
        clip = max(clip, 1e-8)
        size = rollout.obs.shape[0]
        whole = cfg.batch_size >= size  # one mini-batch per epoch: the whole rollout, so no shuffle, no gather
        advantages = rollout.advantages
        if whole and cfg.normalize_advantage and size > 1:  # the same batch every epoch: normalize once
            advantages = normalize_advantages(advantages)
        sums: dict[str, float] = {}
        stats: list[torch.Tensor] = []
        count = 0
        stopped = False
        for _ in range(cfg.n_epochs):
            order = None if whole else torch.randperm(size, device=rollout.obs.device)
            for start in range(0, size, cfg.batch_size):
                idx = None if order is None else order[start : start + cfg.batch_size]
                batch = rollout if idx is None else rollout.take(idx)
                adv = advantages if idx is None else advantages[idx]
                if idx is not None and cfg.normalize_advantage and len(idx) > 1:
                    adv = normalize_advantages(adv)
                terms, batch_stats, grads = self.loss(batch, adv, clip)
                if cfg.target_kl > 0 and float(batch_stats[3]) > 1.5 * cfg.target_kl:
                    stopped = True
                    break
                metrics = self.trainer.optimize(terms, grads=grads)
                stats.append(batch_stats)  # read once per rollout: a float() per step costs more than the math here
                for key, value in metrics.items():
                    sums[key] = sums.get(key, 0.0) + value
                count += 1
            if stopped:
                break
        means = torch.stack(stats).mean(0).tolist() if stats else [float("nan")] * len(STATS)
        sums.update({name: value * max(count, 1) for name, value in zip(STATS, means, strict=True)})
        out = {k: v / max(count, 1) for k, v in sums.items()}
        var_returns = float(rollout.returns.var())
        residual = float((rollout.returns - rollout.values).var())
        out["losses/explained_variance"] = float(np.nan if var_returns == 0 else 1 - residual / var_returns)
        out["charts/clip_range"] = clip
        out["charts/early_stopped"] = float(stopped)
        if not self.discrete:
            out["charts/action_std"] = float(self.model.pi_head.log_std.detach().exp().mean())
        return out
