"""Runs on disk: create, train, resume, evaluate and load a run directory.

config.yaml     resolved config (with `algo`), enough to reproduce the run
metrics.jsonl   one JSON object per log call: {"step", "time", ...}
summary.json    final / best metrics, rewritten at the end and on every checkpoint
checkpoints/    last.pt (always), best.pt (when there is an eval metric)
media/          sample grids, plots, videos
wandb/          the W&B run (offline runs can be `wandb sync`-ed later)
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlgen.algorithm import Algorithm
from rlgen.checkpoint import atomic_write_bytes
from rlgen.config import RunConfig, from_dict, load_yaml, save_yaml, to_dict, validate
from rlgen.distributed import Shard, run_shard
from rlgen.errors import CheckpointError, ConfigError, RunDirError, close_matches
from rlgen.registry import get_algo
from rlgen.tracking import METRICS_FILE, SUMMARY_FILE, Tracker, wandb_mode_reason
from rlgen.trainer import Callback, Trainer

CONFIG_FILE = "config.yaml"


def default_run_dir(algo: str, config: RunConfig, root: str | Path = "runs") -> Path:
    """runs/<algo>-<env|data>-<timestamp>, with path-unsafe characters replaced."""
    source = getattr(config, "env", None) or getattr(config, "data", None) or "run"
    source = re.sub(r"[^A-Za-z0-9._-]+", "_", str(source)).strip("_")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{algo}-{source}-{stamp}"
    suffix = 1
    while path.exists():
        path = Path(root) / f"{algo}-{source}-{stamp}-{suffix}"
        suffix += 1
    return path


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=False, highlight=False, soft_wrap=True)


def _write_eval(run_dir: Path, results: dict[str, Any], name: str = "eval.json") -> Path:
    path = run_dir / name
    text = json.dumps(results, indent=2, default=str)
    atomic_write_bytes(path, lambda handle: handle.write(text.encode()))
    return path


def _scalars(results: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in results.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _run(
    algo: str,
    config: RunConfig,
    run_dir: Path,
    resume: bool,
    steps: int | None = None,
    minutes: float | None = None,
    callbacks: tuple[Callback, ...] = (),
    shard: Shard | None = None,
) -> dict[str, Any]:
    cls = get_algo(algo)
    shard = shard or Shard()
    if shard.world > 1 and cls.input_kind != "data":
        raise ConfigError(
            f"torchrun data parallelism is for algorithms that learn from a dataset (classifier, gan, cgan, vae, "
            f"cvae, pix2pix); '{algo}' collects its own data"
            + ("; AlphaZero's self-play scales out with --set backend=ray" if algo == "alphazero" else "")
        )
    last = run_dir / "checkpoints" / "last.pt"
    resume_step = None
    if resume:
        from rlgen.checkpoint import load_checkpoint

        resume_step = int(load_checkpoint(last)["step"])
    if shard.is_main:
        tracker = Tracker(run_dir, config.wandb, {"algo": algo, **to_dict(config)}, _console(), resume_step=resume_step)
    else:
        tracker = _RankTracker(run_dir)  # rank 0 alone writes the run directory and W&B
    exit_code = 1
    algorithm: Algorithm | None = None
    try:
        trainer = Trainer(config, run_dir, tracker, callbacks, shard=shard)
        algorithm = cls(config, trainer)
        trainer.algorithm = algorithm
        wandb_line = f"W&B {tracker.mode}: {wandb_mode_reason(config.wandb.mode)}"
        if resume:
            trainer.load(last)
            tracker.print(f"resuming {algo} in {run_dir} at step {trainer.step}; {wandb_line}")
        else:
            budget = f"{config.steps} {cls.unit}" + (f" or {config.minutes:g} minutes" if config.minutes else "")
            tracker.print(f"training {algo} in {run_dir} for {budget}; {wandb_line}")
        if shard.world > 1:
            share = config.batch_size // shard.world
            tracker.print(
                f"data-parallel over {shard.world} processes: {share} of every batch of {config.batch_size} each"
            )
        summary = trainer.fit(algorithm, steps=steps, minutes=minutes)
        if not shard.is_main:
            exit_code = 0
            return summary
        report_started = time.time()
        if config.trainer.final_report:
            best = run_dir / "checkpoints" / "best.pt"
            weights = f"last weights, step {trainer.step}"
            if best.exists():
                step = trainer.load(best, restore_training_state=False).get("step")
                weights = f"best.pt, step {step}, by {config.trainer.monitor or cls.default_monitor}"
            results = algorithm.report()
            _write_eval(run_dir, results)
            tracker.update_summary(_scalars(results))
            if _scalars(results):
                tracker.print(f"final ({weights}) " + "  ".join(f"{k}={v:.4g}" for k, v in _scalars(results).items()))
        report_s = time.time() - report_started
        evaluating, total = trainer.eval_seconds + report_s, trainer.elapsed + report_s
        tracker.update_summary({"report_s": round(report_s, 3), "eval_share": evaluating / max(total, 1e-9)})
        tracker.print(
            f"evaluation took {evaluating:.0f} s of the run's {total:.0f} s ({evaluating / max(total, 1e-9):.0%})"
        )
        extra = algorithm.after_fit(run_dir)
        if extra:
            tracker.update_summary(extra)
        summary = dict(tracker.summary)
        exit_code = 0
        return summary
    finally:
        if algorithm is not None:
            algorithm.close()  # its workers, actors and envs, before the caller's next run
        tracker.close(exit_code)


def train(
    algo: str,
    config: RunConfig,
    run_dir: str | Path | None = None,
    overwrite: bool = False,
    callbacks: tuple[Callback, ...] = (),
) -> Path:
    """Start a new run in `run_dir` (refusing to overwrite one unless asked); returns its path."""
    cls = get_algo(algo)
    if not isinstance(config, cls.Config):
        raise ConfigError(f"algorithm '{algo}' needs a {cls.Config.__name__}, got {type(config).__name__}")
    validate(config)
    with run_shard(config.device) as shard:
        if shard.world > 1 and not run_dir:
            raise ConfigError("under torchrun give --run-dir: every process must write to (or read) the same run")
        run_dir = Path(run_dir) if run_dir else default_run_dir(algo, config)
        if shard.is_main:
            if run_dir.exists() and any(run_dir.iterdir()):
                if not overwrite:
                    raise RunDirError(
                        f"run directory '{run_dir}' already exists; pass --overwrite to replace it, "
                        f"`rlgen resume {run_dir}` to continue it, or another --run-dir"
                    )
                shutil.rmtree(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            save_yaml(config, run_dir / CONFIG_FILE, extra={"algo": algo})
        shard.barrier()
        _run(algo, config, run_dir, resume=False, callbacks=callbacks, shard=shard)
    return run_dir


def read_config(run_dir: str | Path) -> tuple[str, RunConfig]:
    """(algo name, config) from a run directory's config.yaml."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        parent = run_dir.parent
        try:
            siblings = [p.name for p in parent.iterdir() if p.is_dir()]
        except OSError:  # the parent is missing or unreadable too
            siblings = []
        match = close_matches(run_dir.name, siblings, n=1, cutoff=0.75)  # a typo of a run next to it
        hint = f" Did you mean '{parent / match[0]}'?" if match else ""
        raise RunDirError(
            f"run directory '{run_dir}' does not exist.{hint} Give the folder `rlgen train` wrote "
            "(runs/<algo>-<env|data>-<time>, or its --run-dir)."
        )
    if not (run_dir / CONFIG_FILE).is_file():
        inside = sorted(str(p.parent) for p in run_dir.glob(f"*/{CONFIG_FILE}")) if run_dir.is_dir() else []
        if inside:  # a folder of runs, e.g. runs/: name the runs in it
            more = f" and {len(inside) - 3} more" if len(inside) > 3 else ""
            fix = f"it holds the runs {', '.join(inside[:3])}{more}; give one of them"
        else:
            fix = "give the folder `rlgen train` wrote, which holds config.yaml and checkpoints/"
        raise RunDirError(f"'{run_dir}' is not a run directory (no {CONFIG_FILE}); {fix}.")
    data = load_yaml(run_dir / CONFIG_FILE)
    algo = data.pop("algo", None)
    if not algo:
        raise RunDirError(f"'{run_dir / CONFIG_FILE}' has no 'algo' key")
    return algo, from_dict(get_algo(algo).Config, data)


