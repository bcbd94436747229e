"""The batched game core: every board game as numpy arrays over a batch of positions.

A `Game` is stateless; a `GameState` holds B positions as arrays with the batch first
(board, side to move, done, winner, move count). Every operation works on the whole
batch at once: legal-move masks, step, observations from the side to move's view,
symmetries of planes and policies, so self-play, search and evaluation never loop over
games in Python.

Conventions: player 0 moves first; `board` holds +1 for player 0's stones, -1 for player
1's; `winner` is 0, 1, or -1 for a draw (or a game still going). Observation planes are
(own stones, opponent stones) from the side to move, and the action index of a cell is
`row * width + col` of the board array, so planes transposed to (H, W, 2) are exactly
PettingZoo's classic observation for tic-tac-toe and Connect Four.
"""

from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from rlgen.errors import RlgenError, unknown_name


class IllegalMoveError(RlgenError, ValueError):
    """A move that is not legal in that position (or a game that is already over)."""


class BatchedArrays:
    """Copy / select / write / join for dataclasses whose fields are arrays, batch first."""

    def copy(self: _Batch) -> _Batch:
        return type(self)(**{f.name: getattr(self, f.name).copy() for f in dataclasses.fields(self)})

    def take(self: _Batch, index: Any) -> _Batch:
        """The positions at `index` (an int array, a bool mask or a slice), as a new batch."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return type(self)(**{f.name: getattr(self, f.name)[index].copy() for f in dataclasses.fields(self)})

    def put(self: _Batch, index: Any, other: _Batch) -> None:
        """Write `other`'s positions into this batch at `index`, in place."""
        for f in dataclasses.fields(self):
            getattr(self, f.name)[index] = getattr(other, f.name)

    @classmethod
    def concat(cls: type[_Batch], states: list[_Batch]) -> _Batch:
        return cls(**{f.name: np.concatenate([getattr(s, f.name) for s in states]) for f in dataclasses.fields(cls)})


_Batch = TypeVar("_Batch", bound=BatchedArrays)


@dataclass
class GameState(BatchedArrays):
    """B positions of one game. All fields are arrays with the batch first."""

    board: np.ndarray  # int8 [B, H, W]
    to_play: np.ndarray  # int8 [B], 0 or 1
    done: np.ndarray  # bool [B]
    winner: np.ndarray  # int8 [B]: 0, 1, or -1 (draw / not over)
    moves: np.ndarray  # int16 [B], moves played (passes included)
    passes: np.ndarray  # int8 [B], consecutive passes (Othello)

    @property
    def batch(self) -> int:
        return int(self.board.shape[0])

    def key(self) -> np.ndarray:
        """A hashable byte string per position (board + side to move), for tables and dedupe."""
        flat = np.concatenate([self.board.reshape(self.batch, -1), self.to_play[:, None]], axis=1).astype(np.int8)
        return np.array([row.tobytes() for row in flat], dtype=object)


def _dihedral_perms(h: int, w: int) -> list[np.ndarray]:
    """Cell index permutations of the 8 symmetries of a square board."""
    grid = np.arange(h * w).reshape(h, w)
    perms = []
    for k in range(4):
        rotated = np.rot90(grid, k)
        perms.append(rotated.flatten())
        perms.append(np.fliplr(rotated).flatten())
    return perms


