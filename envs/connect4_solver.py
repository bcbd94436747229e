"""An exact Connect Four solver and a committed, solver-scored set of test positions.

The solver follows the well-known bitboard design for 7 x 6 Connect Four: negamax with
alpha-beta, an immediate-win check, pruning of moves that lose at once, move ordering by
the number of winning spots a move creates (centre columns first on ties), a transposition
table of exact lower / upper bounds, and an iterative null-window search that narrows the
score's [min, max] range. It runs under numba.

Scores use the usual convention: a position the side to move wins with its n-th stone
scores 22 - n, a loss with the opponent's n-th stone scores n - 22, a draw 0. The weak
mode only tells win (+1), draw (0) and loss (-1), which is much faster.

Bitboards: bit `col * 7 + row` (row 0 at the bottom, row 6 an always-empty guard) so a
shift by 1 / 7 / 6 / 8 walks a column / row / diagonal without wrapping. `position` holds
the stones of the side to move, `mask` all stones; `position + mask` is a unique key.

The position set (`load_positions`) and `solver_accuracy` are plain numpy: the scores
were solved once and are stored in envs/data/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numba
import numpy as np

from rlgen.envs.game import GameState

_jit = numba.njit(cache=True, nogil=True)


WIDTH, HEIGHT = 7, 6
CELLS = WIDTH * HEIGHT
ILLEGAL = -1000
"""The score `move_scores` gives a full column."""
MAX_SCORE = (CELLS + 1) // 2 - 3  # 18: a win with the fourth stone
MIN_SCORE = -(CELLS // 2) + 3  # -18
PHASES = {"early": (8, 16), "middle": (17, 26), "late": (27, 36)}
"""Game phase -> (first ply, last ply), plies counted as stones on the board."""
DATA_FILE = "connect4_positions.npz"

_COLUMN_ORDER = np.array([3, 2, 4, 1, 5, 0, 6], np.int64)  # centre first: better moves are searched first
_ONE = np.uint64(1)
_BOTTOM = np.uint64(sum(1 << (col * (HEIGHT + 1)) for col in range(WIDTH)))
_BOARD = np.uint64(sum(((1 << HEIGHT) - 1) << (col * (HEIGHT + 1)) for col in range(WIDTH)))
_EMPTY_KEY = np.uint64(2**64 - 1)  # keys are < 2**49, and the empty board's key is 0
_HASH = np.uint64(0x9E3779B97F4A7C15)
_TT_MAX_LOG2 = 30


# ---------------------------------------------------------------------------------- jitted core


@_jit
def _popcount(x: np.uint64) -> int:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@_jit
def _winning_spots(position: np.uint64, mask: np.uint64) -> np.uint64:
    """Empty cells (reachable or not) where a stone of `position`'s owner would make four."""
    spots = (position << np.uint64(1)) & (position << np.uint64(2)) & (position << np.uint64(3))
    for step in (6, 7, 8):  # diagonal down, row, diagonal up
        s = np.uint64(step)
        pair = (position << s) & (position << np.uint64(2 * step))
        spots |= pair & (position << np.uint64(3 * step))
        spots |= pair & (position >> s)
        pair = (position >> s) & (position >> np.uint64(2 * step))
        spots |= pair & (position << s)
        spots |= pair & (position >> np.uint64(3 * step))
    return spots & (_BOARD ^ mask)


@_jit
def _playable(mask: np.uint64) -> np.uint64:
    """The cell a stone would land on in every column that is not full."""
    return (mask + _BOTTOM) & _BOARD


@_jit
def _can_win_next(position: np.uint64, mask: np.uint64) -> bool:
    return (_winning_spots(position, mask) & _playable(mask)) != 0


@_jit
def _non_losing_moves(position: np.uint64, mask: np.uint64) -> np.uint64:
    """Playable cells that neither leave an opponent's win-in-one unblocked nor sit right
    under an opponent's winning spot. Assumes the side to move cannot win at once."""
    playable = _playable(mask)
    threats = _winning_spots(position ^ mask, mask)
    forced = playable & threats
    if forced != 0:
        if (forced & (forced - _ONE)) != 0:  # two threats to block: every move loses
            return np.uint64(0)
        playable = forced
    return playable & ~(threats >> _ONE)


@_jit
def _column_cells(col: int) -> np.uint64:
    return np.uint64((1 << HEIGHT) - 1) << np.uint64(col * (HEIGHT + 1))


@_jit
def _tt_slot(key: np.uint64, tt_keys: np.ndarray) -> int:
    # multiplicative hashing: the top bits of key * odd constant are the best mixed
    return int((key * _HASH) >> np.uint64(64 - _TT_MAX_LOG2)) & (tt_keys.shape[0] - 1)


