"""Stable-Baselines3 algorithms inside rlgen's Trainer, Tracker and run directory.

    rlgen train sb3:PPO|sb3:A2C|sb3:DQN|sb3:SAC|sb3:TD3|sb3:MaskablePPO --env ID
        [--set algo_kwargs.learning_rate=3e-4] [--set env_kwargs.opponent=random]

`--steps` counts env steps (summed over the `n_envs` copies). The env is built by id
with `rlgen.agents.gym_support.make_env` (any gymnasium id, rlgen's own included) and
vectorized with SB3's `make_vec_env` / `DummyVecEnv`. Each Trainer step runs
`model.learn(chunk, reset_num_timesteps=False)`: one rollout and update for on-policy
algorithms, `chunk` env steps for off-policy ones. SB3's logger values come back through
a `KVWriter` as the step's metrics, renamed into rlgen's groups (`rollout/ep_rew_mean`
-> `charts/episode_return`, `train/value_loss` -> `losses/value_loss`, ...). Periodic
evaluation plays greedy episodes (`eval/return_mean`, plus `eval/score` and win / draw /
loss rates on the rlgen game envs). Learning-rate, clip-range and exploration schedules
follow the whole run (`--steps`), not one `learn` call.

Checkpoints go through the Trainer: the SB3 model's `model.save` zip (weights, optimizer
states, `num_timesteps`, update and episode counters, exploration rate) is the state of a
module registered with the Trainer, so `rlgen resume`, `rlgen eval` and `load_agent`
all read it; the algorithm's own state adds the replay buffer (off-policy) and the recent
episode statistics. The zip is loaded without unpickling anything from it: the pickled
entries (spaces, schedules, policy class) are rebuilt from the run's config.

What resume restores exactly: weights, optimizer states, timesteps and update counters,
the exploration rate, the replay buffer, schedules, the global RNG states. What it does
not: the envs' internal state and the episodes in progress (the envs are reset, seeded
with `seed + num_timesteps`), an on-policy rollout in progress (a checkpoint falls between
chunks, so there is none) and action-noise state; so a resumed run continues the same
training but is not bitwise identical to one never stopped.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import math
import re
import zipfile
from collections import deque
from dataclasses import dataclass, field, make_dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv
from torch import nn

from rlgen.agents.gym_support import GreedyEvaluation, make_env
from rlgen.algorithm import Algorithm
from rlgen.config import RunConfig, TrainerConfig
from rlgen.errors import CheckpointError, ConfigError, MissingExtraError, closest, unknown_name

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

SB3_ALGOS: dict[str, str] = {
    "PPO": "stable_baselines3",
    "A2C": "stable_baselines3",
    "DQN": "stable_baselines3",
    "SAC": "stable_baselines3",
    "TD3": "stable_baselines3",
    "MaskablePPO": "sb3_contrib",
}
"""SB3 algorithm class name -> the package that defines it."""

# Constructor arguments rlgen sets itself, and the config field to use instead.
RESERVED_KWARGS = {
    "policy": "the `policy` field",
    "env": "--env and `env_kwargs`",
    "seed": "--seed",
    "device": "--device",
    "verbose": "nothing (rlgen logs through its Tracker)",
    "tensorboard_log": "nothing (rlgen logs to metrics.jsonl and W&B)",
    "_init_setup_model": "nothing",
}
HER_ALGOS = ("SAC", "TD3", "DQN")
"""SB3 algorithms that take a replay_buffer_class (HerReplayBuffer with her=true)."""
OFF_POLICY_CHUNK = 1000
"""Default env steps per `learn` call for off-policy algorithms (rounded to whole train_freq)."""

# ----------------------------------------------------------------------------- config


@dataclass
class SB3Config(RunConfig):
    """A stable-baselines3 algorithm on a gymnasium / rlgen env. `--steps` counts env steps."""

    sb3_algo: ClassVar[str] = ""
    """SB3 class name; set by each registered algorithm's config."""

    env: str = "CartPole-v1"
    """Environment id: any gymnasium id or rlgen's (rlgen/Connect4-v0, ...)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the env, e.g. env_kwargs.opponent=random for the rlgen games."""
    n_envs: int = 1
    """Env copies stepped together in SB3's DummyVecEnv."""
    policy: str = "MlpPolicy"
    """SB3 policy name: MlpPolicy, CnnPolicy or MultiInputPolicy."""
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    """Arguments of the SB3 constructor, e.g. algo_kwargs.learning_rate=3e-4,
    algo_kwargs.policy_kwargs.net_arch=[64,64]. Extras: 'lin_X' for a learning rate or clip
    range decaying linearly from X to 0 over the run; activation_fn by name (tanh, relu, ...);
    action_noise 'normal:SIGMA' or 'ou:SIGMA'."""
    chunk: int = 0
    """Env steps per Trainer step (one `learn` call); 0 = one rollout (on-policy) or ~1000
    steps (off-policy). Must be a whole number of rollouts / train_freq periods."""
    eval_episodes: int = 10
    """Greedy episodes per periodic evaluation (0 = no evaluation)."""
    her: bool = False
    """Off-policy algorithms on goal envs (Fetch): SB3's HerReplayBuffer with the `future`
    strategy; the policy becomes MultiInputPolicy unless set."""
    n_sampled_goal: int = 4
    """HER: relabelled goals per real one."""
    random_action_prob: float = 0.0
    """SAC and TD3: the share of actions after learning_starts that are uniformly random
    instead of the policy's (as rlgen's SAC / TD3 `random_action_prob`)."""
    steps: int = 100_000
    """Env steps (over all n_envs copies); rounded up to whole chunks."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(log_every=1, eval_every=10_000, checkpoint_every=10_000)
    )
    """Trainer plumbing: log / eval / checkpoint intervals in env steps (precision and
    compile do not apply: SB3 runs its own forward and backward passes)."""

    ALIASES: ClassVar[dict[str, str]] = {
        "learning_rate": "algo_kwargs.learning_rate",
        "net_arch": "algo_kwargs.policy_kwargs.net_arch",
        "activation_fn": "algo_kwargs.policy_kwargs.activation_fn",
        "n_eval_episodes": "eval_episodes",
        "total_timesteps": "steps",
        "n_timesteps": "steps",
    }

    def __post_init__(self) -> None:
        if self.n_envs < 1:
            raise ConfigError(f"n_envs must be >= 1, got {self.n_envs}")
        for key in ("chunk", "eval_episodes"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 <= self.random_action_prob <= 1.0:
            raise ConfigError(f"random_action_prob must be in [0, 1], got {self.random_action_prob}")
        if not self.sb3_algo:
            return
        if self.random_action_prob and self.sb3_algo not in ("SAC", "TD3"):
            raise ConfigError(f"random_action_prob is for SAC and TD3 (Box actions), not {self.sb3_algo}")
        if self.her:
            if self.sb3_algo not in HER_ALGOS:
                raise ConfigError(
                    f"her=true needs an off-policy algorithm ({', '.join(HER_ALGOS)}), not {self.sb3_algo}"
                )
            if self.n_sampled_goal < 1:
                raise ConfigError(f"n_sampled_goal must be >= 1, got {self.n_sampled_goal}")
            if self.policy == "MlpPolicy":
                self.policy = "MultiInputPolicy"  # goal envs observe dicts
        cls = sb3_class(self.sb3_algo)
        if self.policy not in cls.policy_aliases:
            raise unknown_name(f"policy for sb3:{self.sb3_algo}", self.policy, list(cls.policy_aliases))
        self.algo_kwargs = check_algo_kwargs(cls, self.algo_kwargs)


def _config_class(algo: str) -> type[SB3Config]:
    """SB3Config for one algorithm: same fields, its own `sb3_algo`."""
    return make_dataclass(
        f"{algo}Config",
        [],
        bases=(SB3Config,),
        namespace={
            "sb3_algo": algo,
            "__doc__": f"sb3:{algo}. {SB3Config.__doc__}",
            "__module__": __name__,
        },
    )


PPOConfig = _config_class("PPO")
A2CConfig = _config_class("A2C")
DQNConfig = _config_class("DQN")
SACConfig = _config_class("SAC")
TD3Config = _config_class("TD3")
MaskablePPOConfig = _config_class("MaskablePPO")


def sb3_class(algo: str) -> type[BaseAlgorithm]:
    """The SB3 (or sb3-contrib) algorithm class called `algo`."""
    if algo not in SB3_ALGOS:
        raise unknown_name("stable-baselines3 algorithm", f"sb3:{algo}", [f"sb3:{a}" for a in SB3_ALGOS])
    package = SB3_ALGOS[algo]
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        name = package.replace("_", "-")
        raise MissingExtraError(
            f"sb3:{algo} needs the package '{name}', which is not installed ({exc}). "
            f'Install it with: pip install "{name}>=2.9,<3"'
        ) from exc
    return getattr(module, algo)


def _constructor_params(cls: type[BaseAlgorithm]) -> dict[str, inspect.Parameter]:
    params = dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    return params


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _plain(value: Any, default: Any = None) -> Any:
    """Numbers written as text ('3e-4' stays a string in YAML) become numbers; a whole
    float becomes an int where SB3's default is an int (buffer_size=1e5)."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value) if any(c in value for c in ".eE") else int(value)
    if isinstance(value, float) and value.is_integer() and isinstance(default, int) and not isinstance(default, bool):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def check_algo_kwargs(cls: type[BaseAlgorithm], algo_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validated algo_kwargs: keys the SB3 constructor takes, values as numbers where
    written as text; `a.b=v` entries (from --set algo_kwargs.a.b=v) nest as {a: {b: v}}."""
    params = _constructor_params(cls)
    valid = [p for p in params if p not in RESERVED_KWARGS and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    nested: dict[str, Any] = {}
    for key, value in algo_kwargs.items():
        head, _, rest = str(key).partition(".")
        if rest:
            nested.setdefault(head, {})
            if not isinstance(nested[head], dict):
                raise ConfigError(f"algo_kwargs.{head} is set both as a value and as a mapping ({key})")
            nested[head][rest] = value
        else:
            nested[head] = value
    checked: dict[str, Any] = {}
    for key, value in nested.items():
        if key in RESERVED_KWARGS:
            raise ConfigError(f"algo_kwargs.{key} is set by rlgen; use {RESERVED_KWARGS[key]} instead")
        if key not in valid:
            raise ConfigError(
                f"algo_kwargs.{key} is not an argument of {cls.__module__.split('.')[0]}.{cls.__name__}; "
                f"valid: {', '.join(valid)}.{closest(key, valid)}"
            )
        checked[key] = _plain(value, params[key].default)
    return checked


# ----------------------------------------------------------------------------- model


ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}


def sb3_kwargs(algo_kwargs: dict[str, Any], action_space: spaces.Space) -> dict[str, Any]:
    """Constructor arguments from the config's plain values: schedules, activations and
    action noise by name (YAML and --set can only write plain values)."""
    kwargs = dict(algo_kwargs)
    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        value = kwargs.get(key)
        if isinstance(value, str) and value.startswith("lin_"):
            try:
                kwargs[key] = LinearSchedule(float(value[4:]), 0.0, 1.0)
            except ValueError:
                raise ConfigError(
                    f"algo_kwargs.{key}={value!r}: a linear schedule is written lin_START, e.g. lin_3e-4"
                ) from None
    policy_kwargs = dict(kwargs.get("policy_kwargs") or {})
    if isinstance(policy_kwargs.get("activation_fn"), str):
        name = policy_kwargs["activation_fn"].lower()
        if name not in ACTIVATIONS:
            raise unknown_name("activation_fn", name, list(ACTIVATIONS))
        policy_kwargs["activation_fn"] = ACTIVATIONS[name]
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    noise = kwargs.get("action_noise")
    if isinstance(noise, str):
        kind, _, sigma = noise.partition(":")
        makers = {"normal": NormalActionNoise, "ou": OrnsteinUhlenbeckActionNoise}
        if kind not in makers or not isinstance(action_space, spaces.Box) or not _NUMBER.fullmatch(sigma):
            raise ConfigError(
                f"algo_kwargs.action_noise={noise!r}: write normal:SIGMA or ou:SIGMA (continuous actions only)"
            )
        shape = action_space.shape
        kwargs["action_noise"] = makers[kind](mean=np.zeros(shape), sigma=float(sigma) * np.ones(shape))
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])  # SB3 reads (n, "step"|"episode") tuples only
    return kwargs


def her_kwargs(config: SB3Config, env: VecEnv) -> dict[str, Any]:
    """SB3's HerReplayBuffer arguments, or a ConfigError when the env is not a goal env."""
    from stable_baselines3 import HerReplayBuffer

    space = env.observation_space
    keys = {"observation", "achieved_goal", "desired_goal"}
    if not isinstance(space, spaces.Dict) or not keys <= set(space.spaces):
        raise ConfigError(
            f"her=true needs a goal env (a dict observation with {', '.join(sorted(keys))}, e.g. FetchReach-v4); "
            f"'{config.env}' observes {space}"
        )
    return {
        "replay_buffer_class": HerReplayBuffer,
        "replay_buffer_kwargs": {"n_sampled_goal": config.n_sampled_goal, "goal_selection_strategy": "future"},
    }


_RLGEN_CLASSES: dict[type, type] = {}


def rlgen_class(cls: type[BaseAlgorithm]) -> type[BaseAlgorithm]:
    """`cls` as rlgen drives it: schedules that span the whole run (SB3 measures progress
    against the current `learn` call's total, which in chunks would restart every schedule
    at each chunk), and off-policy exploration with `random_action_prob` (a share of the
    actions uniformly random after learning_starts, HER's `random_eps`, which SB3 lacks)."""
    if cls not in _RLGEN_CLASSES:

        def _update_current_progress_remaining(self: Any, num_timesteps: int, total_timesteps: int) -> None:
            total = max(int(getattr(self, "run_timesteps", 0)), total_timesteps)
            cls._update_current_progress_remaining(self, num_timesteps, total)

        def _sample_action(self: Any, learning_starts: int, action_noise: Any = None, n_envs: int = 1) -> Any:
            action, buffer_action = cls._sample_action(self, learning_starts, action_noise, n_envs)
            prob = getattr(self, "random_action_prob", 0.0)
            if prob and self.num_timesteps >= learning_starts and isinstance(self.action_space, spaces.Box):
                # numpy's global generator: SB3 seeds it and rlgen's checkpoints carry it.
                uniform = np.random.uniform(-1.0, 1.0, buffer_action.shape).astype(buffer_action.dtype)
                coins = np.random.random((n_envs, 1)) < prob
                buffer_action = np.where(coins, uniform, buffer_action)
                action = self.policy.unscale_action(buffer_action)
            return action, buffer_action

        _RLGEN_CLASSES[cls] = type(
            cls.__name__,
            (cls,),
            {
                "__module__": cls.__module__,
                "__doc__": cls.__doc__,
                "_update_current_progress_remaining": _update_current_progress_remaining,
                "_sample_action": _sample_action,
            },
        )
    return _RLGEN_CLASSES[cls]


def make_sb3_vec_env(config: SB3Config) -> VecEnv:
    """`n_envs` copies of the config's env (each in SB3's Monitor) in a DummyVecEnv."""
    make_env(config.env, config.env_kwargs).close()  # unknown ids / kwargs fail here, clearly

    def thunk() -> Any:
        return make_env(config.env, config.env_kwargs)

    return make_vec_env(thunk, n_envs=config.n_envs, seed=config.seed, vec_env_cls=DummyVecEnv)


# ----------------------------------------------------------------------------- update: learn + metrics

RENAMES = {
    "rollout/ep_rew_mean": "charts/episode_return",
    "rollout/ep_len_mean": "charts/episode_length",
    "rollout/exploration_rate": "charts/epsilon",
    "time/fps": "charts/sb3_fps",
    "train/learning_rate": "charts/learning_rate",
    "train/n_updates": "charts/updates",
    "train/clip_range": "charts/clip_range",
}
DROPPED = {
    "time/total_timesteps",
    "time/time_elapsed",
    "time/iterations",
}  # step, elapsed_s say it; iterations restart per call


def metric_name(key: str) -> str:
    """rlgen's name for an SB3 logger key: train/* -> losses/*, rollout/* and time/* -> charts/*."""
    if key in RENAMES:
        return RENAMES[key]
    group, _, rest = key.partition("/")
    if group == "train":
        return f"losses/{rest}"
    if group in ("rollout", "time"):
        return f"charts/{rest}"
    return key


class MetricsWriter(KVWriter):
    """An SB3 logger output that keeps the latest value of every numeric key."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        for key, value in key_values.items():
            if key in DROPPED or isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                continue
            if math.isfinite(float(value)):
                self.values[metric_name(key)] = float(value)

    def take(self) -> dict[str, float]:
        values, self.values = self.values, {}
        return values


# ----------------------------------------------------------------------------- checkpoint state


def replay_buffer_state(buffer: Any) -> dict[str, Any]:
    """The filled part of an SB3 (Dict)ReplayBuffer's arrays, with its position."""
    used = buffer.buffer_size if buffer.full else buffer.pos
    arrays: dict[str, Any] = {}
    for key, value in vars(buffer).items():
        if isinstance(value, np.ndarray) and value.dtype != object and value.shape[:1] == (buffer.buffer_size,):
            arrays[key] = value[:used]
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            arrays[key] = {k: v[:used] for k, v in value.items()}
    return {"pos": int(buffer.pos), "full": bool(buffer.full), "arrays": arrays}


def load_replay_buffer_state(buffer: Any, state: dict[str, Any]) -> None:
    """Write `replay_buffer_state` output back into a buffer of the same size and spaces."""
    for key, saved in state["arrays"].items():
        target = getattr(buffer, key, None)
        pairs = [(target, saved)] if not isinstance(saved, dict) else [(target[k], saved[k]) for k in saved]
        for array, values in pairs:
            if array is None or values.shape[1:] != array.shape[1:] or len(values) > len(array):
                raise CheckpointError(
                    f"the checkpoint's replay buffer ({key}: {values.shape}) does not fit this run's "
                    f"({None if array is None else array.shape}); was buffer_size or the env changed?"
                )
            array[: len(values)] = values
    buffer.pos, buffer.full = int(state["pos"]), bool(state["full"])
    if hasattr(buffer, "_current_ep_start"):  # HER: the resumed run's envs start new episodes here
        buffer._current_ep_start[:] = buffer.pos


def pickled_entries(zip_bytes: bytes) -> list[str]:
    """Keys of an SB3 save zip's data that SB3 would unpickle (spaces, schedules, classes)."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        data = json.loads(archive.read("data"))
    return [key for key, value in data.items() if isinstance(value, dict) and ":serialized:" in value]


class SB3Checkpoint(nn.Module):
    """The SB3 model as the Trainer sees it: its state_dict is the `model.save` zip, so
    checkpoints, resume, `rlgen eval` and `load_agent` all go through the Trainer."""

    def __init__(self, algorithm: SB3Algorithm) -> None:
        super().__init__()
        self.algorithm = algorithm

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        buffer = io.BytesIO()
        self.algorithm.model.save(buffer)
        return {"sb3_zip": buffer.getvalue()}

    def load_state_dict(  # type: ignore[override]
        self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False
    ) -> None:
        self.algorithm.load_model(state_dict["sb3_zip"])


# ----------------------------------------------------------------------------- agent


class SB3Agent:
    """Greedy actions of an SB3 model: `act(observation, action_mask=None) -> action`.

    Accepts PettingZoo classic observations `{"observation", "action_mask"}`. MaskablePPO
    gets the mask as `action_masks`; other discrete policies take their best legal action.
    """

    def __init__(self, model: BaseAlgorithm, maskable: bool) -> None:
        self.model = model
        self.maskable = maskable

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> Any:
        obs_space, act_space = self.model.observation_space, self.model.action_space
        if isinstance(observation, dict) and "observation" in observation and not isinstance(obs_space, spaces.Dict):
            if action_mask is None:
                action_mask = observation.get("action_mask")
            observation = observation["observation"]
        if isinstance(obs_space, spaces.Box):
            observation = np.asarray(observation, dtype=obs_space.dtype)
            if observation.shape != obs_space.shape:
                raise ConfigError(f"observation has shape {observation.shape}; this agent takes {obs_space.shape}")
        mask = None
        if action_mask is not None and isinstance(act_space, spaces.Discrete):
            mask = np.asarray(action_mask).astype(bool)
            if mask.shape != (int(act_space.n),):
                raise ConfigError(f"action_mask has shape {mask.shape}; this agent has {int(act_space.n)} actions")
            if not mask.any():
                raise ConfigError("action_mask allows no action")
        if self.maskable:
            action, _ = self.model.predict(observation, deterministic=True, action_masks=mask)
        else:
            action, _ = self.model.predict(observation, deterministic=True)
            if mask is not None and not mask[int(action)]:
                action = self._best_legal(observation, mask)
        return int(action) if isinstance(act_space, spaces.Discrete) else action

    @torch.no_grad()
    def _best_legal(self, observation: np.ndarray, mask: np.ndarray) -> int:
        policy = self.model.policy
        obs, _ = policy.obs_to_tensor(observation)
        if hasattr(policy, "q_net"):  # DQN
            scores = policy.q_net(obs)
        else:
            scores = policy.get_distribution(obs).distribution.logits
        return int(np.where(mask, scores[0].float().cpu().numpy(), -np.inf).argmax())


# ----------------------------------------------------------------------------- algorithm


class SB3Algorithm(GreedyEvaluation, Algorithm):
    """One SB3 algorithm driven chunk by chunk by the Trainer (see the module docstring)."""

    Config = SB3Config
    unit = "env steps"
    input_kind = "env"
    default_monitor = "eval/return_mean"
    tune_space: ClassVar[dict[str, str]] = {"algo_kwargs.learning_rate": "1e-5:1e-2:log"}

    def __init__(self, config: SB3Config, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        self.config: SB3Config = config
        self.sb3_cls = rlgen_class(sb3_class(config.sb3_algo))
        self.maskable = config.sb3_algo == "MaskablePPO"
        self.env = make_sb3_vec_env(config)
        self.release_on_close(self.env.close)
        self.writer = MetricsWriter()
        kwargs = sb3_kwargs(config.algo_kwargs, self.env.action_space)
        if config.her:
            kwargs.update(her_kwargs(config, self.env))
        try:
            self.model = self.sb3_cls(
                config.policy, self.env, seed=config.seed, device=trainer.device, verbose=0, **kwargs
            )
        except (AssertionError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(
                f"{self.name} cannot be built on '{config.env}' with policy={config.policy}, "
                f"algo_kwargs={config.algo_kwargs}: {exc}"
            ) from exc
        self._attach()
        self.chunk = self._resolve_chunk()
        self.steps_per_call = self.chunk
        trainer.add_model("sb3", SB3Checkpoint(self))

    def _attach(self) -> None:
        """Route the model's logger to our writer; stretch its schedules over the run."""
        self.model.set_logger(Logger(None, [self.writer]))
        self.model.run_timesteps = self.config.steps
        self.model.random_action_prob = self.config.random_action_prob

    def _resolve_chunk(self) -> int:
        if isinstance(self.model, OnPolicyAlgorithm):
            unit, what = self.model.n_steps * self.model.n_envs, "n_steps x n_envs (one rollout)"
        elif self.model.train_freq.unit.value == "step":
            unit, what = self.model.train_freq.frequency * self.model.n_envs, "train_freq x n_envs"
        else:
            unit, what = 1, ""  # train_freq in episodes: a chunk ends with an episode anyway
        if self.config.chunk == 0:
            return unit if isinstance(self.model, OnPolicyAlgorithm) else math.ceil(OFF_POLICY_CHUNK / unit) * unit
        if self.config.chunk % unit:
            raise ConfigError(f"chunk={self.config.chunk} must be a multiple of {what} = {unit} (or 0 for that)")
        return self.config.chunk

    # -- one Trainer step

    def train_step(self) -> dict[str, float]:
        before = self.model.num_timesteps
        self.model.learn(self.chunk, reset_num_timesteps=False, log_interval=1, progress_bar=False)
        # Flush what was recorded after SB3's last dump (e.g. the final update's losses).
        self.model.logger.dump(step=self.model.num_timesteps)
        # An episode-based train_freq can overshoot the chunk: count what really ran.
        self.steps_per_call = self.model.num_timesteps - before
        return self.writer.take()

    # -- evaluation and acting

    def agent(self, simulations: int | None = None) -> SB3Agent:
        """The acting agent for `load_agent` (`simulations` is for search agents; unused)."""
        return SB3Agent(self.model, self.maskable)

    # -- checkpoints (the model zip travels in SB3Checkpoint; see the module docstring)

    def load_model(self, zip_bytes: bytes) -> None:
        """Replace the model by one loaded from a `model.save` zip, on this run's envs."""
        try:
            # Pickled entries come from the model built from this run's config instead.
            custom = {key: getattr(self.model, key, None) for key in pickled_entries(zip_bytes)}
            model = self.sb3_cls.load(
                io.BytesIO(zip_bytes),
                env=self.env,
                device=self.trainer.device,
                custom_objects=custom,
                force_reset=True,
                print_system_info=False,
            )
        except (zipfile.BadZipFile, KeyError, ValueError, RuntimeError, AssertionError) as exc:
            raise CheckpointError(
                f"the checkpoint's {self.name} model does not load into this run ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); was the config changed since it was written?"
            ) from None
        self.model = model
        self._attach()
        # Fresh episodes after a resume, not a replay of the run's first ones.
        self.env.seed(self.config.seed + int(model.num_timesteps))

    def state_dict(self) -> dict[str, Any]:
        episodes = list(self.model.ep_info_buffer or [])
        state: dict[str, Any] = {
            "num_timesteps": int(self.model.num_timesteps),
            "episode_stats": {k: np.array([float(e[k]) for e in episodes]) for k in ("r", "l", "t")},
            "episode_success": np.array(list(self.model.ep_success_buffer or []), dtype=bool),
        }
        buffer = getattr(self.model, "replay_buffer", None)
        if buffer is not None:
            state["replay_buffer"] = replay_buffer_state(buffer)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if int(state["num_timesteps"]) != self.model.num_timesteps:
            raise CheckpointError(
                f"checkpoint mismatch: the model is at {self.model.num_timesteps} timesteps, the "
                f"algorithm state at {state['num_timesteps']}"
            )
        window = self.model._stats_window_size
        stats = state["episode_stats"]
        self.model.ep_info_buffer = deque(
            (
                {"r": float(r), "l": int(n), "t": float(t)}
                for r, n, t in zip(stats["r"], stats["l"], stats["t"], strict=True)
            ),
            maxlen=window,
        )
        self.model.ep_success_buffer = deque((bool(s) for s in state["episode_success"]), maxlen=window)
        if "replay_buffer" in state:
            load_replay_buffer_state(self.model.replay_buffer, state["replay_buffer"])


def _algorithm_class(algo: str, config: type[SB3Config], description: str) -> type[SB3Algorithm]:
    return type(
        f"SB3{algo}",
        (SB3Algorithm,),
        {
            "name": f"sb3:{algo}",
            "Config": config,
            "description": description,
            "__module__": __name__,
            "__doc__": f"stable-baselines3's {algo} as an rlgen algorithm.",
        },
    )


SB3PPO = _algorithm_class("PPO", PPOConfig, "stable-baselines3 PPO on any gymnasium / rlgen env")
SB3A2C = _algorithm_class("A2C", A2CConfig, "stable-baselines3 A2C on any gymnasium / rlgen env")
SB3DQN = _algorithm_class("DQN", DQNConfig, "stable-baselines3 DQN (discrete actions)")
SB3SAC = _algorithm_class("SAC", SACConfig, "stable-baselines3 SAC (continuous actions)")
SB3TD3 = _algorithm_class("TD3", TD3Config, "stable-baselines3 TD3 (continuous actions)")
SB3MaskablePPO = _algorithm_class(
    "MaskablePPO", MaskablePPOConfig, "sb3-contrib MaskablePPO: PPO with legal-move masks (rlgen game envs)"
)