class Game:
    """Base class of the batched board games. Subclasses implement `_legal_cells`,
    `_play` and the notation; everything else is shared."""

    name: str = ""
    height: int = 0
    width: int = 0
    has_pass: bool = False
    blockable_threats: bool = False
    """An opponent's win-in-one is stopped only by playing on its cell (k-in-a-row, Connect Four)."""
    description: str = ""

    # ------------------------------------------------------------------ sizes

    @property
    def board_shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def num_actions(self) -> int:
        return self.height * self.width + (1 if self.has_pass else 0)

    @property
    def pass_action(self) -> int | None:
        return self.height * self.width if self.has_pass else None

    num_planes: int = 2

    # ------------------------------------------------------------------ positions

    def initial(self, batch: int = 1) -> GameState:
        """`batch` copies of the start position."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        board = np.zeros((batch, self.height, self.width), dtype=np.int8)
        self._setup(board)
        zeros = np.zeros(batch, dtype=np.int8)
        return GameState(
            board,
            zeros.copy(),
            np.zeros(batch, bool),
            np.full(batch, -1, np.int8),
            np.zeros(batch, np.int16),
            zeros.copy(),
        )

    def _setup(self, board: np.ndarray) -> None:
        """Place the starting stones (none by default)."""

    def legal_mask(self, state: GameState) -> np.ndarray:
        """bool [B, num_actions]; all False for games that are over."""
        self._check_state(state)
        return self._legal(state)

    def _legal(self, state: GameState) -> np.ndarray:
        mask = np.zeros((state.batch, self.num_actions), dtype=bool)
        cells = self._legal_cells(state)
        mask[:, : cells.shape[1]] = cells
        mask[state.done] = False
        return mask

    def _legal_cells(self, state: GameState) -> np.ndarray:
        raise NotImplementedError

    def step(self, state: GameState, actions: Any) -> GameState:
        """Play one move in every position; returns a new state (the input is unchanged).

        Raises IllegalMoveError naming the game, the move and the legal moves when a move
        is illegal or a game is already over; ValueError for a wrong shape or dtype.
        """
        self._check_state(state)
        actions = self._check_actions(state, actions)
        over = np.flatnonzero(state.done)
        if len(over):
            raise IllegalMoveError(
                f"{self.name}: game {over[0]} of the batch is already over (winner {state.winner[over[0]]}); "
                "step only the games that are still going (state.take(~state.done))"
            )
        legal = self._legal(state)
        bad = np.flatnonzero(~legal[np.arange(state.batch), actions])
        if len(bad):
            i = int(bad[0])
            raise IllegalMoveError(
                f"{self.name}: illegal move {self.action_to_text(int(actions[i]))} "
                f"(action {int(actions[i])}) in game {i}; "
                f"legal moves: {', '.join(self.action_to_text(int(a)) for a in np.flatnonzero(legal[i]))}"
            )
        new = state.copy()
        self._play(new, actions)
        new.moves += 1
        new.to_play = (1 - new.to_play).astype(np.int8)
        return new

    def _play(self, state: GameState, actions: np.ndarray) -> None:
        """Apply legal `actions` in place: stones, done and winner (not to_play/moves)."""
        raise NotImplementedError

    def winning_moves(self, state: GameState, opponent: bool = False) -> np.ndarray:
        """bool [B, num_actions]: the legal moves that win on the spot for the side to move
        (or, with `opponent`, for the other side were it its turn)."""
        if opponent:
            state = state.copy()
            state.to_play = (1 - state.to_play).astype(np.int8)
        return winning_moves_by_stepping(self, state)

    def _check_state(self, state: GameState) -> None:
        if not isinstance(state, GameState):
            raise TypeError(f"{self.name}: expected a GameState, got {type(state).__name__}")
        if state.board.shape[1:] != self.board_shape:
            raise ValueError(f"{self.name}: board shape {state.board.shape[1:]} is not {self.board_shape}")

    def _check_actions(self, state: GameState, actions: Any) -> np.ndarray:
        array = np.asarray(actions)
        if array.ndim == 0:
            array = array.reshape(1)
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{self.name}: actions must be integers, got dtype {array.dtype}")
        if array.shape != (state.batch,):
            raise ValueError(f"{self.name}: expected {state.batch} actions (one per game), got shape {array.shape}")
        out = np.flatnonzero((array < 0) | (array >= self.num_actions))
        if len(out):
            raise IllegalMoveError(
                f"{self.name}: action {int(array[out[0]])} in game {out[0]} is outside 0..{self.num_actions - 1}"
            )
        return array.astype(np.int64)

    # ------------------------------------------------------------------ results and views

    def returns(self, state: GameState) -> np.ndarray:
        """float32 [B, 2]: +1 / -1 / 0 for each player in finished games (0 while going)."""
        out = np.zeros((state.batch, 2), dtype=np.float32)
        won = state.done & (state.winner >= 0)
        idx = np.flatnonzero(won)
        out[idx, state.winner[idx]] = 1.0
        out[idx, 1 - state.winner[idx]] = -1.0
        return out

    def observation(self, state: GameState) -> np.ndarray:
        """float32 [B, 2, H, W]: (own stones, opponent stones) from the side to move."""
        sign = (1 - 2 * state.to_play.astype(np.int8))[:, None, None]
        relative = state.board * sign
        return np.stack([relative == 1, relative == -1], axis=1).astype(np.float32)

    def symmetries(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(cell permutation, action permutation) pairs, identity first: the 8 dihedral
        symmetries of square boards, or identity and left-right mirror otherwise."""
        h, w = self.board_shape
        if h == w:
            cell_perms = _dihedral_perms(h, w)
        else:
            grid = np.arange(h * w).reshape(h, w)
            cell_perms = [grid.flatten(), np.fliplr(grid).flatten()]
        return [(perm, self._action_perm(perm)) for perm in cell_perms]

    def _action_perm(self, cell_perm: np.ndarray) -> np.ndarray:
        if self.has_pass:
            return np.concatenate([cell_perm, [self.height * self.width]])
        return cell_perm

    def augment(self, planes: np.ndarray, policy: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every symmetry applied to planes [B, P, H, W] and policies [B, A]."""
        b, p, h, w = planes.shape
        flat = planes.reshape(b, p, h * w)
        return [(flat[:, :, cells].reshape(b, p, h, w), policy[:, acts]) for cells, acts in self.symmetries()]

    def transform_state(self, state: GameState, symmetry: int) -> GameState:
        """A symmetry applied to the positions themselves."""
        cells, _ = self.symmetries()[symmetry]
        new = state.copy()
        new.board = state.board.reshape(state.batch, -1)[:, cells].reshape(state.board.shape)
        return new

    def transform_action(self, actions: np.ndarray, symmetry: int) -> np.ndarray:
        """Where `actions` go under a symmetry (the inverse of the gather permutation)."""
        _, acts = self.symmetries()[symmetry]
        inverse = np.argsort(acts)
        return inverse[np.asarray(actions)]

    # ------------------------------------------------------------------ notation

    def action_to_text(self, action: int) -> str:
        """Human notation of an action: column letter + row number, or 'pass'."""
        if self.has_pass and action == self.pass_action:
            return "pass"
        row, col = divmod(int(action), self.width)
        return f"{string.ascii_lowercase[col]}{row + 1}"

    def parse_move(self, text: str, state: GameState | None = None, index: int = 0) -> int:
        """A human's move -> action; with a state, checks it is legal there.

        Errors say what was typed, the format expected and the legal moves.
        """
        action = self._parse(text.strip().lower())
        if state is not None:
            legal = self.legal_mask(state)[index]
            if state.done[index]:
                raise IllegalMoveError(f"the game is over; no move can be played ({text!r})")
            if action is None or not legal[action]:
                moves = ", ".join(self.action_to_text(int(a)) for a in np.flatnonzero(legal))
                what = "is not a move" if action is None else "is not legal here"
                raise IllegalMoveError(f"{text!r} {what} ({self.notation_help()}); legal moves: {moves}")
        elif action is None:
            raise IllegalMoveError(f"{text!r} is not a move ({self.notation_help()})")
        return action

    def notation_help(self) -> str:
        last = string.ascii_lowercase[self.width - 1]
        extra = " or 'pass'" if self.has_pass else ""
        return f"type a column letter a-{last} and a row number 1-{self.height}, e.g. 'b2'{extra}"

    def _parse(self, text: str) -> int | None:
        if self.has_pass and text in ("pass", "p"):
            return self.pass_action
        if len(text) < 2 or text[0] not in string.ascii_lowercase[: self.width] or not text[1:].isdigit():
            return None
        col = string.ascii_lowercase.index(text[0])
        row = int(text[1:]) - 1
        if not 0 <= row < self.height:
            return None
        return row * self.width + col

    def render(self, state: GameState, index: int = 0, symbols: str = ".XO") -> str:
        """Text board of one position: X is player 0, O player 1; columns a.., rows 1.."""
        board = state.board[index]
        header = "   " + " ".join(string.ascii_lowercase[: self.width])
        rows = [header]
        for r in range(self.height):
            cells = " ".join(symbols[0] if v == 0 else symbols[1] if v == 1 else symbols[2] for v in board[r])
            rows.append(f"{r + 1:>2} {cells}")
        if state.done[index]:
            result = "draw" if state.winner[index] < 0 else f"{symbols[1 + state.winner[index]]} wins"
            rows.append(f"game over: {result}")
        else:
            rows.append(f"{symbols[1 + state.to_play[index]]} to move")
        return "\n".join(rows)


def winning_moves_by_stepping(game: Any, state: Any) -> np.ndarray:
    """bool [B, num_actions]: every legal move of every position played once, as one batch
    through `game.step`, and kept where it wins for the side to move (any game MCTS takes)."""
    legal = game.legal_mask(state)
    games, actions = np.nonzero(legal)
    wins = np.zeros_like(legal)
    if len(games):
        after = game.step(state.take(games), actions)
        wins[games, actions] = after.done & (after.winner == state.to_play[games])
    return wins


def make_game(name: str, **options: Any) -> Game:
    """A batched game core by name: tictactoe, connect4, othello6, othello8, gomoku
    (options: gomoku size=9, k=5)."""
    from rlgen.envs.connect4 import Connect4
    from rlgen.envs.mnk import Gomoku, TicTacToe
    from rlgen.envs.othello import Othello

    factories = {
        "tictactoe": lambda: TicTacToe(),
        "connect4": lambda: Connect4(),
        "othello6": lambda: Othello(6),
        "othello8": lambda: Othello(8),
        "gomoku": lambda: Gomoku(**options),
    }
    if name not in factories:
        raise unknown_name("game", name, list(factories))
    if options and name != "gomoku":
        raise ValueError(f"game '{name}' takes no options, got {sorted(options)}")
    return factories[name]()


GAMES = {
    "tictactoe": "tic-tac-toe, 3x3, three in a row",
    "connect4": "Connect Four, 7 columns x 6 rows, four in a row, stones drop",
    "othello6": "Othello on 6x6, passes handled",
    "othello8": "Othello (Reversi) on 8x8, passes handled",
    "gomoku": "Gomoku, 9x9 by default (size=N), five or more in a row",
}
