"""Matches between game agents and opponents on the batched core: all games at once,
sides alternating, optional random opening moves; results per side and Elo."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.agents.alphazero.search import MCTS, MCTSConfig, rollout_evaluator
from rlgen.envs.game import Game, GameState
from rlgen.envs.opponents import make_opponent
from rlgen.errors import ConfigError


class MCTSOpponent:
    """Pure MCTS with random rollouts ('mcts:N')."""

    def __init__(self, game: Game, simulations: int, seed: int | None = None) -> None:
        self.name = f"mcts:{simulations}"
        self.mcts = MCTS(
            game, rollout_evaluator(game, seed), MCTSConfig(simulations=simulations, reuse_tree=False), seed=seed
        )

    def act(self, game: Game, state: GameState) -> np.ndarray:
        return self.mcts.run(state).visits.argmax(axis=1)


class GameAgent:
    """What every trained board-game agent shares: PettingZoo classic observations in,
    a move out, and an opponent view for matches. Subclasses set `game` and `name` and
    implement `act_states(state) -> moves` for a batch of positions."""

    game: Game
    name: str = "agent"

    def act_states(self, state: GameState) -> np.ndarray:
        raise NotImplementedError

    def state_from_observation(self, observation: Any) -> GameState:
        """The position of a ((H, W, 2) planes from the side to move) observation, or its dict."""
        planes = np.asarray(observation["observation"] if isinstance(observation, dict) else observation)
        if planes.ndim == 3 and planes.shape[:2] != self.game.board_shape:
            planes = np.moveaxis(planes, 0, -1)  # accept [2, H, W] too
        if planes.shape != (*self.game.board_shape, 2):
            raise ValueError(
                f"{self.game.name} observations are ({self.game.height}, {self.game.width}, 2) planes, "
                f"got {planes.shape}"
            )
        # The rules are colour-symmetric: the side to move can always play as player 0.
        state = self.game.initial(1)
        state.board[0] = np.where(planes[..., 0] > 0, 1, np.where(planes[..., 1] > 0, -1, 0))
        state.to_play[0] = 0
        return state

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> int:
        move = int(self.act_states(self.state_from_observation(observation))[0])
        mask = (
            action_mask
            if action_mask is not None
            else (observation.get("action_mask") if isinstance(observation, dict) else None)
        )
        if mask is not None and not np.asarray(mask)[move]:
            raise ValueError(
                f"the agent chose {move}, which the given action mask forbids; "
                "is the observation from the side to move?"
            )
        return move

    def as_opponent(self, name: str | None = None) -> Any:
        """This agent in the opponents' interface `act(game, state) -> moves`."""
        agent = self

        class _Opponent:
            def act(self, game: Game, state: GameState) -> np.ndarray:
                return agent.act_states(state)

        opponent = _Opponent()
        opponent.name = name or self.name
        return opponent


def resolve_opponent(spec: Any, game: Game, seed: int | None = None) -> Any:
    """'random' | 'lookahead' | 'minimax' | 'alphabeta:D' | 'mcts:N' | a run directory."""
    if isinstance(spec, str) and spec.startswith("mcts:"):
        sims = spec.split(":", 1)[1]
        if not sims.isdigit():
            raise ConfigError(f"pure MCTS needs a simulation count, e.g. 'mcts:200', got {spec!r}")
        return MCTSOpponent(game, int(sims), seed)
    if isinstance(spec, (str, Path)) and Path(spec).is_dir():
        from rlgen.agents import load_agent

        return load_agent(spec).as_opponent(name=f"run:{Path(spec).name}")
    return make_opponent(spec, game, seed)


def play_match(
    game: Game,
    player: Any,
    opponent: Any,
    games: int,
    rng: np.random.Generator,
    opening_moves: int = 0,
) -> dict[str, Any]:
    """`games` games of `player` vs `opponent` (both with act(game, state)), the player
    first in even games. The first `opening_moves` plies are random for variety."""
    return play_matches(game, player, [opponent], [games], rng, opening_moves)[0]