def resume(
    run_dir: str | Path,
    steps: int | None = None,
    minutes: float | None = None,
    callbacks: tuple[Callback, ...] = (),
) -> Path:
    """Continue a run from checkpoints/last.pt to `steps` (default: the config's), with the
    same `callbacks` hooks as `train`."""
    run_dir = Path(run_dir)
    algo, config = read_config(run_dir)
    if not (run_dir / "checkpoints" / "last.pt").exists():
        raise RunDirError(f"'{run_dir}' has no checkpoints/last.pt to resume from; start it again with rlgen train")
    if steps is not None:
        config.steps = steps
    if minutes is not None:
        config.minutes = minutes
    with run_shard(config.device) as shard:
        if shard.is_main:
            save_yaml(config, run_dir / CONFIG_FILE, extra={"algo": algo})
        shard.barrier()
        _run(algo, config, run_dir, resume=True, steps=steps, minutes=minutes, callbacks=callbacks, shard=shard)
    return run_dir


def resume_or_train(algo: str, config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Train into `run_dir`, or resume it if it holds an unfinished run; returns its summary."""
    summary_path = run_dir / SUMMARY_FILE
    status = json.loads(summary_path.read_text()).get("status", "") if summary_path.exists() else ""
    if status == "finished" or (status.startswith("stopped:") and "interrupted" not in status):
        return json.loads(summary_path.read_text())  # complete (early stopping and time budgets included)
    if (run_dir / "checkpoints" / "last.pt").exists():
        resume(run_dir)
    else:
        train(algo, config, run_dir, overwrite=True)
    return json.loads(summary_path.read_text())


def build_for_eval(
    run_dir: str | Path, checkpoint: str = "best", device: str | None = None
) -> tuple[Algorithm, Trainer, Tracker]:
    """Rebuild a run's algorithm with weights loaded from best.pt (or last.pt) for evaluation."""
    run_dir = Path(run_dir)
    algo, config = read_config(run_dir)
    if device:
        config.device = device
    ckpts = run_dir / "checkpoints"
    path = ckpts / f"{checkpoint}.pt"
    if not path.exists():
        path = ckpts / "last.pt"
    if not path.exists():
        raise CheckpointError(f"'{run_dir}' has no checkpoint to evaluate (looked for best.pt and last.pt in {ckpts})")
    eval_dir = run_dir
    tracker = _EvalTracker(eval_dir)
    trainer = Trainer(config, run_dir, tracker)
    algorithm = get_algo(algo)(config, trainer)
    trainer.algorithm = algorithm
    payload = trainer.load(path, restore_training_state=False)
    trainer.step = int(payload["step"])  # the weights' step: what the report's media are named after
    return algorithm, trainer, tracker


class _EvalTracker(Tracker):
    """A Tracker that leaves metrics.jsonl and W&B alone (evaluation writes eval.json)."""

    def __init__(self, run_dir: Path) -> None:
        from rlgen.config import WandbConfig

        self.run_dir = Path(run_dir)
        self.media_dir = self.run_dir / "media"
        self.metrics_path = self.run_dir / METRICS_FILE
        self.summary_path = self.run_dir / SUMMARY_FILE
        self.cfg = WandbConfig(mode="disabled")
        self.mode = "disabled"
        self.console = _console()
        self.latest = {}
        self.summary = {}
        self.wandb_run = None

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self.latest.update(metrics)

    def update_summary(self, values: dict[str, Any], write: bool = True) -> None:
        self.summary.update(values)

    def close(self, exit_code: int = 0) -> None:
        return None


class _RankTracker(_EvalTracker):
    """Ranks 1.. of a data-parallel run: nothing written, nothing printed."""

    def print(self, *args: Any, **kwargs: Any) -> None:
        return None

    def log_image(self, name: str, image: Any, step: int, caption: str | None = None) -> Path:
        return self.media_dir / f"{name}_{step}.png"

    def log_video(self, name: str, frames: Any, step: int, fps: int = 15) -> Path:
        return self.media_dir / f"{name}_{step}.gif"


def evaluate(
    run_dir: str | Path, output: str = "eval.json", checkpoint: str = "best", **options: Any
) -> dict[str, Any]:
    """Run the algorithm's full report on the run's best (or last) checkpoint; writes eval.json."""
    algorithm, _, _ = build_for_eval(run_dir, checkpoint)
    takes = inspect.signature(algorithm.report).parameters
    for option in options:
        if option not in takes:  # reports swallow unknown options (**_): say so rather than ignore one
            raise ConfigError(
                f"'{algorithm.name}' evaluation takes no '{option}' option; it takes: "
                f"{', '.join(k for k, p in takes.items() if p.kind is p.POSITIONAL_OR_KEYWORD) or 'none'}"
            )
    try:
        results = algorithm.report(**options)
    finally:
        algorithm.close()
    _write_eval(Path(run_dir), results, output)
    return results


@dataclass
class Run:
    """A run directory read back: config, metrics, summary and checkpoint paths."""

    path: Path
    algo: str
    config: RunConfig
    metrics: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    checkpoints: dict[str, Path] = field(default_factory=dict)

    def metric(self, name: str) -> list[tuple[int, float]]:
        """(step, value) pairs of one logged metric."""
        return [(m["step"], m[name]) for m in self.metrics if name in m]


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory (see the module docstring for its layout)."""
    run_dir = Path(run_dir)
    algo, config = read_config(run_dir)
    metrics = []
    metrics_path = run_dir / METRICS_FILE
    if metrics_path.exists():
        for line in metrics_path.read_text().splitlines():
            try:
                metrics.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a last line cut short by a kill
    summary_path = run_dir / SUMMARY_FILE
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    checkpoints = {p.stem: p for p in sorted((run_dir / "checkpoints").glob("*.pt"))}
    return Run(run_dir, algo, config, metrics, summary, checkpoints)


__all__ = ["Run", "build_for_eval", "evaluate", "load_run", "read_config", "resume", "train"]
