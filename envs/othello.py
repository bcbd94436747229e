"""Othello (Reversi) on the batched core, 6x6 or 8x8, with passes.

Moves and flips are bitboard flood fills: each side's discs are one uint64 per
position (bit r*W + c), and the 8 directions are shifted at once as an [8, B] array,
so a whole batch costs a few dozen numpy operations per move. A player with no legal
move must play the pass action (index H*W), which is legal only then; the game ends
when neither side can move, and the side with more discs wins.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from rlgen.envs.game import Game, GameState

DIRECTIONS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


@cache
def _shifts(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per direction [8, 1]: left shift, right shift, and the mask of cells that may
    receive a disc (on the board, not wrapped around from the other edge)."""
    cells = size * size
    full = (1 << cells) - 1
    col = sum(1 << (r * size) for r in range(size))  # column 0
    left, right, keep = [], [], []
    for dr, dc in DIRECTIONS:
        s = dr * size + dc
        left.append(max(s, 0))
        right.append(max(-s, 0))
        wrapped = col if dc > 0 else col << (size - 1) if dc < 0 else 0
        keep.append(full & ~wrapped)
    as_column = lambda xs: np.array(xs, np.uint64)[:, None]  # noqa: E731
    return as_column(left), as_column(right), as_column(keep)


def _shift(x: np.ndarray, size: int) -> np.ndarray:
    """Every disc of bitboards x ([1 or 8, B]) moved one step in each of the 8 directions."""
    left, right, keep = _shifts(size)
    return ((x << left) >> right) & keep


def _opp_runs(start: np.ndarray, opp: np.ndarray, size: int) -> np.ndarray:
    """[8, B]: opponent discs in an unbroken line from any `start` disc, per direction."""
    run = _shift(start[None], size) & opp
    for _ in range(size - 3):
        run |= _shift(run, size) & opp
    return run


def legal_bits(own: np.ndarray, opp: np.ndarray, size: int) -> np.ndarray:
    """uint64 [B]: empty cells from which a line of opp discs ends in an own disc."""
    empty = ~(own | opp)
    return np.bitwise_or.reduce(_shift(_opp_runs(own, opp, size), size) & empty, axis=0)


def flip_bits(move: np.ndarray, own: np.ndarray, opp: np.ndarray, size: int) -> np.ndarray:
    """uint64 [B]: the opp discs turned by placing a disc at the single-bit `move`."""
    runs = _opp_runs(move, opp, size)
    bounded = (_shift(runs, size) & own) != 0
    return np.bitwise_or.reduce(np.where(bounded, runs, np.uint64(0)), axis=0)


def to_bits(cells: np.ndarray) -> np.ndarray:
    """bool [B, H, W] -> uint64 [B], cell (r, c) at bit r*W + c."""
    packed = np.packbits(cells.reshape(len(cells), -1), axis=1, bitorder="little")
    words = np.zeros((len(cells), 8), np.uint8)
    words[:, : packed.shape[1]] = packed
    return words.view("<u8")[:, 0].astype(np.uint64)


def from_bits(bits: np.ndarray, size: int) -> np.ndarray:
    """uint64 [B] -> bool [B, size, size]."""
    octets = bits.astype("<u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(octets, axis=1, bitorder="little")[:, : size * size].astype(bool).reshape(-1, size, size)


def legal_moves(own: np.ndarray, opp: np.ndarray) -> np.ndarray:
    """bool [B, H, W]: the legal cells for the side owning `own` (boolean boards)."""
    size = own.shape[1]
    return from_bits(legal_bits(to_bits(own), to_bits(opp), size), size)


def popcount(bits: np.ndarray) -> np.ndarray:
    """int [B]: set bits of each uint64."""
    return np.unpackbits(bits.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


class Othello(Game):
    has_pass = True

    def __init__(self, size: int = 8) -> None:
        if size not in (6, 8):
            raise ValueError(f"Othello board size must be 6 or 8, got {size}")
        self.height = self.width = size
        self.name = f"othello{size}"
        self.description = f"Othello on {size}x{size}, passes handled"

    def _setup(self, board: np.ndarray) -> None:
        m = self.height // 2
        board[:, m - 1, m - 1] = board[:, m, m] = -1
        board[:, m - 1, m] = board[:, m, m - 1] = 1

    def _sides(self, state: GameState) -> tuple[np.ndarray, np.ndarray]:
        """Bitboards of the side to move and of its opponent."""
        colour = (1 - 2 * state.to_play.astype(np.int8))[:, None, None]
        return to_bits(state.board == colour), to_bits(state.board == -colour)

    def _legal_cells(self, state: GameState) -> np.ndarray:
        return from_bits(legal_bits(*self._sides(state), self.height), self.height).reshape(state.batch, -1)

    def _legal(self, state: GameState) -> np.ndarray:
        mask = super()._legal(state)
        mask[:, self.pass_action] = ~mask[:, : self.pass_action].any(axis=1) & ~state.done
        return mask

    def _play(self, state: GameState, actions: np.ndarray) -> None:
        passing = actions == self.pass_action
        state.passes = np.where(passing, state.passes + 1, 0).astype(np.int8)
        placing = np.flatnonzero(~passing)
        if len(placing):
            size = self.height
            own, opp = self._sides(state.take(placing))
            move = np.left_shift(np.uint64(1), actions[placing].astype(np.uint64))
            turned = flip_bits(move, own, opp, size)
            own, opp = own | move | turned, opp & ~turned
            colour = (1 - 2 * state.to_play[placing].astype(np.int8))[:, None, None]
            state.board[placing] = np.where(from_bits(own, size), colour, np.where(from_bits(opp, size), -colour, 0))
            # The game ends when neither side has a move after this one.
            stuck = (legal_bits(opp, own, size) == 0) & (legal_bits(own, opp, size) == 0)
            ended = placing[stuck]
            if len(ended):
                counts = state.board[ended].reshape(len(ended), -1)
                diff = (counts == 1).sum(1) - (counts == -1).sum(1)
                state.winner[ended] = np.where(diff > 0, 0, np.where(diff < 0, 1, -1))
                state.done[ended] = True

    def score(self, state: GameState) -> np.ndarray:
        """int [B, 2]: discs of player 0 and player 1."""
        flat = state.board.reshape(state.batch, -1)
        return np.stack([(flat == 1).sum(1), (flat == -1).sum(1)], axis=1)
