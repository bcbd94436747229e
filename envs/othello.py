"""Othello (Reversi) on the batched core, 6x6 or 8x8, with passes.

Moves and flips are computed for the whole batch with shifted boolean boards (the
array form of bitboard flood fills), 8 directions at a time. A player with no legal
move must play the pass action (index H*W), which is legal only then; the game ends
when neither side can move, and the side with more discs wins.
"""

from __future__ import annotations

import numpy as np

from rlgen.envs.game import Game, GameState

DIRECTIONS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def shift(x: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """Move every cell of boolean boards [B, H, W] by (dr, dc), filling with False."""
    out = np.zeros_like(x)
    h, w = x.shape[1:]
    out[:, max(dr, 0) : h + min(dr, 0), max(dc, 0) : w + min(dc, 0)] = x[
        :, max(-dr, 0) : h + min(-dr, 0), max(-dc, 0) : w + min(-dc, 0)
    ]
    return out


def _opp_runs(start: np.ndarray, opp: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """Opponent stones in an unbroken line going (dr, dc) from any `start` cell."""
    run = shift(start, dr, dc) & opp
    for _ in range(max(opp.shape[1:]) - 3):
        run |= shift(run, dr, dc) & opp
    return run


def legal_moves(own: np.ndarray, opp: np.ndarray) -> np.ndarray:
    """bool [B, H, W]: empty cells from which a line of opp stones ends in an own stone."""
    empty = ~(own | opp)
    moves = np.zeros_like(own)
    for dr, dc in DIRECTIONS:
        moves |= shift(_opp_runs(own, opp, dr, dc), dr, dc) & empty
    return moves


def flips(move: np.ndarray, own: np.ndarray, opp: np.ndarray) -> np.ndarray:
    """bool [B, H, W]: the opp stones turned by placing at the one-hot `move` boards."""
    turned = np.zeros_like(own)
    for dr, dc in DIRECTIONS:
        run = _opp_runs(move, opp, dr, dc)
        bounded = (shift(run, dr, dc) & own).any(axis=(1, 2))
        turned |= run & bounded[:, None, None]
    return turned


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
        colour = (1 - 2 * state.to_play.astype(np.int8))[:, None, None]
        return state.board == colour, state.board == -colour

    def _legal_cells(self, state: GameState) -> np.ndarray:
        own, opp = self._sides(state)
        return legal_moves(own, opp).reshape(state.batch, -1)

    def _legal(self, state: GameState) -> np.ndarray:
        mask = super()._legal(state)
        mask[:, self.pass_action] = ~mask[:, : self.pass_action].any(axis=1) & ~state.done
        return mask

    def _play(self, state: GameState, actions: np.ndarray) -> None:
        passing = actions == self.pass_action
        state.passes = np.where(passing, state.passes + 1, 0).astype(np.int8)
        placing = np.flatnonzero(~passing)
        if len(placing):
            sub = state.take(placing)
            own, opp = self._sides(sub)
            move = np.zeros_like(own)
            rows, cols = np.divmod(actions[placing], self.width)
            move[np.arange(len(placing)), rows, cols] = True
            turned = flips(move, own, opp)
            colour = (1 - 2 * sub.to_play.astype(np.int8))[:, None, None]
            state.board[placing] = np.where(move | turned, colour, sub.board)
            # The game ends when neither side has a move after this one.
            own, opp = self._sides(state.take(placing))
            stuck = ~legal_moves(opp, own).any(axis=(1, 2)) & ~legal_moves(own, opp).any(axis=(1, 2))
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
