"""Perfect play for tic-tac-toe, independent of the lab's game core and opponents: every
position reachable by legal play, its negamax value, and a check of an agent's move in each.

Boards are 9-tuples of cells (1 = the first player's stone, -1 = the second's, 0 = empty),
as `rlgen.envs` lays out tic-tac-toe, so a batch of every position can be handed to a
`GameAgent.act_states` and each chosen move compared with perfect play.
"""

from __future__ import annotations

from functools import cache

import numpy as np

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def winner(board: tuple[int, ...]) -> int:
    """1 or -1 for the side with three in a line, else 0."""
    for a, b, c in LINES:
        if board[a] != 0 and board[a] == board[b] == board[c]:
            return board[a]
    return 0


def stone(board: tuple[int, ...]) -> int:
    """The stone of the side to move: the first player's (1) when the counts are equal."""
    return 1 if board.count(1) == board.count(-1) else -1


@cache
def value(board: tuple[int, ...]) -> int:
    """Negamax value for the side to move: 1 win, 0 draw, -1 loss."""
    if winner(board) != 0:
        return -1  # the previous move won
    if 0 not in board:
        return 0
    return max(-value(play(board, cell)) for cell in range(9) if board[cell] == 0)


def play(board: tuple[int, ...], cell: int) -> tuple[int, ...]:
    return board[:cell] + (stone(board),) + board[cell + 1 :]


def move_values(board: tuple[int, ...]) -> dict[int, int]:
    """Each legal move's value for the side to move."""
    return {cell: -value(play(board, cell)) for cell in range(9) if board[cell] == 0}


def positions() -> list[tuple[int, ...]]:
    """Every position reachable by legal play from the empty board with a move to make."""
    seen: set[tuple[int, ...]] = set()
    frontier = [(0,) * 9]
    while frontier:
        board = frontier.pop()
        if board in seen or winner(board) != 0 or 0 not in board:
            continue
        seen.add(board)
        frontier.extend(play(board, cell) for cell in range(9) if board[cell] == 0)
    return sorted(seen)


def game_state(boards: list[tuple[int, ...]]):  # -> rlgen.envs.game.GameState
    """The lab's batched state of `boards` (imported here so the oracle itself needs no lab code)."""
    from rlgen.envs.game import GameState

    board = np.array(boards, dtype=np.int8).reshape(-1, 3, 3)
    n = len(boards)
    to_play = np.array([0 if stone(b) == 1 else 1 for b in boards], dtype=np.int8)
    moves = np.array([9 - b.count(0) for b in boards], dtype=np.int16)
    return GameState(board, to_play, np.zeros(n, bool), np.full(n, -1, np.int8), moves, np.zeros(n, np.int8))


def misses(choose) -> dict[str, list[tuple[tuple[int, ...], int]]]:
    """Positions where `choose(GameState) -> actions` (one move per position) does not keep
    the position's value: 'lets_win_go' (a won position, a move that does not win) and
    'loses' (a drawn position, a losing move). An illegal move counts as 'illegal'."""
    boards = positions()
    actions = np.asarray(choose(game_state(boards)))
    out: dict[str, list[tuple[tuple[int, ...], int]]] = {"lets_win_go": [], "loses": [], "illegal": []}
    for board, action in zip(boards, actions.tolist(), strict=True):
        values = move_values(board)
        if action not in values:
            out["illegal"].append((board, action))
        elif values[action] < max(values.values()):
            out["lets_win_go" if max(values.values()) == 1 else "loses"].append((board, action))
    return out
