"""k-in-a-row games on the batched core: tic-tac-toe (3x3, 3) and Gomoku (NxN, 5)."""

from __future__ import annotations

import functools

import numpy as np

from rlgen.envs.game import Game, GameState

DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def completes_line(board: np.ndarray, rows: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """bool [B]: does the stone just placed at (rows[b], cols[b]) make k or more in a row?

    Only lines through the last move can be new, so only the k-cell windows holding that
    cell are read (`_windows_through`): a line of k or more contains such a window.
    """
    batch, height, width = board.shape
    flat = np.concatenate([board.reshape(batch, -1), np.zeros((batch, 1), board.dtype)], axis=1)
    windows = _windows_through(height, width, k)[rows * width + cols]  # [B, W, k]; padding reads the empty cell
    colour = flat[np.arange(batch), rows * width + cols]
    cells = flat[np.arange(batch)[:, None, None], windows]
    return (cells == colour[:, None, None]).all(axis=2).any(axis=1) & (colour != 0)


@functools.cache
def _windows_through(height: int, width: int, k: int) -> np.ndarray:
    """int [H * W, W_max, k]: for every cell, the flat indices of the k-cell line windows
    holding it (rows, columns, both diagonals); short rows are padded with windows of the
    index H * W, an always-empty cell appended to the board."""
    per_cell: list[list[list[int]]] = [[] for _ in range(height * width)]
    for dr, dc in DIRECTIONS:
        for r in range(height):
            for c in range(width):
                cells = [(r + i * dr, c + i * dc) for i in range(k)]
                if all(0 <= rr < height and 0 <= cc < width for rr, cc in cells):
                    flat = [rr * width + cc for rr, cc in cells]
                    for cell in flat:
                        per_cell[cell].append(flat)
    most = max(len(w) for w in per_cell)
    empty = [height * width] * k
    return np.array([w + [empty] * (most - len(w)) for w in per_cell], dtype=np.int64)


class MNKGame(Game):
    """Place a stone on any empty cell; k in a row (horizontal, vertical, diagonal) wins."""

    blockable_threats = True

    def __init__(self, height: int, width: int, k: int, name: str, description: str = "") -> None:
        if min(height, width) < 1 or k < 2 or k > max(height, width):
            raise ValueError(f"invalid k-in-a-row game: {height}x{width} board, k={k}")
        self.height, self.width, self.k = height, width, k
        self.name = name
        self.description = description

    def _legal_cells(self, state: GameState) -> np.ndarray:
        return (state.board == 0).reshape(state.batch, -1)

    def _play(self, state: GameState, actions: np.ndarray) -> None:
        rows, cols = np.divmod(actions, self.width)
        index = np.arange(state.batch)
        state.board[index, rows, cols] = 1 - 2 * state.to_play
        won = completes_line(state.board, rows, cols, self.k)
        full = ~(state.board == 0).reshape(state.batch, -1).any(axis=1)
        state.winner[won] = state.to_play[won]
        state.done |= won | full


class TicTacToe(MNKGame):
    """3x3, three in a row. Moves: 'b2' or a keypad-style number 1-9 (1 = a1, top left)."""

    def __init__(self) -> None:
        super().__init__(3, 3, 3, "tictactoe", "tic-tac-toe, 3x3, three in a row")

    def _parse(self, text: str) -> int | None:
        if text.isdigit() and 1 <= int(text) <= 9:
            return int(text) - 1
        return super()._parse(text)

    def notation_help(self) -> str:
        return "type a cell like 'b2' (column a-c, row 1-3) or a number 1-9 counted row by row from the top left"


class Gomoku(MNKGame):
    """Freestyle Gomoku: five or more in a row wins; default 9x9."""

    def __init__(self, size: int = 9, k: int = 5) -> None:
        super().__init__(size, size, k, "gomoku", f"Gomoku {size}x{size}, {k} or more in a row")
