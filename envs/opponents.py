"""Opponents for evaluation and training, all acting on batches of positions.

    random          uniform over legal moves
    lookahead       one-step look-ahead: take a win, else block the opponent's, else random
    minimax         perfect tic-tac-toe (exhaustive minimax, memoized; fastest win)
    alphabeta:D     depth-D alpha-beta with a game heuristic (Connect Four, Othello,
                    Gomoku, tic-tac-toe)

`make_opponent(spec, game, seed)` builds one from its name; any object with
`act(game, state) -> actions` is accepted too.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

import numpy as np

from rlgen.envs.game import Game, GameState
from rlgen.envs.mnk import MNKGame
from rlgen.envs.othello import Othello
from rlgen.errors import ConfigError, unknown_name

WIN = 1_000_000.0


class Opponent(Protocol):
    def act(self, game: Game, state: GameState) -> np.ndarray: ...


def _random_legal(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random legal action per row of a legal mask."""
    return (rng.random(mask.shape) * mask).argmax(axis=1)


class RandomOpponent:
    """Uniformly random legal moves."""

    name = "random"

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, game: Game, state: GameState) -> np.ndarray:
        return _random_legal(game.legal_mask(state), self.rng)


class LookaheadOpponent:
    """Take a winning move; else block a move that would win for the opponent; else random."""

    name = "lookahead"

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, game: Game, state: GameState) -> np.ndarray:
        mask = game.legal_mask(state)
        wins = game.winning_moves(state)
        threats = game.winning_moves(state, opponent=True) & mask  # their wins, were it their turn now
        choice = np.where(wins.any(1)[:, None], wins, np.where(threats.any(1)[:, None], threats, mask))
        return _random_legal(choice, self.rng)


class PerfectTicTacToe:
    """Exhaustive minimax over tic-tac-toe (memoized); picks among the best moves at random,
    preferring the fastest win and the slowest loss."""

    name = "minimax"

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, game: Game, state: GameState) -> np.ndarray:
        if game.name != "tictactoe":
            raise ConfigError(f"the minimax opponent plays tic-tac-toe only, not {game.name}; use alphabeta:D")
        actions = np.zeros(state.batch, dtype=np.int64)
        for i in range(state.batch):
            scores = move_values(state.board[i].tobytes(), int(state.to_play[i]))
            best = max(scores.values())
            actions[i] = self.rng.choice([a for a, s in scores.items() if s == best])
        return actions


_TICTACTOE_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def move_values(board: bytes, to_play: int) -> dict[int, int]:
    """Minimax value of each legal move for the side to move (win = 10 - plies, loss < 0)
    of a tic-tac-toe board (int8 bytes, +1 = the first player's stone, as TicTacToe)."""
    return _move_values(tuple(np.frombuffer(board, dtype=np.int8).tolist()), to_play)


@cache
def _move_values(cells: tuple[int, ...], to_play: int) -> dict[int, int]:
    # Plain tuples: the whole game tree (5,478 positions) solves in a fraction of a second.
    colour = 1 - 2 * to_play
    plies = 10 - cells.count(0)  # stones on the board after this move
    values = {}
    for action in (a for a in range(9) if cells[a] == 0):
        after = cells[:action] + (colour,) + cells[action + 1 :]
        if any(all(after[i] == colour for i in line) for line in _TICTACTOE_LINES if action in line):
            values[action] = 10 - plies
        elif plies == 9:
            values[action] = 0
        else:
            values[action] = -max(_move_values(after, 1 - to_play).values())
    return values


# ---------------------------------------------------------------------------- heuristics


@cache
def _windows(height: int, width: int, k: int) -> np.ndarray:
    """int [n_windows, k]: flat cell indices of every line segment of length k."""
    grid = np.arange(height * width).reshape(height, width)
    out = []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        for r in range(height):
            for c in range(width):
                cells = [(r + i * dr, c + i * dc) for i in range(k)]
                if all(0 <= rr < height and 0 <= cc < width for rr, cc in cells):
                    out.append([grid[rr, cc] for rr, cc in cells])
    return np.array(out, dtype=np.int64)


def line_heuristic(board: np.ndarray, k: int, player: np.ndarray) -> np.ndarray:
    """float [B]: open-line score for `player` (0/1) minus the opponent's.

    A window of k cells holding only one side's stones scores 4**count for that side;
    mixed windows are dead and score nothing.
    """
    b, h, w = board.shape
    cells = board.reshape(b, -1)[:, _windows(h, w, k)]  # [B, n, k]
    colour = (1 - 2 * player.astype(np.int64))[:, None]
    mine = (cells == colour[:, :, None]).sum(-1)
    theirs = (cells == -colour[:, :, None]).sum(-1)
    weights = 4.0 ** np.arange(k + 1)
    score = np.where(theirs == 0, weights[mine], 0.0) - np.where(mine == 0, weights[theirs], 0.0)
    return score.sum(-1)


def _othello_weights(size: int) -> np.ndarray:
    """Classic positional weights: corners good, squares next to corners bad."""
    w = np.ones((size, size))
    w[0, :] = w[-1, :] = w[:, 0] = w[:, -1] = 5
    w[1, 1] = w[1, -2] = w[-2, 1] = w[-2, -2] = -10
    for r, c in ((0, 1), (1, 0), (0, -2), (1, -1), (-1, 1), (-2, 0), (-1, -2), (-2, -1)):
        w[r, c] = -4
    w[0, 0] = w[0, -1] = w[-1, 0] = w[-1, -1] = 30
    return w


