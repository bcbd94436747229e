"""Plain MLPs (Linear layers with one activation, tanh or ReLU, between them) run and
differentiated by hand.

On CPU, autograd's graph and engine cost more per step than the arithmetic of a small RL
network on a batch of a few hundred rows. The losses written out by hand (`ppo_loss`,
`td_loss`) use these passes and hand their gradients to `Trainer.optimize(losses, grads=...)`;
tests hold them equal to autograd's.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Layers = list[tuple[torch.Tensor, torch.Tensor]]
Grads = list[tuple[torch.Tensor, torch.Tensor]]
"""(parameter, gradient) pairs, as `Trainer.optimize(losses, grads=...)` takes them."""


def linear_stack(layers: list[nn.Module]) -> tuple[list[nn.Linear], str] | None:
    """The Linear layers among `layers` and their (single) activation, tanh or relu; None
    when they hold anything else (norms, dropout, other activations) or end in an activation."""
    linears: list[nn.Linear] = []
    kinds = set()
    for layer in layers:
        if type(layer) is nn.Linear:
            linears.append(layer)
        elif type(layer) in (nn.Tanh, nn.ReLU):
            kinds.add("tanh" if type(layer) is nn.Tanh else "relu")
        elif type(layer) is not nn.Identity:
            return None
    if len(kinds) != 1 or len(linears) < 2 or type(layers[-1]) is not nn.Linear:
        return None
    return linears, kinds.pop()


def params_of(linears: list[nn.Linear]) -> list[torch.Tensor]:
    """weight, bias, weight, bias, ... of a linear stack (the order `backward` returns)."""
    return [t for layer in linears for t in (layer.weight, layer.bias)]


def layers_of(params: list[torch.Tensor]) -> Layers:
    """(weight, bias) pairs from `params_of`'s flat list."""
    return list(zip(params[0::2], params[1::2], strict=True))


def stack_forward(x: torch.Tensor, linears: list[nn.Linear], act: str) -> torch.Tensor:
    """The stack's output (differentiable through autograd)."""
    activation = torch.tanh if act == "tanh" else torch.relu
    for layer in linears[:-1]:
        x = activation(F.linear(x, layer.weight, layer.bias))
    return F.linear(x, linears[-1].weight, linears[-1].bias)


def _tanh(z: torch.Tensor) -> torch.Tensor:
    """tanh as 2 sigmoid(2z) - 1 (within 2e-7 of torch.tanh): torch's CPU tanh kernel costs
    ~6x the sigmoid kernel per element, and these batches are large enough for it to show."""
    return torch.sigmoid(z.mul_(2)).mul_(2).sub_(1)


def forward_saving(x: torch.Tensor, layers: Layers, act: str) -> list[torch.Tensor]:
    """The input of every layer, then the output: what `backward` needs."""
    outs = [x]
    for i, (weight, bias) in enumerate(layers):
        z = F.linear(outs[-1], weight, bias)
        if i < len(layers) - 1:
            z = _tanh(z) if act == "tanh" else torch.relu(z)
        outs.append(z)
    return outs


def backward(grad: torch.Tensor, inputs: list[torch.Tensor], layers: Layers, act: str) -> list[torch.Tensor]:
    """Weight and bias gradients of every layer (`params_of` order) from the gradient of the
    output; `inputs` as `forward_saving` returned them, without the output."""
    grads: list[torch.Tensor] = [grad] * (2 * len(layers))
    for i in range(len(layers) - 1, -1, -1):
        h = inputs[i]
        grads[2 * i], grads[2 * i + 1] = grad.t().mm(h), grad.sum(0)
        if i > 0:  # into the activation that produced h, from its output (tanh' = 1 - h^2, relu' = [h > 0])
            grad = grad.mm(layers[i][0])
            grad = grad.addcmul_(grad, h * h, value=-1) if act == "tanh" else grad.mul_(h > 0)
    return grads


class NumpyForward:
    """A CPU fp32 linear stack's forward pass in numpy, for acting on a few observations at a
    time, where torch's per-call overhead is most of the cost (one CartPole observation
    through 4-256-256-2: ~14 us in numpy, ~40-110 us through torch). The arrays are views
    of the parameters, re-taken when a parameter's storage was replaced."""

    def __init__(self, linears: list[nn.Linear], act: str) -> None:
        self.linears, self.act = linears, act
        self.refresh()

    @classmethod
    def for_network(cls, net: nn.Module) -> NumpyForward | None:
        """The numpy pass of a CPU fp32 plain MLP (an nn.Sequential `linear_stack` accepts), else None."""
        stack = linear_stack(list(net)) if isinstance(net, nn.Sequential) else None
        if stack is None or any(p.device.type != "cpu" or p.dtype != torch.float32 for p in net.parameters()):
            return None
        return cls(*stack)

    def refresh(self) -> None:
        self.arrays = [(layer.weight.detach().numpy().T, layer.bias.detach().numpy()) for layer in self.linears]
        self.storage = self.linears[0].weight.data_ptr()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.linears[0].weight.data_ptr() != self.storage:
            self.refresh()
        last = len(self.arrays) - 1
        for i, (weight, bias) in enumerate(self.arrays):
            x = x @ weight
            x += bias
            if i < last:
                np.tanh(x, out=x) if self.act == "tanh" else np.maximum(x, 0, out=x)
        return x
