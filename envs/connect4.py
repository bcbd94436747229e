"""Connect Four on the batched core: 7 columns x 6 rows, stones drop, four in a row wins.

Row 0 is the top, as in PettingZoo's connect_four_v3, whose observation planes and
column actions this matches exactly.
"""

from __future__ import annotations

import string

import numpy as np

from rlgen.envs.game import Game, GameState
from rlgen.envs.mnk import completes_line


class Connect4(Game):
    name = "connect4"
    height, width = 6, 7
    blockable_threats = True
    description = "Connect Four, 7 columns x 6 rows, four in a row, stones drop"

    @property
    def num_actions(self) -> int:
        return self.width

    def _legal_cells(self, state: GameState) -> np.ndarray:
        return state.board[:, 0, :] == 0

    def _play(self, state: GameState, actions: np.ndarray) -> None:
        index = np.arange(state.batch)
        rows = (state.board[index, :, actions] == 0).sum(axis=1) - 1
        state.board[index, rows, actions] = 1 - 2 * state.to_play
        won = completes_line(state.board, rows, actions, 4)
        full = ~(state.board[:, 0, :] == 0).any(axis=1)
        state.winner[won] = state.to_play[won]
        state.done |= won | full

    def winning_moves(self, state: GameState, opponent: bool = False) -> np.ndarray:
        """bool [B, 7]: columns whose next stone makes four for the side to move (or the
        other side), on bitboards: 8 bits per column from the bottom, two empty guard bits on
        top, so a shift by 1 / 8 / 7 / 9 steps along a column / row / diagonal without wrapping."""
        self._check_state(state)
        colour = (1 - 2 * state.to_play.astype(np.int8)) * (-1 if opponent else 1)
        stones = np.zeros((state.batch, self.width, 8), bool)
        stones[:, :, : self.height] = (state.board == colour[:, None, None])[:, ::-1, :].transpose(0, 2, 1)
        own = np.packbits(stones, axis=2, bitorder="little")[:, :, 0]
        own = np.concatenate([own, np.zeros((state.batch, 1), np.uint8)], axis=1).view("<u8")  # [B, 1]
        heights = (state.board != 0).sum(axis=1)  # [B, 7]
        open_column = heights < self.height
        drop = np.left_shift(np.uint64(1), (np.arange(self.width) * 8 + np.minimum(heights, 7)).astype(np.uint64))
        after = own | drop
        wins = np.zeros(after.shape, bool)
        for shift in (1, 7, 8, 9):
            pairs = after & (after >> np.uint64(shift))
            wins |= (pairs & (pairs >> np.uint64(2 * shift))) != 0
        return wins & open_column & ~state.done[:, None]

    def symmetries(self) -> list[tuple[np.ndarray, np.ndarray]]:
        grid = np.arange(self.height * self.width).reshape(self.height, self.width)
        columns = np.arange(self.width)
        return [(grid.flatten(), columns), (np.fliplr(grid).flatten(), columns[::-1].copy())]

    def action_to_text(self, action: int) -> str:
        return str(int(action) + 1)

    def _parse(self, text: str) -> int | None:
        if text.isdigit() and 1 <= int(text) <= self.width:
            return int(text) - 1
        if len(text) == 1 and text in string.ascii_lowercase[: self.width]:
            return string.ascii_lowercase.index(text)
        return None

    def notation_help(self) -> str:
        return f"type a column number 1-{self.width}"

    def render(self, state: GameState, index: int = 0, symbols: str = ".XO") -> str:
        text = super().render(state, index, symbols).splitlines()
        rows = [line[3:] for line in text[1 : self.height + 1]]
        return "\n".join([" ".join(str(c + 1) for c in range(self.width)), *rows, text[-1]])
