"""SAC's gradient step with its gradients written out by hand: the twin of
`rlgen.agents.sac.SAC.update`.

One SAC step runs the actor twice and the twin critics three times, with backward passes
through both. On CPU the arithmetic of 256-wide layers on a 256-row batch is small (a
bf16 matmul on AMX takes ~60 us), and autograd's graph, autocast's casts of every weight
at every call and torch's bf16 elementwise kernels cost more than it. Here every pass
keeps what its backward needs and the chain rule is written out: the actor runs once over
the batch and the next observations together (their rows are independent), each weight is
cast once per pass, bf16 ReLU and its derivative work on the raw bits, and one-output
heads are matrix-vector products. Gradients go to `Trainer.optimize(losses, grads=...)`
unchanged, so clipping, NaN checks and schedules are the reference's. In fp32 the values
and gradients equal the reference's to float rounding (a test checks each optimizer's
gradients over several steps); under bf16 the same layers run in bf16 as under autocast
(hidden layers bf16, heads and losses fp32). Applies to Linear + ReLU or tanh bodies.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from rlgen.agents._fast.mlp import Grads

if TYPE_CHECKING:
    from rlgen.agents.sac import SAC

ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh"}


def _body(layers: list[nn.Module], linear: type) -> tuple[list[nn.Module], str] | None:
    """The `linear` layers of a Linear, activation, Linear, activation, ... body and its one
    activation (relu or tanh); None for anything else (norms, dropout, other activations)."""
    layers = [layer for layer in layers if type(layer) is not nn.Identity]
    linears = list(layers[0::2])
    acts = {type(layer) for layer in layers[1::2]}
    if (
        len(layers) % 2
        or not linears
        or any(type(layer) is not linear for layer in linears)
        or len(acts) != 1
        or next(iter(acts)) not in ACTIVATIONS
    ):
        return None
    return linears, ACTIVATIONS[next(iter(acts))]


def _activate(z: torch.Tensor, act: str) -> torch.Tensor:
    """The activation, in place. ReLU of bf16 is a clamp of its bits read as int16 (the
    sign is the top bit, so every negative value, -0 included, becomes +0): torch's CPU bf16
    kernels convert through fp32 and take ~3x as long as one int16 pass. (A NaN with the
    sign bit set would become 0 too: the step checks its batch is finite first.)"""
    if act == "tanh":
        return z.tanh_()
    if z.dtype == torch.bfloat16:
        z.view(torch.int16).clamp_min_(0)
        return z
    return z.relu_()


def _activation_backward(grad: torch.Tensor, out: torch.Tensor, act: str) -> torch.Tensor:
    """The gradient into an activation from the gradient of its output `out`."""
    if act == "tanh":
        return grad - grad * out * out  # tanh' = 1 - tanh^2
    if grad.dtype == torch.bfloat16:
        # `out` >= 0 bitwise, so its int16 bits clamped to 1 are ReLU's 0/1 derivative, and
        # multiplying the gradient's bits by it keeps or zeroes them (threshold_backward's result).
        return (grad.view(torch.int16) * out.view(torch.int16).clamp_max(1)).view(torch.bfloat16)
    return torch.ops.aten.threshold_backward(grad, out, 0)


def _through_head(d_q: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """d loss / d features [n, B, H] of one-output heads (weight [n, H, 1]) from d loss / d Q
    [n, B]: an outer product per critic, as a broadcast multiply (bmm with a dimension of
    one takes ~10x as long)."""
    return d_q.unsqueeze(-1) * weight.transpose(1, 2)


class ManualSACUpdate:
    """`SAC.update` without autograd; `for_algorithm` returns None where it does not apply."""

    def __init__(
        self, sac: SAC, actor_body: tuple[list[nn.Module], str], critic_body: tuple[list[nn.Module], str]
    ) -> None:
        self.sac = sac
        self.actor_linears, self.actor_act = actor_body
        hidden, self.critic_act = critic_body
        self.critic_layers = [*hidden, sac.critic.net[-1]]
        self.dtype = sac.trainer.amp_dtype or torch.float32

    @classmethod
    def for_algorithm(cls, sac: SAC) -> ManualSACUpdate | None:
        from rlgen.agents.offpolicy import EnsembleLinear

        trainer = sac.trainer
        if trainer.amp_dtype not in (None, torch.bfloat16):
            return None
        optimizers = ["critic", "actor"] + (["ent_coef"] if sac.learned_alpha else [])
        if not all(trainer.takes_gradients(name) for name in optimizers):
            return None
        actor = _body(list(sac.actor.trunk), nn.Linear)
        critic = _body(list(sac.critic.net)[:-1], EnsembleLinear)
        return None if actor is None or critic is None else cls(sac, actor, critic)

    # -- passes

    def _actor_forward(self, obs: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """(the input and output of every trunk layer, then the trunk's output in fp32; the
        mean; the log std before its clamp)."""
        h = obs.to(self.dtype)
        saved = [h]
        for layer in self.actor_linears:
            h = _activate(F.linear(h, layer.weight.to(self.dtype), layer.bias.to(self.dtype)), self.actor_act)
            saved.append(h)
        saved.append(h.float())
        heads = F.linear(saved[-1], *self._heads())
        mean, log_std = heads.split(self.sac.actor.mean.out_features, dim=1)
        return saved, mean, log_std

    def _heads(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and log-std heads as one layer (one matmul instead of two)."""
        actor = self.sac.actor
        return torch.cat([actor.mean.weight, actor.log_std.weight]), torch.cat([actor.mean.bias, actor.log_std.bias])

    def _actor_grads(self, saved: list[torch.Tensor], d_mean: torch.Tensor, d_log_std: torch.Tensor) -> Grads:
        """Gradients of every actor parameter from those of the mean and log std (of the
        first rows of `saved`'s pass)."""
        actor, rows = self.sac.actor, d_mean.shape[0]
        d_heads = torch.cat([d_mean, d_log_std], dim=1)
        d_weight, d_bias = d_heads.t().mm(saved[-1][:rows]), d_heads.sum(0)
        out = actor.mean.out_features
        pairs = [
            (actor.mean.weight, d_weight[:out]),
            (actor.mean.bias, d_bias[:out]),
            (actor.log_std.weight, d_weight[out:]),
            (actor.log_std.bias, d_bias[out:]),
        ]
        grad = d_heads.mm(self._heads()[0])
        for i in range(len(self.actor_linears) - 1, -1, -1):
            layer = self.actor_linears[i]
            grad = _activation_backward(grad.to(self.dtype), saved[i + 1][:rows], self.actor_act)
            pairs += [
                (layer.weight, grad.t().mm(saved[i][:rows]).float()),
                (layer.bias, grad.sum(0, dtype=torch.float32)),
            ]
            if i > 0:
                grad = grad.mm(layer.weight.to(self.dtype))
        return pairs

    def _critic_forward(
        self, critics: nn.Module, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """(the hidden layers' weights in compute precision; the input and output of every
        hidden layer, then the last one's output in fp32; Q [n, B])."""
        layers = list(critics.net)[0::2]
        x = torch.cat([obs, actions], dim=-1).to(self.dtype).expand(critics.n, -1, -1)
        weights = [layer.weight.to(self.dtype) for layer in layers[:-1]]
        saved = [x]
        for layer, weight in zip(layers[:-1], weights, strict=True):
            x = _activate(torch.baddbmm(layer.bias.to(self.dtype), x, weight), self.critic_act)
            saved.append(x)
        saved.append(x.float())
        head = layers[-1]
        # One matrix-vector product per critic: bmm with a single output column runs ~2x slower.
        q = [torch.addmv(head.bias[m, 0], saved[-1][m], head.weight[m, :, 0]) for m in range(critics.n)]
        return weights, saved, torch.stack(q)

    def _critic_grads(self, weights: list[torch.Tensor], saved: list[torch.Tensor], d_q: torch.Tensor) -> Grads:
        """Gradients of every critic parameter from d loss / d Q [n, B]."""
        head = self.critic_layers[-1]
        grad = d_q.unsqueeze(-1)
        d_head = torch.stack([torch.mv(saved[-1][m].t(), d_q[m]) for m in range(d_q.shape[0])]).unsqueeze(-1)
        pairs = [(head.weight, d_head), (head.bias, grad.sum(1, keepdim=True))]
        grad = _through_head(d_q, head.weight)
        for i in range(len(weights) - 1, -1, -1):
            layer = self.critic_layers[i]
            grad = _activation_backward(grad.to(self.dtype), saved[i + 1], self.critic_act)
            d_weight = saved[i].transpose(1, 2).bmm(grad).float()
            pairs += [(layer.weight, d_weight), (layer.bias, grad.sum(1, keepdim=True, dtype=torch.float32))]
            if i > 0:
                grad = grad.bmm(weights[i].transpose(1, 2))
        return pairs

    def _critic_input_grad(
        self, weights: list[torch.Tensor], saved: list[torch.Tensor], d_q: torch.Tensor
    ) -> torch.Tensor:
        """d loss / d (observation, action) [B, in] from d loss / d Q [n, B], the critics held fixed."""
        grad = _through_head(d_q, self.critic_layers[-1].weight)
        for i in range(len(weights) - 1, -1, -1):
            grad = _activation_backward(grad.to(self.dtype), saved[i + 1], self.critic_act)
            grad = grad.bmm(weights[i].transpose(1, 2))
        return grad.sum(0, dtype=torch.float32)

    # -- the step

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        if not math.isfinite(float(sum(t.sum() for t in batch.values()))):
            return self.sac.update(batch)  # the reference names a NaN / Inf in the data (or skips the step)
        return self._step(batch)

    @torch.no_grad()
    def _step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        from rlgen.agents.offpolicy import polyak_update
        from rlgen.agents.sac import LOG_STD_MAX, LOG_STD_MIN, squashed_sample

        sac, trainer, cfg = self.sac, self.sac.trainer, self.sac.config
        size = batch["inputs"].shape[0]
        saved, means, raw_log_stds = self._actor_forward(torch.cat([batch["inputs"], batch["next_inputs"]]))
        log_stds = raw_log_stds.clamp(LOG_STD_MIN, LOG_STD_MAX)
        mean, log_std = means[:size], log_stds[:size]
        noise = sac.noise(tuple(mean.shape))
        actions_pi, log_prob = squashed_sample(mean, log_std, noise)
        metrics: dict[str, float] = {}

        alpha = sac.alpha.log_value.exp()
        if sac.learned_alpha:
            centred = (log_prob + sac.target_entropy).mean()
            alpha_loss = -(sac.alpha.log_value * centred)
            trainer.optimize({"ent_coef": alpha_loss}, "ent_coef", grads=[(sac.alpha.log_value, -centred)])
            metrics["losses/ent_coef"] = float(alpha_loss)

        next_mean, next_log_std = means[size:], log_stds[size:]
        next_actions, next_log_prob = squashed_sample(next_mean, next_log_std, sac.noise(tuple(next_mean.shape)))
        _, _, next_q = self._critic_forward(sac.critic_target, batch["next_inputs"], next_actions)
        next_q = next_q.min(dim=0).values - alpha * next_log_prob
        target_q = batch["rewards"] + (1.0 - batch["terminated"]) * cfg.gamma * next_q

        weights, critic_saved, q = self._critic_forward(sac.critic, batch["inputs"], batch["actions"])
        error = q - target_q
        critic_loss = 0.5 * error.pow(2).mean(dim=1).sum()
        critic_grads = self._critic_grads(weights, critic_saved, error / size)
        trainer.optimize({"critic": critic_loss}, "critic", grads=critic_grads)

        # The actor's loss through the updated critics, which it does not move; min passes
        # the gradient to the critic it picked.
        weights, critic_saved, q_pi_all = self._critic_forward(sac.critic, batch["inputs"], actions_pi)
        q_pi, chosen = q_pi_all.min(dim=0)
        actor_loss = (alpha * log_prob - q_pi).mean()
        d_q = torch.zeros_like(q_pi_all).scatter_(0, chosen.unsqueeze(0), -1.0 / size)
        d_actions = self._critic_input_grad(weights, critic_saved, d_q)[:, -actions_pi.shape[1] :]
        # With the noise fixed, d log pi / du = 2 tanh(u) for u = mean + std * noise, and
        # d log pi / d log std has a direct -1 besides the path through u.
        d_u = d_actions * (1.0 - actions_pi * actions_pi) + (2.0 * alpha / size) * actions_pi
        raw = raw_log_stds[:size]
        in_range = (raw >= LOG_STD_MIN) & (raw <= LOG_STD_MAX)
        d_log_std = (d_u * log_std.exp() * noise - alpha / size) * in_range
        trainer.optimize({"actor": actor_loss}, "actor", grads=self._actor_grads(saved, d_u, d_log_std))

        if (sac.updates + 1) % cfg.target_update_interval == 0:
            polyak_update(sac.critic_target, sac.critic, cfg.tau)
        metrics.update(
            {
                "losses/critic": float(critic_loss),
                "losses/actor": float(actor_loss),
                "charts/ent_coef": float(alpha),
                "charts/q_values": float(q.mean()),
                "charts/entropy": float(-log_prob.mean()),
            }
        )
        return metrics
