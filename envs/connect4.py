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
