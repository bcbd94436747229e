"""DQN's TD loss with its gradient written out by hand: the twin of `rlgen.agents.dqn.TDLoss`.

A DQN phase is many small optimizer steps, and on CPU autograd's graph is a sizable share
of each (a 256x256 CartPole step: ~0.92 ms by hand, ~1.05 ms through autograd). Applies to
a plain MLP Q-network (Linear + ReLU or tanh, no dueling head) trained in fp32.
"""

from __future__ import annotations

import torch
from torch import nn

from rlgen.agents._fast.mlp import Grads, backward, forward_saving, layers_of, linear_stack, params_of


class ManualTDLoss:
    """`TDLoss` of an MLP Q-network without autograd; `for_network` returns None where it
    does not apply."""

    def __init__(self, linears: list[nn.Linear], act: str, kind: str) -> None:
        self.params = params_of(linears)
        self.layers, self.act, self.kind = layers_of(self.params), act, kind

    @classmethod
    def for_network(cls, net: nn.Module, kind: str) -> ManualTDLoss | None:
        stack = linear_stack(list(net)) if isinstance(net, nn.Sequential) else None
        return None if stack is None else cls(*stack, kind)

    @torch.no_grad()
    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        return forward_saving(obs, self.layers, self.act)[-1]

    @torch.no_grad()
    def __call__(
        self, obs: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, Grads]:
        outs = forward_saving(obs, self.layers, self.act)
        q_taken = outs[-1].gather(1, actions[:, None]).squeeze(1)
        error = q_taken - targets
        count = error.numel()
        if self.kind == "huber":
            # 0.5 e^2 inside |e| < 1 and |e| - 0.5 outside are both slope * (e - slope / 2),
            # slope = e clamped to [-1, 1]: the loss in four ops instead of nine.
            slope = error.clamp(-1.0, 1.0)
            loss = torch.dot(slope, torch.sub(error, slope, alpha=0.5)).div_(count)
            slope.div_(count)
        else:
            loss = torch.dot(error, error).div_(count)
            slope = error * (2.0 / count)
        d_q = torch.zeros_like(outs[-1]).scatter_(1, actions[:, None], slope[:, None])
        grads = backward(d_q, outs[:-1], self.layers, self.act)
        return {"td": loss}, q_taken, list(zip(self.params, grads, strict=True))
