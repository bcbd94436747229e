"""What the gymnasium agents (DQN, PPO, A2C, REINFORCE, the SB3 wrappers) share, written once:

- `GymEnvConfig`: the env section of their configs (env id, env kwargs, vector envs, evaluation episodes);
- envs by id with clear errors, vector envs, flat observation encoding, legal-action masks;
- `EpisodeStats`: training-episode returns and lengths, checkpointed, with the resume notice;
- env state as plain data (`env_state` / `restore_env_state`), for exact resume without pickles;
- greedy evaluation: `evaluate_episodes`, the `greedy_report` behind `rlgen eval`, `masked_argmax`
  and the acting `Agent` that `load_agent` returns.

Vector envs reset a finished sub-env in the same step (gymnasium's SAME_STEP autoreset,
the convention of SB3's VecEnv): the returned observation already starts the next
episode and the last one's final observation is in `info["final_obs"]`.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlgen.config import RunConfig
from rlgen.errors import ConfigError, unknown_name

GAME_ENV_PREFIX = "rlgen/"


EVAL_SEED = 10_000
"""Seed offset of the periodic evaluation's episodes (the same episodes at every evaluation)."""
REPORT_SEED = 20_000
"""Seed offset of the final report and `rlgen eval`: other episodes than those that chose best.pt."""
REPORT_EPISODES = 20
"""Fewest episodes `rlgen eval` plays when not told how many."""


@dataclass
class GymEnvConfig(RunConfig):
    """The env section every gymnasium agent's config starts with. `--steps` counts env steps."""

    env: str = "CartPole-v1"
    """gymnasium env id (rlgen/... ids included), e.g. CartPole-v1, InvertedPendulum-v5, rlgen/Connect4-v0."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of gymnasium.make, e.g. --set env_kwargs.opponent=alphabeta:2 on the game envs."""
    num_envs: int = 1
    """Envs stepped together (vector envs that reset a sub-env in the step it finishes)."""
    eval_episodes: int = 10
    """Greedy episodes per periodic evaluation (games on game envs; sides alternate)."""

    ALIASES: ClassVar[dict[str, str]] = {
        "n_envs": "num_envs",
        "n_eval_episodes": "eval_episodes",
        "total_timesteps": "steps",
        "n_timesteps": "steps",
    }

    def __post_init__(self) -> None:
        for key in ("num_envs", "eval_episodes"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")


def check_replay_settings(config: Any, positive: tuple[str, ...] = ()) -> None:
    """The checks every replay learner's config needs (DQN, SAC, TD3): buffer, batch and
    `positive` counts >= 1, learning_starts >= 0, gradient_steps, gamma and tau in range."""
    for key in ("buffer_size", "batch_size", "train_freq", *positive):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key} must be >= 1, got {getattr(config, key)}")
    if config.learning_starts < 0:
        raise ConfigError(f"learning_starts must be >= 0, got {config.learning_starts}")
    if not (config.gradient_steps >= 1 or config.gradient_steps == -1):
        raise ConfigError(
            f"gradient_steps must be >= 1, or -1 for as many as env steps collected, got {config.gradient_steps}"
        )
    if not 0.0 <= config.gamma <= 1.0:
        raise ConfigError(f"gamma must be in [0, 1], got {config.gamma}")
    if not 0.0 < config.tau <= 1.0:
        raise ConfigError(f"tau must be in (0, 1] (1 = hard target copies), got {config.tau}")
    if config.buffer_size < config.batch_size:
        raise ConfigError(f"buffer_size ({config.buffer_size}) must hold at least one batch ({config.batch_size})")


