"""Typed configs: dataclasses with a docstring per field, YAML files and `--set` overrides.

Every algorithm's config is a dataclass built on `RunConfig`. Values come, in order, from
the dataclass defaults, a YAML file (`--config`), then `--set a.b=value` overrides. An
unknown key is an error naming the closest full dotted key (searched in every section) and
listing the valid keys; a name users bring from SB3 (`learning_rate`) names the key to use; a
value of the wrong type is an error naming the key, the value and the expected type.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from rlgen.errors import ConfigError, close_matches


@dataclass
class OptimConfig:
    """One optimizer with its schedule, penalties and clipping."""

    name: Literal["sgd", "rmsprop", "adagrad", "adam", "adamw"] = "adam"
    """Optimizer: sgd (with momentum), rmsprop, adagrad, adam, adamw."""
    lr: float = 1e-3
    """Peak learning rate."""
    momentum: float = 0.9
    """Momentum for sgd and rmsprop."""
    nesterov: bool = False
    """Nesterov momentum for sgd."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam/AdamW moment decay rates."""
    eps: float = 1e-8
    """Denominator epsilon for adaptive optimizers."""
    weight_decay: float = 0.0
    """Weight decay (coupled L2 for sgd/rmsprop/adagrad/adam, decoupled for adamw)."""
    l1: float = 0.0
    """L1 penalty coefficient added to the loss (weights only, not biases or norms)."""
    l2: float = 0.0
    """Explicit L2 penalty coefficient added to the loss (weights only)."""
    grad_clip: float = 0.0
    """Clip the global gradient norm to this value (0 = off)."""
    schedule: Literal["constant", "linear", "exponential", "inverse_time", "step", "cosine"] = "constant"
    """Learning-rate schedule after warm-up (linear: to min_lr_ratio * lr at the last step)."""
    warmup_steps: int = 0
    """Linear warm-up from 0 to lr over this many optimizer steps."""
    gamma: float = 0.1
    """Decay factor: per `decay_steps` for exponential, per `step_size` for step."""
    decay_steps: int = 1000
    """Steps over which exponential decays by gamma and inverse_time by 1/(1+decay_rate)."""
    decay_rate: float = 1.0
    """Inverse-time decay rate: lr / (1 + decay_rate * t / decay_steps)."""
    step_size: int = 1000
    """Step schedule: multiply lr by gamma every this many steps."""
    min_lr_ratio: float = 0.0
    """Floor of the cosine and linear schedules, as a fraction of lr."""


@dataclass
class TrainerConfig:
    """Plumbing shared by every algorithm: precision, logging, evaluation, checkpoints."""

    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Autocast precision: auto = bf16 on CUDA, fp32 elsewhere."""
    compile: bool = False
    """Wrap models with torch.compile."""
    threads: int = 1
    """torch intra-op threads on CPU (0 = torch default; 1 is fastest on 2 busy cores)."""
    flush_denormal: bool = True
    """While training, CPU float math flushes denormal numbers (< ~1e-38) to zero, which
    otherwise cost ~100x a normal operation; torch's default (off) is restored afterwards."""
    deterministic: bool = False
    """Ask torch for deterministic kernels (slower on GPU)."""
    log_every: int = 10
    """Log averaged training metrics every this many steps."""
    eval_every: int = 100
    """Run periodic evaluation every this many steps (0 = only at the end)."""
    checkpoint_every: int = 100
    """Write checkpoints/last.pt every this many steps (and always at the end)."""
    monitor: str = ""
    """Eval metric deciding best.pt and early stopping, e.g. 'dev/loss' ('' = algorithm default)."""
    monitor_mode: Literal["auto", "min", "max"] = "auto"
    """Whether lower or higher is better for `monitor` (auto: min for loss/error, else max)."""
    early_stop_patience: int = 0
    """Stop after this many evaluations without improvement of `monitor` (0 = off)."""
    early_stop_min_delta: float = 0.0
    """Smallest change of `monitor` that counts as an improvement."""
    nan_policy: Literal["stop", "skip"] = "stop"
    """On a NaN/Inf loss: stop with a message, or skip the step (stops after 25 in a row)."""
    ema_decay: float = 0.0
    """Keep an exponential moving average of model parameters with this decay (0 = off)."""
    progress: Literal["auto", "on", "off"] = "auto"
    """Rich progress bar: auto = on when the console is a terminal."""
    final_report: bool = True
    """Run the algorithm's full report (e.g. test metrics) on the best checkpoint at the end."""


