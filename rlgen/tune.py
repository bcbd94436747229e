"""Hyper-parameter search over any registered algorithm's config with Optuna.

Each trial is a normal run directory under the study directory; the study itself is kept
in study.db (SQLite), so running the same command again with the same --run-dir adds
trials to it. The objective is the algorithm's monitored eval metric (best value).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlgen.config import apply_override, to_dict
from rlgen.errors import ConfigError, RunDirError
from rlgen.extras import require
from rlgen.registry import get_algo
from rlgen.trainer import monitor_mode

# Rates and penalties searched on a log scale by default, as (low, high) multipliers of the
# configured value for rates and absolute ranges for penalties.
DEFAULT_SPACE = {
    "optim.lr": "{lr_low}:{lr_high}:log",
    "optim.weight_decay": "1e-6:1e-2:log",
}


@dataclass
class Param:
    """One searched config key: a float/int range (optionally log) or a set of choices."""

    key: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple[str, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)


def parse_param(spec: str) -> Param:
    """'KEY=LOW:HIGH[:log|:int]' or 'KEY=a,b,c' -> Param."""
    if "=" not in spec:
        raise ConfigError(f"--param '{spec}' must look like KEY=LOW:HIGH[:log|:int] or KEY=a,b,c")
    key, rng = spec.split("=", 1)
    if ":" in rng:
        parts = rng.split(":")
        flags = set(parts[2:])
        if len(parts) < 2 or not flags <= {"log", "int"}:
            raise ConfigError(f"--param '{spec}': range must be LOW:HIGH with optional :log and/or :int")
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise ConfigError(f"--param '{spec}': LOW and HIGH must be numbers") from None
        if not low < high or ("log" in flags and low <= 0):
            raise ConfigError(f"--param '{spec}': need LOW < HIGH (and LOW > 0 for :log)")
        return Param(key, low, high, log="log" in flags, integer="int" in flags)
    choices = tuple(c for c in rng.split(",") if c)
    if len(choices) < 2:
        raise ConfigError(f"--param '{spec}': give a range LOW:HIGH or at least two choices a,b")
    return Param(key, choices=choices)


def default_space(algo_cls: Any, config: Any) -> list[str]:
    """The algorithm's own `tune_space` if it has one, else log-uniform rates and penalties."""
    space = dict(getattr(algo_cls, "tune_space", {}))
    if not space and hasattr(config, "optim"):
        lr = config.optim.lr
        space = {k: v.format(lr_low=lr / 10, lr_high=min(lr * 10, 1.0)) for k, v in DEFAULT_SPACE.items()}
    if not space:
        raise ConfigError(f"algorithm '{algo_cls.name}' has no default search space; give --param KEY=LOW:HIGH")
    return [f"{k}={v}" for k, v in space.items()]


def make_sampler(name: str, seed: int) -> Any:
    optuna = require("optuna", extra="tune", purpose="rlgen tune")
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise ConfigError(f"unknown sampler '{name}'; choices: random, tpe, gp")


def tune(
    algo: str,
    config: Any,
    trials: int,
    sampler: str = "tpe",
    params: list[str] | None = None,
    study_dir: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run `trials` trials; returns {'best_params', 'best_value', 'trials': [...]} and
    writes it to tune.json in the study directory."""
    optuna = require("optuna", extra="tune", purpose="rlgen tune")
    from rlgen.run import train

    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    cls = get_algo(algo)
    space = [parse_param(p) for p in (params or default_space(cls, config))]
    for param in space:  # reject unknown keys before any trial runs
        apply_override(copy.deepcopy(config), f"{param.key}={param.choices[0] if param.choices else param.low}")
    monitor = config.trainer.monitor or cls.default_monitor
    if not monitor:
        raise ConfigError(f"algorithm '{algo}' has no eval metric to tune on; set trainer.monitor")
    direction = "minimize" if monitor_mode(monitor, config.trainer.monitor_mode) == "min" else "maximize"
    source = getattr(config, "data", None) or getattr(config, "env", None) or "run"
    study_dir = Path(study_dir or f"runs/tune-{algo}-{source}-{time.strftime('%Y%m%d-%H%M%S')}".replace(":", "_"))
    if study_dir.exists() and overwrite:
        shutil.rmtree(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_dir.name,
        storage=f"sqlite:///{study_dir.resolve() / 'study.db'}",
        direction=direction,
        sampler=make_sampler(sampler, config.seed),
        load_if_exists=True,
    )

    def objective(trial: Any) -> float:
        trial_config = copy.deepcopy(config)
        for param in space:
            apply_override(trial_config, f"{param.key}={param.suggest(trial)}")
        trial_config.wandb.group = config.wandb.group or study_dir.name
        trial_config.trainer.progress = "off"
        run_dir = study_dir / f"trial-{trial.number:03d}"
        train(algo, trial_config, run_dir, overwrite=True)
        summary = json.loads((run_dir / "summary.json").read_text())
        value = summary.get("best/value", summary.get(monitor))
        if value is None:
            raise RunDirError(f"trial {trial.number} logged no '{monitor}'")
        trial.set_user_attr("run_dir", str(run_dir))
        return float(value)

    study.optimize(objective, n_trials=trials)
    rows = [
        {
            "trial": t.number,
            "value": t.value,
            "state": t.state.name,
            **t.params,
            "run_dir": t.user_attrs.get("run_dir", ""),
        }
        for t in study.trials
    ]
    complete = [t for t in study.trials if t.value is not None and math.isfinite(t.value)]
    result = {
        "algo": algo,
        "monitor": monitor,
        "direction": direction,
        "sampler": sampler,
        "best_value": study.best_value if complete else None,
        "best_params": study.best_params if complete else {},
        "best_run_dir": study.best_trial.user_attrs.get("run_dir") if complete else None,
        "base_config": to_dict(config),
        "trials": rows,
    }
    (study_dir / "tune.json").write_text(json.dumps(result, indent=2, default=str))
    _print_table(result, space)
    return result


def _print_table(result: dict[str, Any], space: list[Param]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"rlgen tune {result['algo']}: {result['monitor']} ({result['direction']})")
    table.add_column("trial", justify="right")
    table.add_column(result["monitor"], justify="right")
    for param in space:
        table.add_column(param.key, justify="right")
    for row in sorted(
        result["trials"],
        key=lambda r: (r["value"] is None, r["value"] if r["value"] is not None else 0),
        reverse=result["direction"] == "maximize",
    ):
        value = "-" if row["value"] is None else f"{row['value']:.4g}"
        cells = [
            f"{row.get(p.key):.3g}" if isinstance(row.get(p.key), float) else str(row.get(p.key, "-")) for p in space
        ]
        table.add_row(str(row["trial"]), value, *cells)
    Console().print(table)
    print(f"best {result['monitor']} = {result['best_value']} with {result['best_params']} ({result['best_run_dir']})")