def _registered(env_id: str) -> bool:
    import rlgen.envs  # noqa: F401  (registers the rlgen/... ids)

    if env_id in gym.registry:
        return True
    if "Fetch" in env_id:  # Fetch tasks register when gymnasium-robotics is imported
        try:
            import gymnasium_robotics

            gym.register_envs(gymnasium_robotics)
        except ImportError:
            from rlgen.extras import require

            require("gymnasium_robotics", "robotics", f"the env '{env_id}'")
    return env_id in gym.registry


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None, render_mode: str | None = None) -> gym.Env:
    """`gymnasium.make(env_id, **env_kwargs)` with clear errors for unknown ids and kwargs."""
    if not _registered(env_id):
        raise unknown_name("gymnasium environment", env_id, list(gym.registry))
    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        from rlgen.envs.robotics import headless_rendering

        headless_rendering()
        kwargs["render_mode"] = render_mode
    try:
        return gym.make(env_id, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"env_kwargs {kwargs} do not fit '{env_id}': {exc}") from exc
    except gym.error.DependencyNotInstalled as exc:
        raise ConfigError(
            f"'{env_id}' needs a missing package: {exc} (pip install \"rlgen[robotics]\" for MuJoCo)"
        ) from exc


def make_vec_env(
    env_id: str, num_envs: int, env_kwargs: dict[str, Any] | None = None, seed: int | None = None
) -> gym.vector.VectorEnv:
    """`num_envs` copies of the env stepped together, reset in the same step they finish:
    natively vectorized where `rlgen.envs.vector` has the env (CartPole, 5 or more copies),
    else SyncVectorEnv. `seed` seeds every action and observation space in it."""
    from rlgen.envs.vector import native_vector_env

    if num_envs < 1:
        raise ConfigError(f"num_envs must be >= 1, got {num_envs}")
    make_env(env_id, env_kwargs).close()  # fail here, with the clear error, not inside a worker
    vec = native_vector_env(env_id, num_envs, env_kwargs)
    if vec is None:

        def thunk() -> gym.Env:
            return make_env(env_id, env_kwargs)

        vec = gym.vector.SyncVectorEnv([thunk] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    if seed is not None:
        seed_spaces(vec, seed)
    return vec


def seed_spaces(vec: gym.vector.VectorEnv, seed: int) -> None:
    """Seed the spaces' generators of `vec` and of each env in it: gymnasium otherwise draws
    one from OS entropy the first time a space is touched (batching the first env's spaces
    does), which leaves a generator in the env's state that no seed or resume reproduces."""
    found: dict[int, spaces.Space] = {}
    for holder in (vec, *getattr(vec, "envs", ())):
        for name in ("action_space", "observation_space", "single_action_space", "single_observation_space"):
            space = getattr(holder, name, None)
            if isinstance(space, spaces.Space):
                found.setdefault(id(space), space)
    for offset, space in enumerate(found.values()):
        space.seed(seed + offset)


def obs_size(space: spaces.Space) -> int:
    """Length of the flat float vector `encode_obs` makes from one observation of `space`."""
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    raise ConfigError(
        f"observation space {space} is not supported; use a Discrete or Box space "
        "(flatten dicts with gymnasium.wrappers.FlattenObservation)"
    )


def encode_obs(space: spaces.Space, obs: Any) -> np.ndarray:
    """float32 [B, obs_size] from a batch of observations: one-hot for Discrete, flattened Box."""
    if isinstance(space, spaces.Discrete):
        idx = np.asarray(obs, dtype=np.int64).reshape(-1) - int(space.start)
        return np.eye(int(space.n), dtype=np.float32)[idx]
    arr = np.asarray(obs, dtype=np.float32)
    return arr.reshape(arr.shape[0], -1) if arr.ndim > len(space.shape) else arr.reshape(1, -1)


def is_game_env(env_id: str) -> bool:
    """True for the rlgen board-game envs (legal-move masks, win / draw / loss outcomes)."""
    from rlgen.envs.gym_games import GYM_IDS

    return env_id in GYM_IDS


def vec_action_masks(envs: gym.vector.VectorEnv) -> np.ndarray | None:
    """bool [num_envs, A] legal-action masks of envs that define `action_masks()`, else None."""
    if not has_action_masks(envs):
        return None
    return np.stack([env.unwrapped.action_masks() for env in envs.envs])


def has_action_masks(envs: gym.vector.VectorEnv) -> bool:
    """Whether the sub-envs of `envs` define `action_masks()` (the rlgen game envs do)."""
    subs = getattr(envs, "envs", None)
    return bool(subs) and hasattr(subs[0].unwrapped, "action_masks")


def final_observations(next_obs: np.ndarray, done: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """The true next observation of each sub-env: the final one where an episode ended."""
    out = np.array(next_obs, copy=True)
    if done.any() and "final_obs" in info:
        for i in np.flatnonzero(done):
            out[i] = info["final_obs"][i]
    return out


def evaluate_episodes(
    env_id: str,
    act: Callable[[np.ndarray, np.ndarray | None], Any],
    episodes: int,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Play `episodes` episodes with `act(observation, action_mask)`; mean / std return and
    length, plus win / draw / loss rates and the score (win 1, draw 1/2) on game envs and
    the success rate on goal envs (info["is_success"] at the episode's last step)."""
    env = make_env(env_id, env_kwargs)
    returns, lengths, outcomes, successes = [], [], [], []
    try:
        for episode in range(episodes):
            obs, info = env.reset(seed=seed if episode == 0 else None)
            total, length, done = 0.0, 0, False
            while not done:
                mask = info.get("action_mask")
                obs, reward, terminated, truncated, info = env.step(act(obs, mask))
                total += float(reward)
                length += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(length)
            if "outcome" in info:
                outcomes.append(info["outcome"])
            if "is_success" in info:  # goal envs (Fetch): whether the last step reached the goal
                successes.append(float(info["is_success"]))
    finally:
        env.close()
    result = {
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "length_mean": float(np.mean(lengths)),
        "episodes": float(episodes),
    }
    if successes:
        result["success_rate"] = float(np.mean(successes))
    if outcomes:
        n = len(outcomes)
        wins, draws, losses = (outcomes.count(k) / n for k in ("win", "draw", "loss"))
        result.update(win_rate=wins, draw_rate=draws, loss_rate=losses, score=wins + 0.5 * draws)
    return result


def greedy_report(
    env_id: str,
    env_kwargs: dict[str, Any],
    act: Callable[[np.ndarray, np.ndarray | None], Any],
    seed: int,
    default_episodes: int,
    episodes: int | None = None,
    games: int | None = None,
    opponent: str | None = None,
) -> dict[str, Any]:
    """`rlgen eval` of a gym agent: `--episodes N` (or `--games N`; default: the larger of
    `default_episodes` and REPORT_EPISODES) greedy episodes from `seed + REPORT_SEED`; on the
    game envs `--opponent NAME` replaces the training opponent."""
    env_kwargs = dict(env_kwargs)
    out: dict[str, Any] = {"env": env_id}
    if opponent is not None:
        if not is_game_env(env_id):
            raise ConfigError(
                f"--opponent applies to the game envs (rlgen/Connect4-v0, ...); '{env_id}' has no opponent"
            )
        env_kwargs["opponent"] = opponent
    count = episodes or games or max(default_episodes, REPORT_EPISODES)
    if count < 1:
        raise ConfigError(f"the number of episodes must be >= 1, got {count}")
    out["episodes"] = count
    if is_game_env(env_id):
        probe = make_env(env_id, env_kwargs)
        out["opponent"] = str(probe.unwrapped.opponent_spec)
        probe.close()
    result = evaluate_episodes(env_id, act, count, seed + REPORT_SEED, env_kwargs)
    out.update({k: v for k, v in result.items() if k != "episodes"})
    return out


class GreedyEvaluation:
    """`evaluate` and `report` of a gym agent, written once: greedy episodes of `self.agent()`
    on the config's env (`env`, `env_kwargs`, `eval_episodes`, `seed`), periodic ones from
    `seed + EVAL_SEED`, `rlgen eval`'s through `greedy_report`. Mixed in before `Algorithm`."""

    config: Any
    agent: Callable[..., Agent]  # the algorithm's `Algorithm.agent` hook

    def evaluate(self) -> dict[str, float]:
        cfg = self.config
        if cfg.eval_episodes == 0:  # SB3 runs may turn periodic evaluation off
            return {}
        result = evaluate_episodes(cfg.env, self.agent().act, cfg.eval_episodes, cfg.seed + EVAL_SEED, cfg.env_kwargs)
        return {f"eval/{k}": v for k, v in result.items() if k != "episodes"}

    def report(
        self, episodes: int | None = None, games: int | None = None, opponent: str | None = None, **_: Any
    ) -> dict[str, Any]:
        """Greedy episodes for `rlgen eval` (`--episodes N`; game envs: `--games N --opponent NAME`)."""
        cfg = self.config
        return greedy_report(
            cfg.env, cfg.env_kwargs, self.agent().act, cfg.seed, cfg.eval_episodes, episodes, games, opponent
        )


class EpisodeStats:
    """Returns and lengths of the training episodes of `num_envs` vector envs: running sums
    per env and the last `window` finished episodes, logged as `charts/episode_return` and
    `charts/episode_length` (means over the window, as SB3's `rollout/ep_rew_mean`)."""

    def __init__(self, num_envs: int, window: int = 100) -> None:
        self.returns = np.zeros(num_envs)
        self.lengths = np.zeros(num_envs, np.int64)
        self.recent_returns: deque[float] = deque(maxlen=window)
        self.recent_lengths: deque[int] = deque(maxlen=window)
        self.episodes = 0

    def track(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        """Add one vector step's rewards; `dones` ends those envs' episodes."""
        self.returns += rewards
        self.lengths += 1
        if not dones.any():
            return
        for i in np.flatnonzero(dones):
            self.recent_returns.append(float(self.returns[i]))
            self.recent_lengths.append(int(self.lengths[i]))
            self.episodes += 1
        self.returns[dones] = 0.0
        self.lengths[dones] = 0

    def metrics(self) -> dict[str, float]:
        out = {"charts/episodes": float(self.episodes)}
        if self.recent_returns:
            out["charts/episode_return"] = float(np.mean(self.recent_returns))
            out["charts/episode_length"] = float(np.mean(self.recent_lengths))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "returns": self.returns.copy(),
            "lengths": self.lengths.copy(),
            "recent_returns": np.array(self.recent_returns, np.float64),
            "recent_lengths": np.array(self.recent_lengths, np.int64),
            "episodes": self.episodes,
        }

    def load_state_dict(self, state: dict[str, Any], in_progress: bool = True) -> None:
        """Restore the statistics; the running sums only with `in_progress` (the envs' own
        episodes were restored too)."""
        self.recent_returns.clear()
        self.recent_returns.extend(float(r) for r in state["recent_returns"])
        self.recent_lengths.clear()
        self.recent_lengths.extend(int(n) for n in state["recent_lengths"])
        self.episodes = int(state["episodes"])
        if in_progress:
            self.returns[:] = state["returns"]
            self.lengths[:] = state["lengths"]


# ----------------------------------------------------------------------------- env state for exact resume

_SKIPPED = {"__skipped__": True}


class _Snapshot:
    """Walks an env (through wrappers and vector envs) and copies its state as plain data:
    numpy arrays, Python scalars, numpy generators' states, nested in lists, dicts and
    object attributes. Functions and classes are code, not state, and are left out; any
    other value (e.g. a C extension object) makes the snapshot inexact."""

    def __init__(self) -> None:
        self.exact = True
        self.seen: set[int] = set()

    def take(self, value: Any) -> Any:
        if isinstance(value, (bool, int, float, str, bytes, type(None))):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
            return value.copy()
        if isinstance(value, np.ndarray) and value.dtype.kind in "SU":  # e.g. FrozenLake's map
            return {"__text__": value.tolist(), "dtype": value.dtype.str}
        if isinstance(value, np.random.Generator):
            return {"__rng__": value.bit_generator.state}
        if (
            isinstance(value, (type, np.dtype))
            or inspect.isroutine(value)
            or inspect.ismodule(value)
            or id(value) in self.seen
        ):
            return _SKIPPED
        self.seen.add(id(value))
        if isinstance(value, (list, tuple)):
            return [self.take(v) for v in value]
        if isinstance(value, dict) and all(isinstance(k, (str, int)) for k in value):
            return {"__dict__": {k: self.take(v) for k, v in value.items()}}
        if hasattr(value, "__dict__") and not isinstance(value, dict):
            return {"__obj__": {k: self.take(v) for k, v in vars(value).items()}}
        self.exact = False
        return _SKIPPED


def env_state(envs: Any) -> dict[str, Any]:
    """Plain-data state of `envs` (see _Snapshot); 'exact' says whether all of it was captured."""
    snapshot = _Snapshot()
    state = snapshot.take(envs)
    return {"state": state, "exact": snapshot.exact}


def resume_envs(envs: Any, saved: dict[str, Any], env_id: str, say: Callable[[str], None]) -> bool:
    """Put `envs` back in the state `env_state` saved when it was captured exactly (True);
    otherwise say that the run goes on from new episodes (False: the caller resets them)."""
    if saved["exact"]:
        restore_env_state(envs, saved["state"])
        return True
    say(f"note: the state of '{env_id}' cannot be saved exactly; resuming from new episodes")
    return False


def restore_env_state(target: Any, state: Any) -> Any:
    """Write a snapshot back into a freshly made object of the same structure."""
    if isinstance(state, dict):
        if "__skipped__" in state:
            return target
        if "__text__" in state:
            return np.array(state["__text__"], dtype=state["dtype"])
        if "__rng__" in state:
            target.bit_generator.state = state["__rng__"]
            return target
        if "__obj__" in state:
            for key, value in state["__obj__"].items():
                setattr(target, key, restore_env_state(getattr(target, key, None), value))
            return target
        if "__dict__" in state:
            out = target if isinstance(target, dict) else {}
            for key, value in state["__dict__"].items():
                out[key] = restore_env_state(out.get(key), value)
            return out
    if isinstance(state, list):
        same = isinstance(target, (list, tuple)) and len(target) == len(state)
        items = [restore_env_state(target[i] if same else None, v) for i, v in enumerate(state)]
        if isinstance(target, list):
            target[:] = items
            return target
        return tuple(items) if isinstance(target, tuple) else items
    if isinstance(state, np.ndarray):
        return state.copy()
    return state


def masked_argmax(scores: np.ndarray, action_mask: np.ndarray | None = None, what: str = "action") -> int:
    """Index of the highest score among the legal actions (the first on ties, as numpy's
    argmax); a legal action whose score is -inf still beats the illegal ones."""
    if action_mask is None:
        return int(np.argmax(scores))
    mask = np.asarray(action_mask).astype(bool)
    if mask.shape != np.shape(scores):
        raise ValueError(f"action_mask has shape {mask.shape}; this agent has {np.shape(scores)[0]} {what}s")
    if not mask.any():
        raise ValueError(f"action_mask allows no {what}")
    masked = np.where(mask, scores, -np.inf)
    if np.isneginf(masked).all():  # every legal score is -inf: take the first legal action
        return int(mask.argmax())
    return int(masked.argmax())


class Agent:
    """A trained policy acting greedily: `act(observation, action_mask=None) -> action`.

    `scores(batch_of_observations)` returns per-action scores (Q-values or logits) for
    discrete actions, or the action itself for continuous ones. A PettingZoo classic
    observation `{"observation": planes, "action_mask": mask}` is accepted as is.
    """

    def __init__(self, scores: Callable[[np.ndarray], np.ndarray], action_space: spaces.Space) -> None:
        self.scores = scores
        self.action_space = action_space

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> Any:
        if isinstance(observation, dict) and "observation" in observation:
            if action_mask is None:
                action_mask = observation.get("action_mask")
            observation = observation["observation"]
        out = np.asarray(self.scores(np.asarray(observation, dtype=np.float32)[None]))[0]
        if isinstance(self.action_space, spaces.Discrete):
            return masked_argmax(out, action_mask)
        low, high = self.action_space.low, self.action_space.high
        return np.clip(out, low, high).astype(self.action_space.dtype)