@dataclass
class WandbConfig:
    """Weights & Biases tracking."""

    mode: Literal["auto", "online", "offline", "disabled"] = "auto"
    """auto = online when W&B credentials exist, else offline; offline/disabled never use the network."""
    project: str = "rlgen"
    """W&B project."""
    entity: str = ""
    """W&B entity (team or user); '' = the account default."""
    group: str = ""
    """W&B group, e.g. to gather seeds or tuning trials."""
    tags: list[str] = field(default_factory=list)
    """W&B tags."""
    name: str = ""
    """W&B run name ('' = the run directory's name)."""
    log_checkpoints: bool = False
    """Upload checkpoints as W&B model artifacts."""


@dataclass
class RunConfig:
    """Fields every run has. Algorithms subclass it and add their own."""

    seed: int = 0
    """Seed for python, numpy and torch."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:N | mps."""
    steps: int = 1000
    """Training length in the algorithm's natural unit (see `rlgen list algos`)."""
    minutes: float = 0.0
    """Wall-clock budget in minutes (0 = none); training stops at whichever limit comes first."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """Trainer plumbing."""
    wandb: WandbConfig = field(default_factory=WandbConfig)
    """Weights & Biases tracking."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    """Tuned values per env id or dataset name (nested like the config), merged over the
    field defaults and under a config file's values and `--set` overrides."""
    RENAMED: ClassVar[dict[str, str]] = {}
    """Old key -> new key: a config file or `--set` that uses an old name gets an error
    naming the new one."""
    ALIASES: ClassVar[dict[str, str]] = {"learning_rate": "optim.lr", "max_grad_norm": "optim.grad_clip"}
    """SB3 / rl-zoo name -> this config's dotted key. Using such a name is an error naming the
    key to use (never applied silently); an entry counts only where its target key exists.
    Subclasses add their own entries; the entries of every base class apply too."""

    @classmethod
    def preset(cls, source: str) -> dict[str, Any]:
        """The preset for `source` (the run's env id or dataset name); {} when it has none.
        Override to look presets up by kind (e.g. every continuous-action env)."""
        return copy.deepcopy(cls.PRESETS.get(source, {}))


# --------------------------------------------------------------------------- conversion