@_jit
def _tt_store(key: np.uint64, lower: int, upper: int, tt_keys: np.ndarray, tt_bounds: np.ndarray) -> None:
    """Tighten the stored [lower, upper] bounds of `key` (always replacing another key)."""
    slot = _tt_slot(key, tt_keys)
    if tt_keys[slot] != key:
        tt_keys[slot] = key
        tt_bounds[slot, 0] = -127
        tt_bounds[slot, 1] = 127
    if lower > tt_bounds[slot, 0]:
        tt_bounds[slot, 0] = lower
    if upper < tt_bounds[slot, 1]:
        tt_bounds[slot, 1] = upper


@_jit
def _negamax(
    position: np.uint64,
    mask: np.uint64,
    moves: int,
    alpha: int,
    beta: int,
    tt_keys: np.ndarray,
    tt_bounds: np.ndarray,
    order: np.ndarray,
    nodes: np.ndarray,
) -> int:
    """Fail-soft alpha-beta: the exact score when it lies in (alpha, beta), else a bound on
    the side it fell. The side to move must not be able to win at once."""
    nodes[0] += 1
    candidates = _non_losing_moves(position, mask)
    if candidates == 0:
        return -((CELLS - moves) // 2)
    if moves >= CELLS - 2:  # neither side can win with the last two stones
        return 0
    lowest = -((CELLS - 2 - moves) // 2)  # the opponent cannot win with its next stone
    if alpha < lowest:
        alpha = lowest
        if alpha >= beta:
            return alpha
    highest = (CELLS - 1 - moves) // 2  # nor can we win with ours
    if beta > highest:
        beta = highest
        if alpha >= beta:
            return beta
    key = position + mask
    slot = _tt_slot(key, tt_keys)
    if tt_keys[slot] == key:
        if alpha < tt_bounds[slot, 0]:
            alpha = int(tt_bounds[slot, 0])
            if alpha >= beta:
                return alpha
        if beta > tt_bounds[slot, 1]:
            beta = int(tt_bounds[slot, 1])
            if alpha >= beta:
                return beta

    # Order the candidates by how many winning spots they create (insertion sort, stable so
    # the centre-first column order breaks ties); one row of `order` per ply, so no allocation.
    count = 0
    for i in range(WIDTH):
        move = candidates & _column_cells(_COLUMN_ORDER[i])
        if move == 0:
            continue
        value = _popcount(_winning_spots(position | move, mask))
        j = count
        while j > 0 and order[moves, j - 1, 1] < value:
            order[moves, j, 0] = order[moves, j - 1, 0]
            order[moves, j, 1] = order[moves, j - 1, 1]
            j -= 1
        order[moves, j, 0] = np.int64(move)
        order[moves, j, 1] = value
        count += 1

    for i in range(count):
        move = np.uint64(order[moves, i, 0])
        # after our stone, the opponent's stones are the old position's complement in the new mask
        child_mask = mask | move
        score = -_negamax(position ^ mask, child_mask, moves + 1, -beta, -alpha, tt_keys, tt_bounds, order, nodes)
        if score >= beta:
            _tt_store(key, score, 127, tt_keys, tt_bounds)
            return score
        if score > alpha:
            alpha = score
    _tt_store(key, -127, alpha, tt_keys, tt_bounds)
    return alpha


@_jit
def _solve(
    position: np.uint64,
    mask: np.uint64,
    moves: int,
    weak: bool,
    tt_keys: np.ndarray,
    tt_bounds: np.ndarray,
    order: np.ndarray,
    nodes: np.ndarray,
) -> int:
    """The exact score (or its sign when `weak`) of a position that is not over."""
    if _can_win_next(position, mask):
        return 1 if weak else (CELLS + 1 - moves) // 2
    low = -((CELLS - moves) // 2)
    high = (CELLS + 1 - moves) // 2
    if weak:
        low, high = -1, 1
    while low < high:  # null-window probes, nearer to 0 first (most positions are close to it)
        probe = low + (high - low) // 2
        if probe <= 0 and -((-low) // 2) < probe:
            probe = -((-low) // 2)
        elif probe >= 0 and high // 2 > probe:
            probe = high // 2
        result = _negamax(position, mask, moves, probe, probe + 1, tt_keys, tt_bounds, order, nodes)
        if result <= probe:
            high = result
        else:
            low = result
    if weak:
        return max(-1, min(1, low))
    return low


@_jit
def _move_scores(
    position: np.uint64,
    mask: np.uint64,
    moves: int,
    weak: bool,
    tt_keys: np.ndarray,
    tt_bounds: np.ndarray,
    order: np.ndarray,
    nodes: np.ndarray,
) -> np.ndarray:
    """Score of every column for the side to move; ILLEGAL for full columns."""
    scores = np.full(WIDTH, ILLEGAL, np.int64)
    wins = _winning_spots(position, mask)
    playable = _playable(mask)
    for col in range(WIDTH):
        move = playable & _column_cells(col)
        if move == 0:
            continue
        if (move & wins) != 0:
            scores[col] = 1 if weak else (CELLS + 1 - moves) // 2
        elif moves + 1 == CELLS:
            scores[col] = 0
        else:
            scores[col] = -_solve(position ^ mask, mask | move, moves + 1, weak, tt_keys, tt_bounds, order, nodes)
    return scores


# ---------------------------------------------------------------------------------- board conversion


def to_bitboards(state: GameState, index: int = 0) -> tuple[int, int, int]:
    """(position, mask, moves) of one Connect Four position of the core: `position` holds the
    stones of the side to move. Raises ValueError for boards that are not a legal Connect
    Four position still in play (wrong shape, floating stones, wrong stone counts, a game
    already over)."""
    if not isinstance(state, GameState):
        raise TypeError(f"expected a rlgen.envs.game.GameState of connect4, got {type(state).__name__}")
    if state.board.shape[1:] != (HEIGHT, WIDTH):
        raise ValueError(
            f"the Connect Four solver needs a board of shape (batch, {HEIGHT}, {WIDTH}), got {state.board.shape}: "
            "make the state with rlgen.envs.make_game('connect4')"
        )
    if not -state.batch <= index < state.batch:
        raise IndexError(f"index {index} is outside the batch of {state.batch} positions")
    board = np.asarray(state.board[index])
    to_play = int(state.to_play[index])
    if state.done[index]:
        raise ValueError(f"position {index} is already over (winner {int(state.winner[index])}); nothing to solve")
    if not np.isin(board, (-1, 0, 1)).all():
        raise ValueError(f"position {index} holds values other than -1, 0, +1: {np.unique(board).tolist()}")
    first, second = int((board == 1).sum()), int((board == -1).sum())
    if first - second not in (0, 1) or to_play != first - second:
        raise ValueError(
            f"position {index} has {first} stones of player 0 and {second} of player 1 with player {to_play} "
            "to move; player 0 moves first, so the counts must be equal (player 0 to move) or one apart (player 1)"
        )
    filled = board != 0  # row 0 is the top: a stone needs every cell below it filled
    if (filled[:-1] & ~filled[1:]).any():
        col = int(np.flatnonzero((filled[:-1] & ~filled[1:]).any(axis=0))[0])
        raise ValueError(f"position {index} has a floating stone in column {col + 1}; stones drop to the bottom")
    own = 1 - 2 * to_play
    position = mask = 0
    for col in range(WIDTH):
        for row in range(HEIGHT):
            cell = board[HEIGHT - 1 - row, col]
            if cell:
                bit = 1 << (col * (HEIGHT + 1) + row)
                mask |= bit
                if cell == own:
                    position |= bit
    for stones in (position, position ^ mask):
        if _has_four(stones):
            raise ValueError(f"position {index} already has four in a row; the game is over, nothing to solve")
    return position, mask, first + second


def _has_four(stones: int) -> bool:
    """Whether a bitboard of one side's stones holds four in a row (the guard row stays empty,
    so no line wraps from one column into the next)."""
    return any(stones & (stones >> s) & (stones >> 2 * s) & (stones >> 3 * s) for s in (1, 6, 7, 8))


# ---------------------------------------------------------------------------------- solver API


class Connect4Solver:
    """Exact Connect Four solver (numba). The transposition table persists between calls,
    so scoring many related positions (a game, the children of a node) gets faster.

    Scores: +n = the side to move wins with its (22 - n)-th stone, -n = it loses to the
    opponent's (22 - n)-th stone, 0 = draw; weak scores are only +1 / 0 / -1.
    """

    ILLEGAL = ILLEGAL

    def __init__(self, tt_size_log2: int = 23) -> None:
        if not 10 <= tt_size_log2 <= _TT_MAX_LOG2:
            raise ValueError(f"tt_size_log2 must be in 10..30 (a table of 2**n entries), got {tt_size_log2}")
        self.tt_keys = np.full(1 << tt_size_log2, _EMPTY_KEY, np.uint64)
        self.tt_bounds = np.zeros((1 << tt_size_log2, 2), np.int8)  # [lower, upper] of the score
        self._order = np.zeros((CELLS + 1, WIDTH, 2), np.int64)  # move-ordering scratch, one row per ply
        self._nodes = np.zeros(1, np.int64)

    @property
    def nodes(self) -> int:
        """Search nodes visited since the solver was made (or `reset`)."""
        return int(self._nodes[0])

    def reset(self) -> None:
        """Empty the transposition table and the node count."""
        self.tt_keys.fill(_EMPTY_KEY)
        self._nodes[0] = 0

    def _args(self) -> tuple[np.ndarray, ...]:
        return self.tt_keys, self.tt_bounds, self._order, self._nodes

    def score(self, state: GameState, index: int = 0, weak: bool = False) -> int:
        """Score of position `index` of a core Connect Four state, for its side to move."""
        position, mask, moves = to_bitboards(state, index)
        return int(_solve(np.uint64(position), np.uint64(mask), moves, weak, *self._args()))

    def move_scores(self, state: GameState, index: int = 0, weak: bool = False) -> np.ndarray:
        """int64 [7]: the score for the side to move after playing each column (a win on the
        spot included), `Connect4Solver.ILLEGAL` (-1000) for full columns."""
        position, mask, moves = to_bitboards(state, index)
        return _move_scores(np.uint64(position), np.uint64(mask), moves, weak, *self._args())

    def best_moves(self, state: GameState, index: int = 0, weak: bool = False) -> np.ndarray:
        """The columns (0-based, ascending) with the best score."""
        scores = self.move_scores(state, index, weak)
        return np.flatnonzero(scores == scores.max())


class SolverOpponent:
    """Perfect Connect Four play ('solver' / 'solver:N'): from ply N on (default 8) every move
    has the solver's best score (a random one among equals); before it, alpha-beta depth 4,
    because without an opening book a position of the first plies takes the solver from
    seconds to minutes. Games against it start as every evaluation match does."""

    def __init__(self, exact_from: int = 8, seed: int | None = None) -> None:
        from rlgen.envs.opponents import AlphaBetaOpponent

        self.name = f"solver:{exact_from}"
        self.exact_from = exact_from
        self.solver = Connect4Solver()
        self.opening = AlphaBetaOpponent(4, seed)
        self.rng = np.random.default_rng(seed)

    def act(self, game: Any, state: GameState) -> np.ndarray:
        moves = np.zeros(state.batch, np.int64)
        early = state.moves < self.exact_from
        if early.any():
            moves[early] = self.opening.act(game, state.take(early))
        for index in np.flatnonzero(~early):
            moves[index] = self.rng.choice(self.solver.best_moves(state, int(index)))
        return moves


# ---------------------------------------------------------------------------------- position set


@dataclass
class SolverPositions:
    """Connect Four positions with the solver's score of every move."""

    states: GameState
    scores: np.ndarray  # int16 [N, 7]; ILLEGAL for full columns
    plies: np.ndarray  # int16 [N], stones on the board

    def __len__(self) -> int:
        return int(self.plies.shape[0])

    def take(self, index: np.ndarray | slice) -> SolverPositions:
        """The positions at `index` (an index array or a slice)."""
        rows = np.arange(len(self))[index]
        return SolverPositions(self.states.take(rows), self.scores[rows], self.plies[rows])

    @property
    def phases(self) -> np.ndarray:
        """str [N]: the game phase of every position (see PHASES)."""
        return phase_of(self.plies)

    @property
    def phase_names(self) -> list[str]:
        return list(PHASES)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            path,
            board=self.states.board.astype(np.int8),
            to_play=self.states.to_play.astype(np.int8),
            scores=self.scores.astype(np.int16),
            plies=self.plies.astype(np.int16),
        )


def phase_of(plies: np.ndarray) -> np.ndarray:
    """str [N]: the PHASES name of every ply; ValueError for plies outside them."""
    plies = np.asarray(plies)
    names = np.full(plies.shape, "", dtype=object)
    for name, (first, last) in PHASES.items():
        names[(plies >= first) & (plies <= last)] = name
    if (names == "").any():
        bad = sorted(set(plies[names == ""].tolist()))
        raise ValueError(f"plies {bad} are outside the phases {PHASES}")
    return names.astype(str)


def _states(board: np.ndarray, to_play: np.ndarray) -> GameState:
    count = board.shape[0]
    plies = (board != 0).sum(axis=(1, 2)).astype(np.int16)
    return GameState(
        board.astype(np.int8),
        to_play.astype(np.int8),
        np.zeros(count, bool),
        np.full(count, -1, np.int8),
        plies,
        np.zeros(count, np.int8),
    )


def load_positions(path: str | Path | None = None) -> SolverPositions:
    """The committed solver-scored test positions (or those of an npz written by `save`)."""
    if path is None:
        with resources.files("rlgen.envs").joinpath("data", DATA_FILE).open("rb") as handle:
            data = dict(np.load(handle))
    else:
        data = dict(np.load(path))
    missing = {"board", "to_play", "scores", "plies"} - set(data)
    if missing:
        raise ValueError(f"{path or DATA_FILE} lacks the arrays {sorted(missing)}; write it with SolverPositions.save")
    return SolverPositions(_states(data["board"], data["to_play"]), data["scores"].astype(np.int16), data["plies"])


def solver_accuracy(positions: SolverPositions, moves: np.ndarray) -> dict[str, float]:
    """How well `moves` (int [N], one column per position) match the solver.

    "strict": the move has the best score; "wdl": it keeps the position's outcome (the sign
    of its score equals the best score's sign); both overall and per phase ("strict/early",
    "wdl/late", ...), with "positions/<phase>" counts and the overall "illegal" fraction.
    A full column is never correct.
    """
    moves = np.asarray(moves)
    if moves.shape != (len(positions),):
        raise ValueError(f"moves must have shape ({len(positions)},), one column per position, got {moves.shape}")
    if not np.issubdtype(moves.dtype, np.integer) or moves.min(initial=0) < 0 or moves.max(initial=0) >= WIDTH:
        raise ValueError(
            f"moves must be integer columns 0..{WIDTH - 1}, got {moves.dtype} in [{moves.min()}, {moves.max()}]"
        )
    scores = positions.scores.astype(np.int64)
    chosen = scores[np.arange(len(positions)), moves]
    best = scores.max(axis=1)
    legal = chosen != ILLEGAL
    strict = legal & (chosen == best)
    wdl = legal & (np.sign(chosen) == np.sign(best))
    result: dict[str, float] = {
        "strict": float(strict.mean()),
        "wdl": float(wdl.mean()),
        "illegal": float((~legal).mean()),
        "positions": float(len(positions)),
    }
    phases = positions.phases
    for name in PHASES:
        members = phases == name
        result[f"positions/{name}"] = float(members.sum())
        result[f"strict/{name}"] = float(strict[members].mean()) if members.any() else float("nan")
        result[f"wdl/{name}"] = float(wdl[members].mean()) if members.any() else float("nan")
    return result


def random_position(ply: int, rng: np.random.Generator) -> GameState:
    """A position after `ply` random legal moves by both sides that is still in play."""
    from rlgen.envs import make_game

    game = make_game("connect4")
    while True:
        state = game.initial(1)
        for _ in range(ply):
            state = game.step(state, rng.choice(np.flatnonzero(game.legal_mask(state)[0])))
            if state.done[0]:
                break
        if not state.done[0]:
            return state


def make_positions(
    count: int,
    seed: int = 0,
    solver: Connect4Solver | None = None,
    seconds: float | None = None,
    progress: Callable[[int, dict[str, Any]], None] | None = None,
) -> SolverPositions:
    """`count` distinct positions of random play (plies drawn uniformly within each phase,
    the phases taking turns), each scored exactly for all seven moves. Positions where every
    legal move scores the same are skipped (they test nothing). With `seconds`, stops early
    once that much time is spent (each stored position is fully solved)."""
    solver = solver or Connect4Solver()
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()
    boards, to_play, scores, plies = [], [], [], []
    start = time.perf_counter()
    ranges = list(PHASES.values())
    attempt = 0
    while len(plies) < count and (seconds is None or time.perf_counter() - start < seconds):
        first, last = ranges[attempt % len(ranges)]
        attempt += 1
        state = random_position(int(rng.integers(first, last + 1)), rng)
        key = state.key()[0]
        if key in seen:
            continue
        seen.add(key)
        move_scores = solver.move_scores(state)
        legal = move_scores[move_scores != ILLEGAL]
        if (legal == legal[0]).all():
            attempt -= 1  # draw again in the same phase, keeping the phases balanced
            continue
        boards.append(state.board[0])
        to_play.append(state.to_play[0])
        scores.append(move_scores)
        plies.append(int(state.moves[0]))
        if progress is not None:
            progress(len(plies), {"ply": plies[-1], "seconds": time.perf_counter() - start})
    board = np.stack(boards) if boards else np.zeros((0, HEIGHT, WIDTH), np.int8)
    return SolverPositions(
        _states(board, np.array(to_play, np.int8)),
        np.array(scores, np.int16).reshape(-1, WIDTH),
        np.array(plies, np.int16),
    )