def play_matches(
    game: Game,
    player: Any,
    opponents: Sequence[Any],
    games: Sequence[int],
    rng: np.random.Generator,
    opening_moves: int = 0,
) -> list[dict[str, Any]]:
    """`games[k]` games of `player` against each `opponents[k]`, all at once: each ply the
    player moves in every game with one call, so its batched search runs once for all the
    matches instead of once per match. Per opponent: wins / draws / losses as first and
    second, total and score, as `play_match` reports them, and `first_game`: the moves of
    its first game (the player moving first), to show as an example."""
    owner = np.repeat(np.arange(len(opponents)), games)  # which opponent each game is against
    player_side = np.concatenate([np.arange(n) % 2 for n in games]).astype(np.int8)
    state = game.initial(len(owner))
    plies: list[tuple[np.ndarray, np.ndarray]] = []  # (games that moved, their moves), ply by ply
    while not state.done.all():
        live = np.flatnonzero(~state.done)
        sub = state.take(live)
        actions = np.zeros(len(live), np.int64)
        opening = sub.moves < opening_moves
        if opening.any():
            mask = game.legal_mask(sub.take(opening))
            actions[opening] = (rng.random(mask.shape) * mask).argmax(axis=1)
        players_turn = sub.to_play == player_side[live]
        movers = [(player, players_turn)]
        movers += [(opp, ~players_turn & (owner[live] == k)) for k, opp in enumerate(opponents)]
        for who, mover in movers:
            chosen = mover & ~opening
            if chosen.any():
                actions[chosen] = np.asarray(who.act(game, sub.take(chosen)))
        state.put(live, game.step(sub, actions))
        plies.append((live, actions))
    results = [_match_result(state, player_side, owner == k) for k in range(len(opponents))]
    for k, result in enumerate(results):
        first = int(np.flatnonzero(owner == k)[0]) if games[k] else -1
        result["first_game"] = [int(moves[live == first][0]) for live, moves in plies if first in live]
    return results


def _match_result(state: GameState, player_side: np.ndarray, games: np.ndarray) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for side, label in ((0, "first"), (1, "second")):
        mine = (player_side == side) & games
        won = (state.winner == side) & mine
        lost = (state.winner >= 0) & (state.winner != side) & mine
        drawn = (state.winner < 0) & mine
        result[label] = {"wins": int(won.sum()), "draws": int(drawn.sum()), "losses": int(lost.sum())}
    total = {k: result["first"][k] + result["second"][k] for k in ("wins", "draws", "losses")}
    result["total"] = total
    result["score"] = (total["wins"] + 0.5 * total["draws"]) / max(int(games.sum()), 1)
    return result


def elo_difference(score: float, games: int) -> float:
    """Elo difference implied by a score, clipped to +-800 for 0% / 100% results."""
    score = min(max(score, 0.5 / max(games, 1)), 1 - 0.5 / max(games, 1))
    return float(np.clip(-400 * math.log10(1 / score - 1), -800, 800))


def fit_elo(
    results: list[tuple[int, int, float, int]], players: int, anchor: int = 0, iterations: int = 2000
) -> np.ndarray:
    """Bradley-Terry / Elo ratings by maximum likelihood from (i, j, score of i, games)
    results, player `anchor` fixed at 0. Scores count draws as half a win."""
    ratings = np.zeros(players)
    if not results:
        return ratings
    i = np.array([r[0] for r in results])
    j = np.array([r[1] for r in results])
    score = np.array([r[2] for r in results], dtype=float)
    games = np.array([r[3] for r in results], dtype=float)
    # Pull perfect scores slightly in so every rating stays finite.
    score = np.clip(score, 0.5 / games, 1 - 0.5 / games)
    scale = math.log(10) / 400
    for _ in range(iterations):
        expected = 1 / (1 + np.exp(-scale * (ratings[i] - ratings[j])))
        grad = np.zeros(players)
        np.add.at(grad, i, games * (score - expected))
        np.add.at(grad, j, -games * (score - expected))
        ratings += 4.0 * grad / max(games.max(), 1)
        ratings -= ratings[anchor]
    return ratings
