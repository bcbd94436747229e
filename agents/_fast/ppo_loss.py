"""PPO's loss of a categorical MLP actor-critic with its gradient written out by hand: the twin
of `rlgen.agents.ppo.PPOLoss`.

Autograd records ~40 nodes for this loss (6 linear layers, their activations and
transposes, softmax, ratio, clipping, value error) and on CPU each one costs more than its
arithmetic on a 256 x 64 batch. Here the forward pass keeps the activations and the
backward pass is the chain rule in ~30 tensor ops (the MLP passes are `mlp`'s). The values
and gradients equal the reference's to float rounding (a test checks both, with masks and
an entropy bonus). Applies to discrete actions, bodies of Linear + tanh or ReLU, no value
clipping, fp32.
"""

from __future__ import annotations

import torch
from torch import nn

from rlgen.agents._fast.mlp import Grads, forward_saving, layers_of, linear_stack, params_of
from rlgen.agents._fast.mlp import backward as mlp_backward
from rlgen.agents.onpolicy import MASKED_LOGIT, ActorCritic, Rollout


def _loss_forward(
    spec: tuple[int, str],
    obs: torch.Tensor,
    actions: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    masks: torch.Tensor | None,
    clip: float,
    params: list[torch.Tensor],
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor | None, ...]]:
    """(policy loss, value loss, mean entropy, approximate KL, clip fraction) and what the
    backward pass needs."""
    n_policy, act = spec
    pi_layers, v_layers = layers_of(params[: 2 * n_policy]), layers_of(params[2 * n_policy :])
    pi = forward_saving(obs, pi_layers, act)
    v = forward_saving(obs, v_layers, act)
    logits = pi[-1] if masks is None else pi[-1].masked_fill(~masks, MASKED_LOGIT)
    log_p = torch.log_softmax(logits, -1)
    p = log_p.exp()
    log_ratio = log_p.gather(-1, actions[:, None]).squeeze(-1) - old_log_probs
    ratio = log_ratio.exp()
    surrogate = advantages * ratio
    clipped = advantages * ratio.clamp(1 - clip, 1 + clip)
    policy_loss = -torch.min(surrogate, clipped).mean()
    entropy = -(p * log_p).sum(-1)
    error = v[-1].squeeze(-1) - returns
    value_loss = 0.5 * error.pow(2).mean()
    approx_kl = ((ratio - 1) - log_ratio).mean()
    clip_fraction = ((ratio - 1).abs() > clip).float().mean()
    # the policy gradient flows only where the unclipped term is the smaller one
    policy_weight = torch.where(surrogate <= clipped, surrogate, 0.0)
    saved = (actions, masks, p, log_p, entropy, error, policy_weight, *pi[:-1], *v[:-1], *params)
    return (policy_loss, value_loss, entropy.mean(), approx_kl, clip_fraction), saved


def _loss_backward(
    spec: tuple[int, str],
    n_params: int,
    saved: tuple[torch.Tensor | None, ...],
    g_policy: torch.Tensor | float | None,
    g_value: torch.Tensor | float | None,
    g_entropy: torch.Tensor | float | None,
) -> list[torch.Tensor]:
    """Gradients of every parameter from the output gradients of the three losses (None: 0)."""
    n_policy, act = spec
    actions, masks, p, log_p, entropy, error, policy_weight, *rest = saved
    pi_inputs, v_inputs, params = rest[:n_policy], rest[n_policy:-n_params], rest[-n_params:]
    pi_layers, v_layers = layers_of(params[: 2 * n_policy]), layers_of(params[2 * n_policy :])
    batch = p.shape[0]
    d_logits = torch.zeros_like(p)
    if (
        g_policy is not None
    ):  # d(-mean(ratio * adv))/d log_pi(a) = -ratio * adv / B; d log_pi(a)/d logits = onehot(a) - p
        weight = policy_weight * (-g_policy / batch)
        d_logits = (-p * weight[:, None]).scatter_add_(-1, actions[:, None], weight[:, None])
    if g_entropy is not None:  # dH/d logits = -p (log p + H)
        d_logits = d_logits - (g_entropy / batch) * p * (log_p + entropy[:, None])
    if masks is not None:
        d_logits = d_logits.masked_fill(~masks, 0.0)
    grads = mlp_backward(d_logits, [*pi_inputs], pi_layers, act)
    d_value = error[:, None] * (g_value / batch) if g_value is not None else torch.zeros_like(error[:, None])
    return grads + mlp_backward(d_value, [*v_inputs], v_layers, act)


class ManualPPOLoss:
    """`PPOLoss` without autograd: `loss(batch, advantages, clip) -> (terms, stats, grads)`
    with the (parameter, gradient) pairs of policy loss + vf_coef x value loss - ent_coef x
    entropy. `for_model` returns None where the hand-written gradient does not apply."""

    def __init__(
        self, linears_pi: list[nn.Linear], linears_v: list[nn.Linear], act: str, vf_coef: float, ent_coef: float
    ) -> None:
        self.params = params_of([*linears_pi, *linears_v])
        self.spec = (len(linears_pi), act)
        self.vf_coef, self.ent_coef = vf_coef, ent_coef

    @classmethod
    def for_model(cls, model: ActorCritic, vf_coef: float, ent_coef: float) -> ManualPPOLoss | None:
        pi = linear_stack([*model.pi_body, model.pi_head]) if model.discrete else None
        v = linear_stack([*model.v_body, model.v_head])
        if pi is None or v is None or pi[1] != v[1]:
            return None
        return cls(pi[0], v[0], pi[1], vf_coef, ent_coef)

    @torch.no_grad()
    def __call__(
        self, batch: Rollout, adv: torch.Tensor, clip: float
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, Grads]:
        (policy_loss, value_loss, entropy, approx_kl, clip_fraction), saved = _loss_forward(
            self.spec,
            batch.obs,
            batch.actions.long(),
            batch.log_probs,
            adv,
            batch.returns,
            batch.masks,
            clip,
            self.params,
        )
        g_entropy = -self.ent_coef if self.ent_coef != 0 else None
        grads = _loss_backward(self.spec, len(self.params), saved, 1.0, self.vf_coef, g_entropy)
        terms = {"policy": policy_loss, "value": self.vf_coef * value_loss}
        if self.ent_coef != 0:
            terms["entropy"] = -self.ent_coef * entropy
        stats = torch.stack([policy_loss, value_loss, entropy, approx_kl, clip_fraction])
        return terms, stats, list(zip(self.params, grads, strict=True))
