"""AlphaZero's policy-value network and the evaluator that runs it inside the search."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.alphazero.config import AlphaZeroConfig
from rlgen.device import native_bf16, resolve_precision
from rlgen.envs.game import Game, GameState
from rlgen.nets import PolicyHead, ResidualTower, ValueHead, inference_copy


class PolicyValueNet(nn.Module):
    """Residual tower over (own, opponent, ones[, parity]) planes -> move logits and a value
    in [-1, 1]. `parity_plane`: a plane holding the stone count's parity, i.e. whether the
    first or the second player moves (AlphaZero's colour plane, read from the position)."""

    def __init__(
        self, board: tuple[int, int], actions: int, blocks: int, channels: int, parity_plane: bool = False
    ) -> None:
        super().__init__()
        cells = board[0] * board[1]
        self.parity_plane = parity_plane
        self.tower = ResidualTower(4 if parity_plane else 3, channels, blocks)
        self.policy = PolicyHead(channels, cells, actions)
        self.value = ValueHead(channels, cells)

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ones = torch.ones_like(planes[:, :1])  # marks the board inside the zero padding
        extra = [ones]
        if self.parity_plane:
            # Which side moves decides which rows' threats count (Connect Four's odd/even
            # threats); convolutions cannot count the stones of the whole board themselves.
            parity = planes.float().sum(dim=(1, 2, 3)).remainder(2).to(planes.dtype)
            extra.append(ones * parity.view(-1, 1, 1, 1))
        x = self.tower(torch.cat([planes, *extra], dim=1))
        return self.policy(x), self.value(x)


def network_kwargs(config: AlphaZeroConfig) -> dict[str, Any]:
    """PolicyValueNet's arguments beyond the game's board and moves (plain values, so
    self-play worker processes can build the same network)."""
    return {"blocks": config.blocks, "channels": config.channels, "parity_plane": config.parity_plane}


def build_network(game: Game, kwargs: dict[str, Any]) -> PolicyValueNet:
    """A fresh PolicyValueNet for `game` with `network_kwargs`' arguments."""
    return PolicyValueNet(game.board_shape, game.num_actions, **kwargs)


def search_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype of search-time network calls (None = fp32); see `search_precision`."""
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else None
    return resolve_precision(precision, device)


TENSOR_VERSIONS = isinstance(getattr(torch.zeros(1), "_version", None), int)
"""Whether this torch exposes tensors' in-place version counters (feature-checked: internal)."""


def _same_version(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return a == b
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class NetworkEvaluator:
    """Batched leaf evaluation for MCTS with a policy-value network, computed in `dtype`
    (None = fp32) by an inference copy of the network (batch norm folded into the convs)."""

    def __init__(self, game: Game, model: nn.Module, device: torch.device, dtype: torch.dtype | None = None) -> None:
        self.game, self.model, self.device = game, model, device
        self.dtype = dtype
        self.calls = 0
        self._frozen: nn.Module | None = None
        self._frozen_version: Any = ()
        self._tensors = [*model.parameters(), *model.buffers()]  # updated in place, so listed once

    def network(self) -> nn.Module:
        """The inference copy, rebuilt whenever the model's weights or statistics changed."""
        version = self._version()
        if self._frozen is None or not _same_version(version, self._frozen_version):
            self._frozen, self._frozen_version = inference_copy(self.model, self.dtype), version
        return self._frozen

    def _version(self) -> Any:
        # Every in-place update (optimizer step, load_state_dict) bumps a tensor's `_version`
        # counter: free to read, but internal; without it, compare against copies (public).
        if TENSOR_VERSIONS:
            return tuple(t._version for t in self._tensors)
        return [t.detach().clone() for t in self._tensors]

    @torch.no_grad()
    def __call__(self, states: GameState) -> tuple[np.ndarray, np.ndarray]:
        network = self.network()
        planes = torch.from_numpy(self.game.observation(states)).to(self.device, self.dtype or torch.float32)
        logits, value = network(planes)
        self.calls += 1
        return torch.softmax(logits.float(), dim=1).cpu().numpy(), value.float().cpu().numpy()
