"""Single-agent gymnasium envs of the board games: the learner plays one side against
an opponent (`rlgen/TicTacToe-v0`, `rlgen/Connect4-v0`, `rlgen/Othello6-v0`,
`rlgen/Othello8-v0`, `rlgen/Gomoku-v0`).

Observation: float32 [H, W, 2] planes (own stones, opponent stones) from the learner's
view — PettingZoo's classic layout. Reward: +1 win, -1 loss, 0 draw, at the end. The
legal-move mask is in `info["action_mask"]` and in `action_masks()` (sb3-contrib's
MaskablePPO convention). `illegal="error"` (default) raises IllegalMoveError naming the
legal moves; `illegal="lose"` ends the episode with reward -1 instead (use it where
actions are sampled without the mask, as gymnasium's env checker does).

`learner_side`: 'first', 'second', 'alternate' (flips every reset; a seeded reset starts
again with 'first', so equal seeds give equal episodes) or 'random' (drawn from the
seeded generator). `reset(options={"learner_side": ...})` overrides it for one episode.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlgen.envs.game import IllegalMoveError, make_game
from rlgen.envs.opponents import make_opponent

SIDES = ("first", "second", "alternate", "random")


class GameEnv(gym.Env):
    """One board game against an opponent, from the learner's side."""

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 1}

    def __init__(
        self,
        game: str = "tictactoe",
        opponent: Any = "random",
        learner_side: str = "alternate",
        illegal: str = "error",
        render_mode: str | None = None,
        game_options: dict | None = None,
    ) -> None:
        if learner_side not in SIDES:
            raise ValueError(f"learner_side must be one of {SIDES}, got {learner_side!r}")
        if illegal not in ("error", "lose"):
            raise ValueError(f"illegal must be 'error' or 'lose', got {illegal!r}")
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
            if self.illegal == "lose":
                info = {**self._info(), "illegal_move": True}
                self.state.done[0] = True
                self.state.winner[0] = 1 - self.learner
                return self._obs(), -1.0, True, False, info
            legal = ", ".join(self.game.action_to_text(int(a)) for a in np.flatnonzero(mask))
            raise IllegalMoveError(
                f"{self.game.name}: illegal action {action} "
                f"({self.game.action_to_text(action) if 0 <= action < len(mask) else 'out of range'}); "
                f"legal moves: {legal}"
            )
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
