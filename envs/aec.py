"""PettingZoo AEC environments for every game of the batched core.

Observations follow PettingZoo's classic board games exactly: a dict with
"observation" (int8 [H, W, 2]: the agent's stones, the opponent's) and "action_mask"
(int8 [A], all zeros when it is not the agent's turn).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv
from pettingzoo.utils import AgentSelector, wrappers

from rlgen.envs.game import Game, IllegalMoveError, make_game

ILLEGAL_CHOICES = ("terminate", "error")


class GameAECEnv(AECEnv):
    """One game of the batched core as a PettingZoo AEC env (player_0 moves first)."""

    metadata = {"render_modes": ["human", "ansi"], "name": "rlgen_game_v0", "is_parallelizable": False, "render_fps": 1}

    def __init__(self, game: Game, render_mode: str | None = None) -> None:
        super().__init__()
        if render_mode not in (None, "human", "ansi"):
            raise ValueError(f"render_mode must be None, 'human' or 'ansi', got {render_mode!r}")
        self.game = game
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "name": f"rlgen_{game.name}_v0"}
        self.possible_agents = ["player_0", "player_1"]
        h, w = game.board_shape
        obs_space = spaces.Dict(
            {
                "observation": spaces.Box(0, 1, (h, w, 2), dtype=np.int8),
                "action_mask": spaces.Box(0, 1, (game.num_actions,), dtype=np.int8),
            }
        )
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: spaces.Discrete(game.num_actions) for a in self.possible_agents}
        self.state = game.initial(1)

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        player = self.possible_agents.index(agent)
        colour = 1 if player == 0 else -1
        board = self.state.board[0]
        observation = np.stack([board == colour, board == -colour], axis=2).astype(np.int8)
        mask = np.zeros(self.game.num_actions, dtype=np.int8)
        if agent == self.agent_selection and not self.state.done[0]:
            mask[:] = self.game.legal_mask(self.state)[0]
        return {"observation": observation, "action_mask": mask}

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self.state = self.game.initial(1)
        self.agents = self.possible_agents[:]
        self.rewards = dict.fromkeys(self.agents, 0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {a: {} for a in self.agents}
        self._agent_selector = AgentSelector(self.agents)
        self.agent_selection = self._agent_selector.reset()

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self.state = self.game.step(self.state, np.array([int(action)]))
        self._cumulative_rewards[agent] = 0
        if self.state.done[0]:
            returns = self.game.returns(self.state)[0]
            self.rewards = {a: float(returns[i]) for i, a in enumerate(self.agents)}
            self.terminations = dict.fromkeys(self.agents, True)
        self.agent_selection = self._agent_selector.next()
        self._accumulate_rewards()
        if self.render_mode == "human":
            self.render()

    def render(self) -> str | None:
        if self.render_mode is None:
            import gymnasium

            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'human'")
            return None
        text = self.game.render(self.state)
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        pass


class _RaiseOnIllegal(wrappers.BaseWrapper):
    """Raise IllegalMoveError (naming the legal moves) instead of ending the game."""

    def step(self, action: Any) -> None:
        env = self.unwrapped
        agent = self.agent_selection
        if not (self.terminations[agent] or self.truncations[agent]):
            mask = env.observe(agent)["action_mask"]
            if not (0 <= int(action) < len(mask)) or not mask[int(action)]:
                legal = ", ".join(env.game.action_to_text(int(a)) for a in np.flatnonzero(mask))
                raise IllegalMoveError(
                    f"{agent} played illegal action {action} in {env.game.name}; legal moves: {legal}"
                )
        super().step(action)


def pettingzoo_env(name: str, render_mode: str | None = None, illegal: str = "terminate", **options: Any) -> AECEnv:
    """PettingZoo AEC env of a game of the batched core.

    `illegal`: 'terminate' (PettingZoo's classic convention: the offender loses, -1) or
    'error' (raise IllegalMoveError listing the legal moves).
    """
    if illegal not in ILLEGAL_CHOICES:
        raise ValueError(f"illegal must be one of {ILLEGAL_CHOICES}, got {illegal!r}")
    env: AECEnv = GameAECEnv(make_game(name, **options), render_mode=render_mode)
    env = wrappers.TerminateIllegalWrapper(env, illegal_reward=-1) if illegal == "terminate" else _RaiseOnIllegal(env)
    env = wrappers.AssertOutOfBoundsWrapper(env)
    return wrappers.OrderEnforcingWrapper(env)