def field_docs(cls: type) -> dict[str, str]:
    """Docstrings written under each field of dataclass `cls` (and its bases)."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(inspect.getsource(klass))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = nxt.value.value.strip()
    return docs


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a config (tuples become lists for YAML)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, key: str, root: type | None = None) -> Any:
    """Convert `value` (from YAML or a `--set` string) to type `tp`, or raise ConfigError.
    `root` is the config class `key` is a dotted path of (for the hints of unknown keys)."""

    def fail() -> ConfigError:
        return ConfigError(f"config key '{key}': {value!r} is not a valid {_type_name(tp)}")

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if isinstance(value, str) and value in args:
            return value
        match = close_matches(str(value), [str(a) for a in args], n=1)
        raise ConfigError(
            f"config key '{key}': {value!r} is not allowed."
            + (f" Did you mean '{match[0]}'?" if match else "")
            + " Valid choices: "
            + ", ".join(str(a) for a in args)
            + "."
        )
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key, root=root)
            except ConfigError:
                continue
        raise fail()
    if origin in (list, tuple):
        if isinstance(value, str):
            text = value.strip()
            parsed = yaml.safe_load(text) if text.startswith("[") else [v for v in text.split(",") if v]
            value = parsed
        if not isinstance(value, (list, tuple)):
            raise fail()
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"config key '{key}': expected {len(args)} values, got {list(value)}")
            return tuple(coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        items = [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise fail()
    if tp is int:
        if isinstance(value, bool):
            raise fail()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                as_float = float(value.replace("_", ""))
            except ValueError:
                raise fail() from None
            if as_float.is_integer():
                return int(as_float)
        raise fail()
    if tp is float:
        if isinstance(value, bool):
            raise fail()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise fail() from None
        raise fail()
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise fail()
    if origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ConfigError(
                f"config key '{key}' is a mapping; give key: value pairs (or set one with {key}.NAME=VALUE), "
                f"not {value!r}"
            )
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' is a section; give a mapping of its keys, not {value!r}")
        return from_dict(tp, value, prefix=f"{key}.", root=root)
    return value


def config_keys(cls: type, prefix: str = "") -> list[str]:
    """Every key of config class `cls` as a dotted path, sections included ('optim', 'optim.lr', ...)."""
    hints = _hints(cls)
    keys: list[str] = []
    for f in dataclasses.fields(cls):
        keys.append(prefix + f.name)
        if dataclasses.is_dataclass(hints.get(f.name)):
            keys += config_keys(hints[f.name], f"{prefix}{f.name}.")
    return keys


def _has_key(cls: type, dotted: str) -> bool:
    """Whether `dotted` names a key of config class `cls` (any entry of a free-form mapping counts)."""
    head, _, rest = dotted.partition(".")
    if head not in {f.name for f in dataclasses.fields(cls)}:
        return False
    if not rest:
        return True
    tp = _hints(cls)[head]
    if dataclasses.is_dataclass(tp):
        return _has_key(tp, rest)
    return typing.get_origin(tp) is dict


def aliases(cls: type) -> dict[str, str]:
    """The SB3 names of config class `cls` (its ALIASES over those of its bases) whose target key exists."""
    merged: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get("ALIASES", {}))
    return {name: target for name, target in merged.items() if _has_key(cls, target)}


def closest_key(cls: type, dotted: str) -> str | None:
    """The full dotted key of config class `cls` closest to `dotted`, searching every section and
    comparing both the whole path and its last part ('lr' -> 'optim.lr'); None when none is close."""
    import difflib

    wanted = dotted.lower()
    leaf = wanted.rsplit(".", 1)[-1]

    def similarity(key: str) -> tuple[float, float]:
        whole = difflib.SequenceMatcher(None, wanted, key.lower()).ratio()
        last = difflib.SequenceMatcher(None, leaf, key.lower().rsplit(".", 1)[-1]).ratio()
        return max(whole, last), whole  # ties go to the key whose sections match too

    scored = [(similarity(key), key) for key in config_keys(cls)]
    best_score, best = max(scored, default=((0.0, 0.0), None))
    return best if best_score[0] >= 0.5 else None


def _flow_yaml(dotted: str, value: Any) -> str:
    """'optim: {lr: 0.001}': how a config file writes `dotted` = `value`."""
    nested: Any = value
    for part in reversed(dotted.split(".")):
        nested = {part: nested}
    return yaml.safe_dump(nested, default_flow_style=True, width=1000).strip()[1:-1]


_NO_VALUE = object()


def _unknown_key(
    cls: type,
    key: str,
    full_key: str,
    root: type | None = None,
    value: Any = _NO_VALUE,
    from_set: bool = False,
    rest: str = "",
) -> ConfigError:
    """The error for `key` (at dotted path `full_key`, followed by `rest` as in optm.lr) missing
    from section `cls` of config class `root`: a rename, an SB3 name, or the closest full key,
    then the section's valid keys. `value` is what the user gave (a `--set` string when
    `from_set`), shown in the fix."""
    section = full_key[: len(full_key) - len(key)]  # 'optim.' for optim.lrr, '' at the top
    renamed = getattr(cls, "RENAMED", {})
    if key in renamed:
        new_key = section + renamed[key]
        return ConfigError(f"config key '{full_key}' was renamed to '{new_key}'; use {new_key} instead")
    if root is None:  # only the section is known: its keys are searched, with their prefix
        root, base, owner = cls, section, cls.__name__
    else:
        base, owner = "", root.__name__
    known = aliases(root)
    sb3_name = full_key if full_key in known else key
    if sb3_name in known:
        target = base + known[sb3_name]
        if value is _NO_VALUE:
            fix = f"use {target} instead."
        elif from_set:
            fix = f"--set {target}={value}."
        else:
            fix = f"write {_flow_yaml(target, value)} in the config file."
        return ConfigError(f"unknown config key '{full_key}' for {owner}. SB3's {sb3_name} is '{target}' here: {fix}")
    written = f"{full_key}.{rest}" if rest else full_key
    match = closest_key(root, written[len(base) :])
    suggestion = f" Did you mean '{base}{match}'?" if match else ""
    names = [section + f.name for f in dataclasses.fields(cls)]
    return ConfigError(f"unknown config key '{written}' for {owner}.{suggestion} Valid keys: {', '.join(names)}.")


def from_dict(cls: type, data: dict[str, Any], prefix: str = "", root: type | None = None) -> Any:
    """Build dataclass `cls` from a (partial) nested dict, checking keys and types. `prefix` is
    the dotted path of `cls` inside config class `root` (default: `cls` itself, when no prefix)."""
    if root is None and not prefix:
        root = cls
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise _unknown_key(cls, key, prefix + key, root=root, value=value)
        default = _field_default(fields[key])
        if isinstance(value, dict) and dataclasses.is_dataclass(default):
            # a partial section sits on this field's own default (e.g. the on-policy optim with
            # its eps and grad_clip), not on the bare section class's defaults
            value = deep_merge(to_dict(default), value)
        kwargs[key] = coerce(value, hints[key], prefix + key, root=root)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a field without a default is missing
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def apply_override(config: Any, assignment: str) -> None:
    """Apply one `a.b=value` override in place."""
    if "=" not in assignment:
        raise ConfigError(f"override '{assignment}' must look like key=value (e.g. optim.lr=3e-4)")
    dotted, raw = assignment.split("=", 1)
    parts = dotted.strip().split(".")
    target = config
    for depth, part in enumerate(parts):
        cls = type(target)
        names = [f.name for f in dataclasses.fields(target)]
        full = ".".join(parts[: depth + 1])
        if part not in names:
            rest = ".".join(parts[depth + 1 :])
            raise _unknown_key(cls, part, full, root=type(config), value=raw, from_set=True, rest=rest)
        if depth < len(parts) - 1 and isinstance(getattr(target, part), dict):
            # a free-form mapping (e.g. env_kwargs): the rest of the dotted key names one entry
            getattr(target, part)[".".join(parts[depth + 1 :])] = yaml.safe_load(raw) if raw.strip() else raw
            return
        if depth < len(parts) - 1:
            target = getattr(target, part)
            if not dataclasses.is_dataclass(target):
                raise ConfigError(f"config key '{full}' is a value, not a section; '{dotted}' has no meaning")
            continue
        tp = _hints(cls)[part]
        value: Any = raw
        if dataclasses.is_dataclass(tp):
            raise ConfigError(
                f"config key '{full}' is a section; set one of its keys, "
                f"e.g. {full}.{dataclasses.fields(tp)[0].name}=..."
            )
        setattr(target, part, coerce(value, tp, full))


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file '{path}' is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys, not {type(data).__name__}")
    return data


def build_config(
    cls: type,
    file_data: dict[str, Any] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> Any:
    """The one way a config gets its values: field defaults < the preset of the chosen env
    or dataset (`cls.preset`) < a file's values < `key=value` overrides; validated once."""
    config = from_dict(cls, file_data or {})
    for assignment in overrides:
        apply_override(config, assignment)
    preset = cls.preset(getattr(config, "env", "") or getattr(config, "data", "")) if hasattr(cls, "preset") else {}
    if preset:  # second pass: the env is known now, so its tuned values go under the user's
        config = from_dict(cls, deep_merge(preset, file_data or {}))
        for assignment in overrides:
            apply_override(config, assignment)
    validate(config)
    return config


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`base` updated by `top`, merging nested mappings key by key."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate(config: Any) -> None:
    """Range checks shared by every run, then the algorithm's own `__post_init__` checks
    again (overrides are applied after construction)."""
    check = getattr(config, "__post_init__", None)
    if check is not None:
        check()
    if getattr(config, "steps", 1) < 0:
        raise ConfigError(f"steps must be >= 0, got {config.steps}")
    if getattr(config, "minutes", 0.0) < 0:
        raise ConfigError(f"minutes must be >= 0, got {config.minutes}")
    trainer = getattr(config, "trainer", None)
    if trainer is not None:
        for key in ("log_every", "checkpoint_every"):
            if getattr(trainer, key) < 1:
                raise ConfigError(f"trainer.{key} must be >= 1, got {getattr(trainer, key)}")
        if trainer.eval_every < 0:
            raise ConfigError(f"trainer.eval_every must be >= 0, got {trainer.eval_every}")


def save_yaml(config: Any, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write the resolved config (with `extra` top-level keys first) as YAML."""
    data = dict(extra or {})
    data.update(to_dict(config))
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
