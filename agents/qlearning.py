"""Tabular Q-learning on discrete gymnasium envs and, through self-play, on the board games.

    rlgen train qlearning --env FrozenLake-v1|Taxi-v4|CliffWalking-v1   (Discrete spaces)
    rlgen train qlearning --env tictactoe                                (self-play)

`--steps` counts env steps, or self-play moves on a game. Gym envs keep a dense numpy
table Q[state, action] and take the classic update
Q(s, a) += alpha * (r + discount * max_a' Q(s', a') - Q(s, a)). On a game both sides share
one table keyed by the board seen from the side to move, and the backup is negamax: the
target of a move is its reward if the game ended, else minus the best value of the
opponent's next position. Illegal moves hold -inf, so every max and argmax skips them.
Exploration is epsilon-greedy; epsilon and alpha decay linearly over a fixed number of
steps (so a run extended with `rlgen resume --steps` keeps its schedule). Checkpoints
carry the table, the games in progress or the env's state, and every RNG: `rlgen resume`
continues exactly.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlgen.agents.alphazero.arena import GameAgent, elo_difference, play_match, resolve_opponent
from rlgen.agents.gym_support import Agent, evaluate_episodes, make_env
from rlgen.algorithm import Algorithm
from rlgen.config import RunConfig, TrainerConfig
from rlgen.envs.game import GAMES, Game, GameState, make_game
from rlgen.errors import ConfigError, UnknownNameError, unknown_name

# ----------------------------------------------------------------------------- config


@dataclass
class QLearningConfig(RunConfig):
    """Tabular Q-learning. `--steps` counts env steps (self-play moves on games). The field
    defaults are tictactoe's; other envs start from their kind's row of PRESETS."""

    env: str = "tictactoe"
    """A game for self-play (tictactoe, connect4, othello6, othello8, gomoku) or a gymnasium id
    with Discrete observation and action spaces (FrozenLake-v1, Taxi-v4, CliffWalking-v1)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the env (gymnasium.make) or game (make_game), e.g. is_slippery=false."""
    steps: int = 2_000_000
    """Env steps (self-play moves on a game). Tic-tac-toe's 2M (~6 s) make the greedy table
    optimal in every reachable position; 500k left one to three drawn positions lost."""
    alpha: float = 0.5
    """Learning rate at the start."""
    alpha_end: float = 0.2
    """Learning rate reached after `alpha_decay_steps` (linear decay)."""
    alpha_decay_steps: int = 2_000_000
    """Steps over which alpha decays linearly (0 = constant alpha)."""
    epsilon_start: float = 1.0
    """Probability of a uniformly random (legal) action at the start."""
    epsilon_end: float = 0.2
    """Exploration probability reached after `epsilon_decay_steps` (linear decay)."""
    epsilon_decay_steps: int = 1_600_000
    """Steps over which epsilon decays linearly (0 = constant epsilon_start)."""
    discount: float = 1.0
    """Discount factor gamma (1 for games: a win is a win)."""
    q_init: float = 0.0
    """Initial value of every table entry; above the best return makes a greedy agent try
    every action (optimistic initialization)."""
    games: int = 100
    """Self-play games played at once on a game; each ply moves in all of them."""
    chunk: int = 1000
    """Env steps / self-play moves per train_step (on a game, a multiple of `games`)."""
    eval_opponent: str = "minimax"
    """Opponent of the periodic evaluation on a game: random, lookahead, minimax, alphabeta:D, mcts:N, or a run dir."""
    eval_games: int = 100
    """Games per evaluation on a game (sides alternate)."""
    eval_episodes: int = 100
    """Greedy episodes per evaluation on a gym env."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(log_every=20_000, eval_every=200_000, checkpoint_every=100_000)
    )
    """Trainer plumbing (steps are env steps / moves). No monitor by default: the table only improves
    as exploration decays, so the last table is the one evaluated (set monitor=eval/score for a best.pt)."""

    # Tuned values by env kind (see `preset`): a game by its name, else "game"; a gymnasium id
    # by its name without the version ("Taxi-v4" -> "Taxi"), else "gym".
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tictactoe": {},  # the field defaults
        "game": dict(
            steps=1_000_000,
            alpha=0.5,
            alpha_end=0.1,
            alpha_decay_steps=1_000_000,
            epsilon_start=1.0,
            epsilon_end=0.1,
            epsilon_decay_steps=800_000,
            discount=1.0,
            q_init=0.0,
            games=100,
            chunk=1000,
            eval_opponent="random",
            eval_games=100,
        ),
        # Taxi is deterministic: alpha 1 copies each target exactly, and starting every entry at
        # the drop-off reward (an upper bound on any return) makes the greedy agent explore.
        "Taxi": dict(
            steps=150_000,
            alpha=1.0,
            alpha_end=1.0,
            alpha_decay_steps=0,
            epsilon_start=0.05,
            epsilon_end=0.0,
            epsilon_decay_steps=100_000,
            discount=0.99,
            q_init=20.0,
            chunk=500,
            eval_episodes=100,
            trainer=dict(log_every=5_000, eval_every=25_000, checkpoint_every=25_000),
        ),
        "FrozenLake": dict(
            steps=150_000,
            alpha=0.1,
            alpha_end=0.01,
            alpha_decay_steps=150_000,
            epsilon_start=1.0,
            epsilon_end=0.05,
            epsilon_decay_steps=100_000,
            discount=0.99,
            q_init=0.0,
            chunk=500,
            eval_episodes=200,
            trainer=dict(log_every=5_000, eval_every=25_000, checkpoint_every=25_000),
        ),
        "CliffWalking": dict(
            steps=30_000,
            alpha=0.5,
            alpha_end=0.1,
            alpha_decay_steps=30_000,
            epsilon_start=1.0,
            epsilon_end=0.05,
            epsilon_decay_steps=20_000,
            discount=0.99,
            q_init=0.0,
            chunk=500,
            eval_episodes=10,
            trainer=dict(log_every=5_000, eval_every=25_000, checkpoint_every=25_000),
        ),
        "gym": dict(
            steps=100_000,
            alpha=0.1,
            alpha_end=0.01,
            alpha_decay_steps=100_000,
            epsilon_start=1.0,
            epsilon_end=0.05,
            epsilon_decay_steps=70_000,
            discount=0.99,
            q_init=0.0,
            chunk=500,
            eval_episodes=100,
            trainer=dict(log_every=5_000, eval_every=25_000, checkpoint_every=25_000),
        ),
    }

    @classmethod
    def preset(cls, source: str) -> dict[str, Any]:
        """The PRESETS row of the env's kind: a game's own row, else "game"; a gymnasium id's
        row by its name without the version, else "gym"."""
        if source in GAMES:
            row = cls.PRESETS.get(source, cls.PRESETS["game"])
        else:
            row = cls.PRESETS.get(re.sub(r"-v\d+$", "", source.split("/")[-1]), cls.PRESETS["gym"])
        return copy.deepcopy(row)

    def __post_init__(self) -> None:
        is_game = self.env in GAMES
        if is_game:
            try:
                make_game(self.env, **self.env_kwargs)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"env_kwargs {self.env_kwargs} do not fit the game '{self.env}': {exc}") from None
        else:
            check_discrete_env(self.env, self.env_kwargs)
        for key in ("alpha", "alpha_end"):
            value = getattr(self, key)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"{key} must be in (0, 1], got {value}")
        for key in ("epsilon_start", "epsilon_end", "discount"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{key} must be in [0, 1], got {value}")
        for key in ("alpha_decay_steps", "epsilon_decay_steps"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        # Only the fields this kind of env uses: config.yaml files of older runs hold 0 in the
        # others (games on Taxi, eval_episodes on tictactoe) and must still load.
        for key in ("chunk", "games", "eval_games") if is_game else ("chunk", "eval_episodes"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if is_game and self.chunk % self.games:
            raise ConfigError(
                f"chunk ({self.chunk}) must be a multiple of games ({self.games}): each ply moves in every game"
            )


def check_discrete_env(
    env_id: str, env_kwargs: dict[str, Any] | None = None
) -> tuple[spaces.Discrete, spaces.Discrete]:
    """The (observation, action) spaces of a gymnasium env, or a clear error when they are
    not both Discrete (a table needs one row per state and one column per action)."""
    try:
        env = make_env(env_id, env_kwargs)
    except UnknownNameError:
        raise unknown_name("game or gymnasium env for qlearning", env_id, [*GAMES, *gym.registry]) from None
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(obs_space, spaces.Discrete) or not isinstance(act_space, spaces.Discrete):
        from rlgen.envs.gym_games import GYM_IDS

        hint = (
            f"for self-play on this game use --env {GYM_IDS[env_id]}"
            if env_id in GYM_IDS
            else f"use dqn for Box observations with discrete actions (rlgen train dqn --env {env_id})"
            if isinstance(act_space, spaces.Discrete)
            else "continuous actions need a policy-gradient agent, not a Q-table"
        )
        raise ConfigError(
            f"Q-learning needs Discrete observation and action spaces (a table row per state, a column per action); "
            f"'{env_id}' has observation space {obs_space} and action space {act_space}: {hint}"
        )
    return obs_space, act_space


def linear_schedule(start: float, end: float, decay_steps: int, step: int) -> float:
    """`start` moving linearly to `end` over `decay_steps`, then `end` (0 steps = constant start)."""
    if decay_steps <= 0:
        return start
    return start + (end - start) * min(step / decay_steps, 1.0)


# ----------------------------------------------------------------------------- tables


class DenseTable:
    """Q[state, action] of a gym env with Discrete spaces, and which states were visited."""

    def __init__(self, states: int, actions: int, q_init: float) -> None:
        self.values = np.full((states, actions), q_init, dtype=np.float64)
        self.visited = np.zeros(states, dtype=bool)

    @property
    def size(self) -> int:
        return int(self.visited.sum())

    def state_dict(self) -> dict[str, Any]:
        return {"values": self.values.copy(), "visited": self.visited.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["values"].shape != self.values.shape:
            raise ConfigError(f"saved table has shape {state['values'].shape}, this env needs {self.values.shape}")
        self.values[...] = state["values"]
        self.visited[...] = state["visited"]


class PositionTable:
    """Q-values of game positions: a dict from the position's key (board bytes from the side
    to move) to a row of a growing float array; illegal moves hold -inf."""

    def __init__(self, key_size: int, actions: int, q_init: float, capacity: int = 4096) -> None:
        self.q_init = q_init
        self.index: dict[bytes, int] = {}
        self.keys = np.zeros((capacity, key_size), dtype=np.int8)
        self.values = np.zeros((capacity, actions), dtype=np.float64)

    @property
    def size(self) -> int:
        return len(self.index)

    def rows(self, keys: np.ndarray, legal: np.ndarray) -> np.ndarray:
        """Row of every key, adding unseen positions (q_init on legal moves, -inf elsewhere)."""
        out = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            raw = key.tobytes()
            row = self.index.get(raw)
            if row is None:
                row = self._add(key, legal[i])
            out[i] = row
        return out

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row of every key, -1 for positions never seen (nothing is added)."""
        return np.array([self.index.get(key.tobytes(), -1) for key in keys], dtype=np.int64)

    def _add(self, key: np.ndarray, legal: np.ndarray) -> int:
        row = len(self.index)
        if row == len(self.keys):  # grow geometrically so adding stays amortized O(1)
            self.keys = np.concatenate([self.keys, np.zeros_like(self.keys)])
            self.values = np.concatenate([self.values, np.zeros_like(self.values)])
        self.keys[row] = key
        self.values[row] = np.where(legal, self.q_init, -np.inf)
        self.index[key.tobytes()] = row
        return row

    def state_dict(self) -> dict[str, Any]:
        # Arrays, not a dict of bytes: the checkpoint loader only accepts tensors and plain data.
        return {"keys": self.keys[: self.size].copy(), "values": self.values[: self.size].copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys, values = state["keys"], state["values"]
        if keys.shape[1:] != self.keys.shape[1:] or values.shape[1:] != self.values.shape[1:]:
            raise ConfigError(
                f"saved table has keys {keys.shape[1:]} / values {values.shape[1:]}, this game needs "
                f"{self.keys.shape[1:]} / {self.values.shape[1:]}"
            )
        capacity = max(len(self.keys), 1 << int(np.ceil(np.log2(max(len(keys), 1)))))
        self.keys = np.zeros((capacity, keys.shape[1]), dtype=np.int8)
        self.values = np.zeros((capacity, values.shape[1]), dtype=np.float64)
        self.keys[: len(keys)], self.values[: len(values)] = keys, values
        self.index = {key.tobytes(): row for row, key in enumerate(self.keys[: len(keys)])}


def position_keys(state: GameState) -> np.ndarray:
    """int8 [B, cells]: each board from its side to move (own stones +1, opponent's -1), so
    both players share one table."""
    sign = (1 - 2 * state.to_play.astype(np.int8))[:, None]
    cells = state.board.shape[1] * state.board.shape[2]
    return (state.board.reshape(state.batch, cells) * sign).astype(np.int8)


# ----------------------------------------------------------------------------- update


def negamax_targets(rewards: np.ndarray, next_values: np.ndarray, done: np.ndarray, discount: float) -> np.ndarray:
    """The mover's reward if the game ended, else minus the opponent's best value in the next
    position (values are from the side to move, so the opponent's gain is the mover's loss)."""
    # Illegal moves hold -inf and a position still going has a legal move, so max is the best reply.
    return np.where(done, rewards, -discount * np.where(done, 0.0, next_values.max(axis=1)))


def td_update(
    values: np.ndarray, rows: np.ndarray, actions: np.ndarray, targets: np.ndarray, alpha: float
) -> np.ndarray:
    """Q[row, action] += alpha * (target - Q[row, action]) in place; returns the TD errors.

    Pairs that occur more than once in a batch (common in the first moves of parallel
    games) get one step toward their mean target instead of several stacked steps.
    """
    errors = targets - values[rows, actions]
    width = values.shape[1]
    unique, inverse, counts = np.unique(rows * width + actions, return_inverse=True, return_counts=True)
    mean_error = np.bincount(inverse.reshape(-1), weights=errors, minlength=len(unique)) / counts
    values[unique // width, unique % width] += alpha * mean_error
    return errors


def epsilon_greedy(q: np.ndarray, legal: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Per row: a uniformly random legal action with probability epsilon, else a greedy one
    (ties broken at random, so equal fresh entries do not always pick the first move)."""
    noise = rng.random(q.shape)
    masked = np.where(legal, q, -np.inf)
    best = legal & (masked == masked.max(axis=1, keepdims=True))
    greedy = (noise * best).argmax(axis=1)
    explore = rng.random(len(q)) < epsilon
    random_legal = (rng.random(q.shape) * legal).argmax(axis=1)
    return np.where(explore, random_legal, greedy)


# ----------------------------------------------------------------------------- agents


@dataclass
class GreedyChoice:
    """A table agent's move in the form `rlgen play` reads: one-hot 'visits' and a value."""

    visits: np.ndarray
    value: np.ndarray

    def best_actions(self) -> np.ndarray:
        return self.visits.argmax(axis=1)


class TableGameAgent(GameAgent):
    """Greedy play from a position table. `act(observation, action_mask)` takes PettingZoo
    classic observations ((H, W, 2) planes from the side to move, own stones in plane 0)."""

    name = "qlearning"

    def __init__(self, game: Game, table: PositionTable) -> None:
        self.game, self.table = game, table
        self.last_value: float | None = None

    def q_values(self, state: GameState) -> np.ndarray:
        """float [B, A] from the side to move; unseen positions get q_init, illegal moves -inf."""
        legal = self.game.legal_mask(state)
        rows = self.table.lookup(position_keys(state))
        q = np.where(legal, self.table.q_init, -np.inf)
        seen = rows >= 0
        q[seen] = np.where(legal[seen], self.table.values[rows[seen]], -np.inf)
        return q

    def search(self, state: GameState) -> GreedyChoice:
        q = self.q_values(state)
        best = q.argmax(axis=1)
        visits = np.zeros_like(q, dtype=np.float32)
        visits[np.arange(len(q)), best] = 1.0
        return GreedyChoice(visits, np.clip(q.max(axis=1), -1.0, 1.0).astype(np.float32))

    def act_states(self, state: GameState) -> np.ndarray:
        """The greedy move of every position of a batch (ties: the lowest action)."""
        result = self.search(state)
        self.last_value = float(result.value[0])
        return result.best_actions()


# ----------------------------------------------------------------------------- algorithm


class QLearning(Algorithm):
    """Epsilon-greedy tabular Q-learning; negamax self-play on the board games."""

    name = "qlearning"
    Config = QLearningConfig
    unit = "env steps (self-play moves on games)"
    input_kind = "env"
    description = "tabular Q-learning: Discrete gymnasium envs, or board games by negamax self-play"
    default_monitor = ""

    def __init__(self, config: QLearningConfig, trainer: Any) -> None:
        super().__init__(config, trainer)
        self.rng = np.random.default_rng(config.seed)
        self.is_game = config.env in GAMES
        self.steps_per_call = config.chunk
        self.episodes = 0
        if self.is_game:
            self.game = make_game(config.env, **config.env_kwargs)
            self.table: PositionTable | DenseTable = PositionTable(
                self.game.height * self.game.width, self.game.num_actions, config.q_init
            )
            self.state = self.game.initial(config.games)
            self.rows: np.ndarray | None = None  # table rows of `state`, rebuilt after a load
        else:
            obs_space, act_space = check_discrete_env(config.env, config.env_kwargs)
            self.obs_start, self.act_start = int(obs_space.start), int(act_space.start)
            self.table = DenseTable(int(obs_space.n), int(act_space.n), config.q_init)
            self.env = make_env(config.env, config.env_kwargs)
            obs, _ = self.env.reset(seed=config.seed)
            self.obs = int(obs) - self.obs_start
            self.episode_return, self.episode_length = 0.0, 0
        # for_eval: `rlgen eval` and load_agent act with the table, so it loads with the weights.
        trainer.register_state("table", self.table, for_eval=True)

    def schedules(self, step: int) -> tuple[float, float]:
        """(epsilon, alpha) after `step` env steps / moves."""
        cfg = self.config
        return (
            linear_schedule(cfg.epsilon_start, cfg.epsilon_end, cfg.epsilon_decay_steps, step),
            linear_schedule(cfg.alpha, cfg.alpha_end, cfg.alpha_decay_steps, step),
        )

    def train_step(self) -> dict[str, float]:
        metrics = self.self_play() if self.is_game else self.interact()
        epsilon, alpha = self.schedules(self.trainer.step)
        metrics.update({"charts/epsilon": epsilon, "charts/alpha": alpha, "charts/table_size": float(self.table.size)})
        return metrics

    # -- gym envs

    def interact(self) -> dict[str, float]:
        """`chunk` env steps, each updating Q(s, a) toward r + discount * max_a' Q(s', a')
        (no bootstrap past termination; a time-limit truncation does bootstrap). Scalar code:
        numpy calls on one-row arrays would cost more than the env step."""
        cfg, table = self.config, self.table
        assert isinstance(table, DenseTable)
        values, actions = table.values, table.values.shape[1]
        errors = np.empty(cfg.chunk)
        returns, lengths = [], []
        for i in range(cfg.chunk):
            epsilon, alpha = self.schedules(self.trainer.step + i)
            s = self.obs
            table.visited[s] = True
            if self.rng.random() < epsilon:
                a = int(self.rng.integers(actions))
            else:
                best = np.flatnonzero(values[s] == values[s].max())
                a = int(best[0] if len(best) == 1 else best[self.rng.integers(len(best))])
            obs, reward, terminated, truncated, _ = self.env.step(a + self.act_start)
            s_next = int(obs) - self.obs_start
            target = float(reward) + (0.0 if terminated else cfg.discount * values[s_next].max())
            errors[i] = target - values[s, a]
            values[s, a] += alpha * errors[i]
            self.episode_return += float(reward)
            self.episode_length += 1
            if terminated or truncated:
                returns.append(self.episode_return)
                lengths.append(self.episode_length)
                self.episodes += 1
                obs, _ = self.env.reset()
                s_next = int(obs) - self.obs_start
                self.episode_return, self.episode_length = 0.0, 0
            self.obs = s_next
        metrics = {"losses/td_error": float(np.abs(errors).mean()), "charts/episodes": float(self.episodes)}
        if returns:
            metrics.update(
                {"charts/episode_return": float(np.mean(returns)), "charts/episode_length": float(np.mean(lengths))}
            )
        return metrics

    # -- games

    def self_play(self) -> dict[str, float]:
        """`chunk // games` plies of every parallel game, one negamax update per move;
        finished games start again at once."""
        cfg, game, table = self.config, self.game, self.table
        assert isinstance(table, PositionTable)
        batch = np.arange(cfg.games)
        if self.rows is None:
            self.rows = table.rows(position_keys(self.state), game.legal_mask(self.state))
        errors, winners, lengths = [], [], []
        for ply in range(cfg.chunk // cfg.games):
            epsilon, alpha = self.schedules(self.trainer.step + ply * cfg.games)
            state, rows = self.state, self.rows
            legal = game.legal_mask(state)
            actions = epsilon_greedy(table.values[rows], legal, epsilon, self.rng)
            after = game.step(state, actions)
            rewards = game.returns(after)[batch, state.to_play]
            going = np.flatnonzero(~after.done)
            next_rows = np.full(cfg.games, -1, dtype=np.int64)
            next_values = np.zeros((cfg.games, game.num_actions))
            if len(going):
                sub = after.take(going)
                next_rows[going] = table.rows(position_keys(sub), game.legal_mask(sub))
                next_values[going] = table.values[next_rows[going]]
            targets = negamax_targets(rewards, next_values, after.done, cfg.discount)
            errors.append(td_update(table.values, rows, actions, targets, alpha))
            ended = np.flatnonzero(after.done)
            if len(ended):
                winners.append(after.winner[ended].copy())
                lengths.append(after.moves[ended].copy())
                fresh = game.initial(len(ended))
                after.put(ended, fresh)
                next_rows[ended] = table.rows(position_keys(fresh), game.legal_mask(fresh))
            self.state, self.rows = after, next_rows
        metrics = {"losses/td_error": float(np.abs(np.concatenate(errors)).mean())}
        if winners:
            won = np.concatenate(winners)
            self.episodes += len(won)
            metrics.update(
                {
                    "selfplay/first_player_wins": float((won == 0).mean()),
                    "selfplay/draws": float((won < 0).mean()),
                    "selfplay/game_length": float(np.concatenate(lengths).mean()),
                }
            )
        metrics["charts/games_played"] = float(self.episodes)
        return metrics

    # -- evaluation

    def agent(self, simulations: int | None = None) -> TableGameAgent | Agent:
        """The greedy agent of the current table (`simulations` is unused: there is no search)."""
        if self.is_game:
            assert isinstance(self.table, PositionTable)
            return TableGameAgent(self.game, self.table)
        values, start = self.table.values, self.obs_start
        return Agent(lambda obs: values[np.asarray(obs, dtype=np.int64).reshape(-1) - start], self.env.action_space)

    def _eval_rng(self) -> np.random.Generator:
        # Its own generator, so evaluating (at the end of a shorter run, say) never shifts training.
        return np.random.default_rng([self.config.seed, self.trainer.step, 1])

    def match(self, opponent: str, games: int) -> dict[str, Any]:
        rng = self._eval_rng()
        opp = resolve_opponent(opponent, self.game, int(rng.integers(2**31)))
        return play_match(self.game, self.agent().as_opponent(), opp, games, rng)

    def episodes_report(self, episodes: int) -> dict[str, float]:
        agent = self.agent()
        seed = int(self._eval_rng().integers(2**31))
        return evaluate_episodes(self.config.env, agent.act, episodes, seed, self.config.env_kwargs)

    def evaluate(self) -> dict[str, float]:
        cfg = self.config
        if not self.is_game:
            return {f"eval/{k}": v for k, v in self.episodes_report(cfg.eval_episodes).items()}
        result = self.match(cfg.eval_opponent, cfg.eval_games)
        total, games = result["total"], cfg.eval_games
        return {
            "eval/score": result["score"],
            "eval/win_rate": total["wins"] / games,
            "eval/draw_rate": total["draws"] / games,
            "eval/loss_rate": total["losses"] / games,
            "eval/losses_first": float(result["first"]["losses"]),
            "eval/losses_second": float(result["second"]["losses"]),
        }

    def report(
        self, opponent: str | None = None, games: int | None = None, episodes: int | None = None, **_: Any
    ) -> dict[str, Any]:
        """`rlgen eval`: a match (--opponent, --games) on a game, greedy episodes (--episodes) on a gym env."""
        cfg = self.config
        if not self.is_game:
            if opponent is not None or games is not None:
                raise ConfigError(
                    f"'{cfg.env}' is a single-agent env: evaluate it with --episodes N, not --opponent / --games"
                )
            episodes = episodes or cfg.eval_episodes
            return {"env": cfg.env, **self.episodes_report(episodes)}
        if episodes is not None:
            raise ConfigError(f"'{cfg.env}' is a game: evaluate it with --opponent NAME --games N, not --episodes")
        opponent = opponent or cfg.eval_opponent
        games = games or max(cfg.eval_games, 2)
        result = self.match(opponent, games)
        return {
            "opponent": opponent,
            "games": games,
            "score": result["score"],
            "elo_vs_opponent": elo_difference(result["score"], games),
            "as_first": result["first"],
            "as_second": result["second"],
            "total": result["total"],
        }

    # -- checkpoint (the table is registered with the Trainer; this is the rest)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"rng": self.rng.bit_generator.state, "episodes": self.episodes}
        if self.is_game:
            state["games"] = {
                "board": self.state.board,
                "to_play": self.state.to_play,
                "done": self.state.done,
                "winner": self.state.winner,
                "moves": self.state.moves,
                "passes": self.state.passes,
            }
        else:
            state.update(
                obs=self.obs,
                episode_return=self.episode_return,
                episode_length=self.episode_length,
                env=env_state(self.env),
            )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.rng.bit_generator.state = state["rng"]
        self.episodes = int(state["episodes"])
        if self.is_game:
            self.state = GameState(**{k: np.array(v) for k, v in state["games"].items()})
            self.rows = None
        else:
            self.obs = int(state["obs"])
            self.episode_return, self.episode_length = float(state["episode_return"]), int(state["episode_length"])
            set_env_state(self.env, state["env"])


def env_state(env: gym.Env) -> dict[str, Any]:
    """What a toy-text env needs to continue its episode exactly: the scalar attributes of
    every wrapper layer (position, last action, time-limit count) and the env's RNG. Arrays
    and objects are not saved (no pickles in checkpoints): an env that keeps its state in
    them resumes with only these restored."""
    layers, layer = [], env
    while True:
        layers.append(
            {
                k: v
                for k, v in vars(layer).items()
                if isinstance(v, (bool, int, float, np.integer, np.floating)) and not k.startswith("_np_random")
            }
        )
        if not isinstance(layer, gym.Wrapper):
            break
        layer = layer.env
    rng = env.unwrapped.np_random
    return {"layers": layers, "rng": rng.bit_generator.state}


def set_env_state(env: gym.Env, state: dict[str, Any]) -> None:
    """Restore what `env_state` saved into a freshly made env of the same id."""
    layer = env
    for attributes in state["layers"]:
        for key, value in attributes.items():
            setattr(layer, key, value)
        if not isinstance(layer, gym.Wrapper):
            break
        layer = layer.env
    env.unwrapped.np_random.bit_generator.state = state["rng"]