def evaluate_positions(game: Game, state: GameState, player: np.ndarray) -> np.ndarray:
    """float [B]: heuristic value of each position for `player` (terminal: +-WIN)."""
    if isinstance(game, Othello):
        from rlgen.envs.othello import legal_bits, popcount, to_bits

        colour = (1 - 2 * player.astype(np.int8))[:, None, None]
        own, opp = state.board == colour, state.board == -colour
        positional = (own * _othello_weights(game.height)).sum((1, 2)) - (opp * _othello_weights(game.height)).sum(
            (1, 2)
        )
        own_bits, opp_bits, size = to_bits(own), to_bits(opp), game.height
        mobility = popcount(legal_bits(own_bits, opp_bits, size)) - popcount(legal_bits(opp_bits, own_bits, size))
        value = positional + 2.0 * mobility
    else:
        k = game.k if isinstance(game, MNKGame) else 4
        value = line_heuristic(state.board, k, player)
        if game.name == "connect4":  # the centre column takes part in the most lines
            colour = (1 - 2 * player.astype(np.int8))[:, None]
            value = value + 3.0 * (state.board[:, :, 3] * colour).sum(1)
    won = state.done & (state.winner >= 0)
    sign = np.where(state.winner == player, 1.0, -1.0)
    # Faster wins (fewer moves) score higher; draws are 0.
    terminal = np.where(won, sign * (WIN - state.moves), 0.0)
    return np.where(state.done, terminal, value)


class AlphaBetaOpponent:
    """Negamax alpha-beta to a fixed depth with the game's heuristic at the leaves.

    The children of a node are generated in one batched step; moves are ordered by their
    one-ply heuristic so pruning bites early; ties are broken at random.
    """

    def __init__(self, depth: int = 4, seed: int | None = None) -> None:
        if depth < 1:
            raise ValueError(f"alpha-beta depth must be >= 1, got {depth}")
        self.depth = depth
        self.name = f"alphabeta:{depth}"
        self.rng = np.random.default_rng(seed)
        self.nodes = 0

    def act(self, game: Game, state: GameState) -> np.ndarray:
        return np.array([self._root(game, state.take([i])) for i in range(state.batch)], dtype=np.int64)

    def _children(self, game: Game, node: GameState) -> tuple[np.ndarray, GameState]:
        moves = np.flatnonzero(game.legal_mask(node)[0])
        children = game.step(node.take(np.zeros(len(moves), dtype=np.int64)), moves)
        self.nodes += len(moves)
        # Order by the mover's one-ply value (best first), random among equals.
        value = evaluate_positions(game, children, np.full(len(moves), node.to_play[0]))
        order = np.lexsort((self.rng.random(len(moves)), -value))
        return moves[order], children.take(order)

    def _root(self, game: Game, node: GameState) -> int:
        moves, children = self._children(game, node)
        best_value, best_moves = -np.inf, []
        for i, move in enumerate(moves):
            # A window just below the best so far: values that tie it come back exact
            # (a plain alpha bound could make a worse move look tied).
            alpha = best_value - 1e-6
            value = -self._negamax(game, children.take([i]), self.depth - 1, -np.inf, -alpha)
            if value > best_value + 1e-9:
                best_value, best_moves = value, [move]
            elif abs(value - best_value) <= 1e-9:
                best_moves.append(move)
        return int(self.rng.choice(best_moves))

    def _negamax(self, game: Game, node: GameState, depth: int, alpha: float, beta: float) -> float:
        if node.done[0] or depth == 0:
            return float(evaluate_positions(game, node, node.to_play)[0])
        moves, children = self._children(game, node)
        best = -np.inf
        for i in range(len(moves)):
            value = -self._negamax(game, children.take([i]), depth - 1, -beta, -alpha)
            best = max(best, value)
            alpha = max(alpha, value)
            if alpha >= beta:
                break
        return best


OPPONENTS = {
    "random": "uniformly random legal moves (every game)",
    "lookahead": "one-step look-ahead: take a win, block a loss, else random (every game)",
    "minimax": "perfect tic-tac-toe by exhaustive minimax (tic-tac-toe)",
    "alphabeta:D": "depth-D alpha-beta with a heuristic (connect4, othello, gomoku, tictactoe)",
}


def make_opponent(spec: Any, game: Game | None = None, seed: int | None = None) -> Any:
    """An opponent from a name ('random', 'lookahead', 'minimax', 'alphabeta:4', 'solver:8'
    for Connect Four) or an object with `act(game, state)`."""
    if not isinstance(spec, str):
        if not hasattr(spec, "act"):
            raise TypeError(f"an opponent needs an act(game, state) method; got {type(spec).__name__}")
        return spec
    name, _, arg = spec.partition(":")
    if name == "random":
        return RandomOpponent(seed)
    if name in ("lookahead", "onestep"):
        return LookaheadOpponent(seed)
    if name in ("minimax", "perfect"):
        if game is not None and game.name != "tictactoe":
            raise ConfigError(f"the minimax opponent plays tic-tac-toe only, not {game.name}; use alphabeta:D")
        return PerfectTicTacToe(seed)
    if name == "alphabeta":
        if not arg.isdigit():
            raise ConfigError(f"alpha-beta needs a depth, e.g. 'alphabeta:4', got {spec!r}")
        return AlphaBetaOpponent(int(arg), seed)
    if name == "solver":
        if game is not None and game.name != "connect4":
            raise ConfigError(f"the solver opponent plays Connect Four only, not {game.name}; use alphabeta:D")
        if arg and not arg.isdigit():
            raise ConfigError(f"the solver opponent takes the ply it plays exactly from, e.g. 'solver:8', got {spec!r}")
        from rlgen.envs.connect4_solver import SolverOpponent

        return SolverOpponent(int(arg) if arg else 8, seed)
    raise unknown_name("opponent", spec, ["random", "lookahead", "minimax", "alphabeta:D", "solver[:N]"])
