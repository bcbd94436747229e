"""Single-agent gymnasium envs of the board games: the learner plays one side against
an opponent (`rlgen/TicTacToe-v0`, `rlgen/Connect4-v0`, `rlgen/Othello6-v0`,
`rlgen/Othello8-v0`, `rlgen/Gomoku-v0`).

Observation: float32 [H, W, 2] planes (own stones, opponent stones) from the learner's
view — PettingZoo's classic layout. Reward: +1 win, -1 loss, 0 draw, at the end. The
legal-move mask is in `info["action_mask"]` and in `action_masks()` (sb3-contrib's
MaskablePPO convention).

Illegal moves follow PettingZoo classic's rule (its TerminateIllegalWrapper): under
`illegal="lose"` (default) an illegal move by the learner loses, ending the episode with
terminated=True, reward -1, `info["illegal_move"] = True` and `info["reason"]` saying why
and listing the legal moves. So gymnasium's and SB3's env checkers and mask-unaware
learners (plain PPO) run, and learn to avoid illegal moves. `illegal="error"` raises
IllegalMoveError with the same reason instead: use it to prove a masked learner never
tries one.

`learner_side`: 'first', 'second', 'alternate' (flips every reset; a seeded reset starts
again with 'first', so equal seeds give equal episodes) or 'random' (drawn from the
seeded generator). `reset(options={"learner_side": ...})` overrides it for one episode.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlgen.envs.connect4 import Connect4
from rlgen.envs.game import IllegalMoveError, make_game
from rlgen.envs.opponents import make_opponent
from rlgen.envs.othello import Othello

SIDES = ("first", "second", "alternate", "random")
ILLEGAL_CHOICES = ("lose", "error")


class GameEnv(gym.Env):
    """One board game against an opponent, from the learner's side."""

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 1}

    def __init__(
        self,
        game: str = "tictactoe",
        opponent: Any = "random",
        learner_side: str = "alternate",
        illegal: str = "lose",
        render_mode: str | None = None,
        game_options: dict | None = None,
    ) -> None:
        if learner_side not in SIDES:
            raise ValueError(f"learner_side must be one of {SIDES}, got {learner_side!r}")
        if illegal not in ILLEGAL_CHOICES:
            raise ValueError(
                f"illegal must be 'lose' (an illegal move ends the episode with -1) or 'error' (raise), got {illegal!r}"
            )
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None, 'ansi' or 'human', got {render_mode!r}")
        self.game = make_game(game, **(game_options or {}))
        self.opponent_spec = opponent
        self.opponent = make_opponent(opponent, self.game)
        self.learner_side = learner_side
        self.illegal = illegal
        self.render_mode = render_mode
        h, w = self.game.board_shape
        self.observation_space = spaces.Box(0.0, 1.0, (h, w, 2), dtype=np.float32)
        self.action_space = spaces.Discrete(self.game.num_actions)
        self.state = self.game.initial(1)
        self.learner = 0
        self._episodes = 0

    # -- gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None or not hasattr(self, "_seeded"):
            self._seeded = True
            if isinstance(self.opponent_spec, str):
                self.opponent = make_opponent(self.opponent_spec, self.game, int(self.np_random.integers(2**31)))
            self._episodes = 0
        side = (options or {}).get("learner_side", self.learner_side)
        if side == "alternate":
            self.learner = self._episodes % 2
        elif side == "random":
            self.learner = int(self.np_random.integers(2))
        else:
            self.learner = 0 if side == "first" else 1
        self._episodes += 1
        self.state = self.game.initial(1)
        if self.learner == 1:
            self._opponent_moves()
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.state.done[0]:
            raise IllegalMoveError("the episode is over; call reset()")
        action = int(action)
        mask = self.action_masks()
        if not (0 <= action < len(mask)) or not mask[action]:
            reason = self.illegal_reason(action)
            if self.illegal == "error":
                raise IllegalMoveError(f"{self.game.name}: {reason}")
            self.state.done[0] = True
            self.state.winner[0] = 1 - self.learner
            if self.render_mode == "human":
                print(self.render_text())
            return self._obs(), -1.0, True, False, {**self._info(), "illegal_move": True, "reason": reason}
        self.state = self.game.step(self.state, np.array([action]))
        if not self.state.done[0]:
            self._opponent_moves()
        reward = float(self.game.returns(self.state)[0, self.learner]) if self.state.done[0] else 0.0
        if self.render_mode == "human":
            print(self.render_text())
        return self._obs(), reward, bool(self.state.done[0]), False, self._info()

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.render_text()
        if self.render_mode == "human":
            print(self.render_text())
        return None

    # -- helpers

    def render_text(self) -> str:
        return self.game.render(self.state)

    def illegal_reason(self, action: int) -> str:
        """Why `action` is not legal for the learner now, with the legal moves."""
        mask = self.action_masks()
        legal = ", ".join(self.game.action_to_text(int(a)) for a in np.flatnonzero(mask))
        if not 0 <= action < len(mask):
            return f"illegal action {action}: outside 0..{len(mask) - 1}; legal moves: {legal}"
        move = self.game.action_to_text(action)
        if isinstance(self.game, Connect4):
            why = f"column {move} is full"
        elif action == self.game.pass_action:
            why = "passing is allowed only without another move"
        elif self.state.board[0].flat[action] != 0:
            why = f"square {move} is taken"
        elif isinstance(self.game, Othello):
            why = f"a disc on {move} would flip none"
        else:
            why = f"{move} is not a legal move here"
        return f"illegal action {action} ({move}): {why}; legal moves: {legal}"

    def action_masks(self) -> np.ndarray:
        """bool [A]: the learner's legal moves (all False once the game is over)."""
        return self.game.legal_mask(self.state)[0]

    def _opponent_moves(self) -> None:
        while not self.state.done[0] and self.state.to_play[0] != self.learner:
            self.state = self.game.step(self.state, np.asarray(self.opponent.act(self.game, self.state)))

    def _obs(self) -> np.ndarray:
        colour = 1 if self.learner == 0 else -1
        board = self.state.board[0]
        return np.stack([board == colour, board == -colour], axis=2).astype(np.float32)

    def _info(self) -> dict:
        info: dict = {"action_mask": self.action_masks(), "learner_side": self.learner}
        if self.state.done[0]:
            winner = int(self.state.winner[0])
            info["outcome"] = "draw" if winner < 0 else ("win" if winner == self.learner else "loss")
        return info


GYM_IDS = {
    "rlgen/TicTacToe-v0": "tictactoe",
    "rlgen/Connect4-v0": "connect4",
    "rlgen/Othello6-v0": "othello6",
    "rlgen/Othello8-v0": "othello8",
    "rlgen/Gomoku-v0": "gomoku",
}
