"""The reverse direction: any PettingZoo classic env as an arena for rlgen game agents.

A policy is anything with `act(observation, action_mask=None) -> action` taking
PettingZoo's classic observation planes (the rlgen agent contract), or a plain callable
`policy(observation_dict) -> action`. `play_pettingzoo` plays a match in the env and
scores it per policy and side.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from rlgen.envs.game import Game, GameState, make_game
from rlgen.envs.opponents import make_opponent


def load_pettingzoo(spec: str, **kwargs: Any) -> Any:
    """'pettingzoo:connect_four_v3' (a PettingZoo classic module) or 'module.path:attr'."""
    prefix, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"give a PettingZoo env as 'pettingzoo:NAME' (e.g. pettingzoo:connect_four_v3), got {spec!r}")
    try:
        if prefix == "pettingzoo":
            module = importlib.import_module(f"pettingzoo.classic.{name}")
            return module.env(**kwargs)
        return getattr(importlib.import_module(prefix), name)(**kwargs)
    except ImportError as exc:
        raise ImportError(
            f"cannot load PettingZoo env {spec!r}: {exc}. Classic envs: pettingzoo:tictactoe_v3, "
            "pettingzoo:connect_four_v3, pettingzoo:go_v5, pettingzoo:chess_v6"
        ) from exc


class RandomPolicy:
    """Uniformly random among the legal moves of the action mask."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> int:
        mask = action_mask if action_mask is not None else observation["action_mask"]
        return int(self.rng.choice(np.flatnonzero(mask)))


def state_from_planes(game: Game, planes: np.ndarray) -> GameState:
    """Rebuild a core position from (H, W, 2) own/opponent planes of a stone-adding game
    (tic-tac-toe, Connect Four, Gomoku): equal stone counts mean the first player moves."""
    own, opp = planes[..., 0].astype(bool), planes[..., 1].astype(bool)
    first_to_move = own.sum() == opp.sum()
    state = game.initial(1)
    colour = 1 if first_to_move else -1
    state.board[0] = np.where(own, colour, np.where(opp, -colour, 0))
    state.to_play[0] = 0 if first_to_move else 1
    state.moves[0] = int(own.sum() + opp.sum())
    return state


class OpponentPolicy:
    """A core opponent (e.g. 'alphabeta:4') playing from PettingZoo observations."""

    def __init__(self, spec: str, game: str, seed: int | None = None) -> None:
        self.game = make_game(game)
        if game.startswith("othello"):
            raise ValueError("Othello positions cannot be rebuilt from PettingZoo planes (side to move is unknown)")
        self.opponent = make_opponent(spec, self.game, seed)

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> int:
        planes = observation["observation"] if isinstance(observation, dict) else observation
        return int(self.opponent.act(self.game, state_from_planes(self.game, np.asarray(planes)))[0])


def _choose(policy: Any, observation: Any) -> int:
    if hasattr(policy, "act"):
        return int(policy.act(observation, observation.get("action_mask") if isinstance(observation, dict) else None))
    if callable(policy):
        return int(policy(observation))
    raise TypeError(f"a policy needs act(observation, action_mask) or to be callable; got {type(policy).__name__}")


def play_pettingzoo(
    env: Any,
    policies: dict[str, Any] | list[Any],
    games: int = 10,
    seed: int = 0,
    swap_sides: bool = True,
    max_steps: int = 10_000,
) -> dict[str, dict[str, int]]:
    """Play `games` games of a two-player PettingZoo AEC env; sides swap every game.

    `policies` maps a label to a policy (two of them). Returns per label
    {'wins', 'draws', 'losses'} from final rewards (> 0 win, < 0 loss, else draw).
    """
    labels = list(policies) if isinstance(policies, dict) else [f"policy_{i}" for i in range(len(policies))]
    players: list[Any] = list(policies.values()) if isinstance(policies, dict) else list(policies)
    if len(players) != 2:
        raise ValueError(f"play_pettingzoo needs two policies, got {len(players)}")
    table = {label: {"wins": 0, "draws": 0, "losses": 0} for label in labels}
    for game in range(games):
        env.reset(seed=seed + game)
        order = [0, 1] if not swap_sides or game % 2 == 0 else [1, 0]
        seat = {agent: order[i] for i, agent in enumerate(env.possible_agents)}
        totals = dict.fromkeys(env.possible_agents, 0.0)
        for step, agent in enumerate(env.agent_iter()):
            observation, reward, termination, truncation, _ = env.last()
            totals[agent] += reward
            if termination or truncation:
                env.step(None)
            else:
                env.step(_choose(players[seat[agent]], observation))
            if step > max_steps:
                raise RuntimeError(f"game {game} did not end within {max_steps} steps")
        for agent, total in totals.items():
            row = table[labels[seat[agent]]]
            row["wins" if total > 0 else "losses" if total < 0 else "draws"] += 1
    return table
