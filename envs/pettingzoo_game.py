"""Any two-player PettingZoo classic AEC env as a batched game for MCTS.

Each position is a copy of the env (see `clone_env`); `step` copies before it moves, so positions
are never changed in place and a search tree can share them freely. This is much slower
than the numpy core (one Python env per position), but it lets the same batched search
play chess_v6, go_v5 or a user's own AEC env:

    game = PettingZooGame("pettingzoo:connect_four_v3")
    result = MCTS(game, rollout_evaluator(game)).run(game.initial(4))
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlgen.envs.arena import load_pettingzoo
from rlgen.envs.game import BatchedArrays, IllegalMoveError, winning_moves_by_stepping
from rlgen.errors import ConfigError


def clone_env(env: Any, memo: dict[int, Any] | None = None) -> Any:
    """A true copy of an AEC env and its wrappers. `copy.deepcopy` is not one: PettingZoo
    envs are EzPickle objects, which copy by re-running the constructor (a fresh game)."""
    from pettingzoo import AECEnv

    memo = {} if memo is None else memo
    if id(env) in memo:
        return memo[id(env)]
    new = object.__new__(type(env))
    memo[id(env)] = new
    for key, value in vars(env).items():
        new.__dict__[key] = clone_env(value, memo) if isinstance(value, AECEnv) else copy.deepcopy(value, memo)
    return new


@dataclass
class EnvState(BatchedArrays):
    """B positions, each an env object, with the fields search reads as arrays."""

    envs: np.ndarray  # object [B]: AEC envs, never stepped in place
    to_play: np.ndarray  # int8 [B]: index of the agent to move
    done: np.ndarray  # bool [B]
    winner: np.ndarray  # int8 [B]: 0, 1, or -1 (draw / not over)
    moves: np.ndarray  # int16 [B]

    @property
    def batch(self) -> int:
        return len(self.envs)


class PettingZooGame:
    """The Game interface MCTS uses (num_actions, initial, legal_mask, step, observation)
    over a two-player, turn-based PettingZoo env with a Discrete action space and an
    `action_mask` in its observations."""

    def __init__(self, env: Any, seed: int = 0) -> None:
        if isinstance(env, str):
            env = load_pettingzoo(env)
        env.reset(seed=seed)
        self.players = list(env.possible_agents)
        if len(self.players) != 2:
            raise ConfigError(f"PettingZooGame needs a two-player game; {self._name(env)} has agents {self.players}")
        space = env.action_space(self.players[0])
        if not hasattr(space, "n"):
            raise ConfigError(f"PettingZooGame needs a Discrete action space; {self._name(env)} has {space}")
        observation = env.observe(env.agent_selection)
        if not isinstance(observation, dict) or "action_mask" not in observation:
            raise ConfigError(f"{self._name(env)} observations carry no 'action_mask'; MCTS needs the legal moves")
        self.name = self._name(env)
        self.num_actions = int(space.n)
        planes = np.asarray(observation["observation"])
        self.height, self.width = (planes.shape[0], planes.shape[1]) if planes.ndim >= 2 else (1, planes.size)
        self._start = self._describe([env])

    @staticmethod
    def _name(env: Any) -> str:
        return str(getattr(env, "metadata", {}).get("name", type(env).__name__))

    def _describe(self, envs: list[Any]) -> EnvState:
        n = len(envs)
        state = EnvState(
            np.empty(n, object), np.zeros(n, np.int8), np.zeros(n, bool), np.full(n, -1, np.int8), np.zeros(n, np.int16)
        )
        for i, env in enumerate(envs):
            state.envs[i] = env
            agent = env.agent_selection
            state.to_play[i] = self.players.index(agent)
            state.done[i] = (
                bool(env.terminations.get(agent, False) or env.truncations.get(agent, False)) or not env.agents
            )
            if state.done[i]:
                rewards = [env.rewards.get(p, 0.0) for p in self.players]
                if rewards[0] != rewards[1]:
                    state.winner[i] = int(np.argmax(rewards))
        return state

    def initial(self, batch: int = 1) -> EnvState:
        """B copies of the reset position (shared objects: positions are never mutated)."""
        return self._start.take(np.zeros(batch, np.int64))

    def from_env(self, env: Any, moves: int = 0) -> EnvState:
        """A snapshot of a live env's current position (to search from inside a game)."""
        state = self._describe([clone_env(env)])
        state.moves[:] = moves
        return state

    def legal_mask(self, state: EnvState) -> np.ndarray:
        mask = np.zeros((state.batch, self.num_actions), bool)
        for i, env in enumerate(state.envs):
            if not state.done[i]:
                mask[i] = np.asarray(env.observe(env.agent_selection)["action_mask"], bool)
        return mask

    def step(self, state: EnvState, actions: Any) -> EnvState:
        """Play one move in each position on copies of the envs; the input is unchanged."""
        actions = np.asarray(actions, np.int64).reshape(-1)
        if actions.shape != (state.batch,):
            raise ValueError(
                f"{self.name}: expected {state.batch} actions (one per position), got shape {actions.shape}"
            )
        mask = self.legal_mask(state)
        envs = []
        for i, env in enumerate(state.envs):
            if state.done[i] or not 0 <= actions[i] < self.num_actions or not mask[i, actions[i]]:
                legal = np.flatnonzero(mask[i]).tolist()
                raise IllegalMoveError(
                    f"{self.name}: illegal move {int(actions[i])} in position {i}; legal moves: {legal}"
                )
            child = clone_env(env)
            child.step(int(actions[i]))
            envs.append(child)
        new = self._describe(envs)
        new.moves = (state.moves + 1).astype(np.int16)
        # Search values alternate sides every move; a finished env may not advance its
        # agent_selection, so a terminal position is always seen from the mover's opponent.
        new.to_play = np.where(new.done, 1 - state.to_play, new.to_play).astype(np.int8)
        return new

    blockable_threats = False
    """Nothing is assumed about a foreign game's threats (MCTS's win check uses wins only)."""

    def winning_moves(self, state: EnvState, opponent: bool = False) -> np.ndarray:
        """bool [B, num_actions]: legal moves that win on the spot for the side to move."""
        if opponent:
            raise NotImplementedError(
                f"{self.name}: the opponent's wins need its turn, which a PettingZoo env cannot be given"
            )
        return winning_moves_by_stepping(self, state)

    def observation(self, state: EnvState) -> np.ndarray:
        """float32 [B, C, H, W]: each position's observation planes from the side to move."""
        planes = [np.asarray(env.observe(env.agent_selection)["observation"], np.float32) for env in state.envs]
        array = np.stack(planes)
        return np.moveaxis(array, -1, 1) if array.ndim == 4 else array
