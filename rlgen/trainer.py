"""The one Trainer under every algorithm: optimizers, precision, the loop, evaluation,
early stopping, NaN guard, EMA, callbacks, progress, checkpoints and exact resume."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from rlgen import distributed
from rlgen.algorithm import Algorithm
from rlgen.checkpoint import load_checkpoint, save_checkpoint
from rlgen.config import OptimConfig, RunConfig
from rlgen.device import autocast, flush_denormals, resolve_precision, select_device, set_threads
from rlgen.errors import CheckpointError, ConfigError, NonFiniteLossError
from rlgen.optim import (
    EMAUpdate,
    build_optimizer,
    build_scheduler,
    clip_gradients,
    penalty,
    step_optimizer,
    weight_params,
)
from rlgen.seeding import get_rng_state, seed_everything, set_rng_state
from rlgen.tracking import Tracker

MAX_CONSECUTIVE_SKIPS = 25
RANK_SEED_STRIDE = 1_000_003
"""Rank r of a data-parallel run seeds its global RNGs with seed + r * this."""
PRINT_EVERY_S = 15.0


class Callback:
    """Hooks into the training loop; set `trainer.should_stop = True` to stop it."""

    def on_train_start(self, trainer: Trainer) -> None: ...
    def on_step_end(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...
    def on_eval_end(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...
    def on_checkpoint(self, trainer: Trainer, path: Path) -> None: ...
    def on_train_end(self, trainer: Trainer) -> None: ...


@dataclass
class _Optimizer:
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler | None
    cfg: OptimConfig
    params: list[nn.Parameter]
    weights: list[nn.Parameter]
    models: list[str] = field(default_factory=list)


PENDING_EVAL = "eval-{step}.pt"
"""The checkpoint of a step whose evaluation runs beside training: it becomes best.pt or goes."""


def monitor_mode(name: str, mode: str) -> str:
    """'min' or 'max' for a monitored metric; auto = min for losses, errors, regret, FID / Frechet."""
    if mode in ("min", "max"):
        return mode
    lowered = name.lower()
    return "min" if any(w in lowered for w in ("loss", "error", "regret", "fid", "frechet", "nll", "bpd")) else "max"


class Trainer:
    """Runs an Algorithm: call `add_model` / `add_optimizer` from its constructor,
    `optimize(losses)` from its `train_step`, then `fit()` drives the loop."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | Path,
        tracker: Tracker | None = None,
        callbacks: Sequence[Callback] = (),
        shard: distributed.Shard | None = None,
    ) -> None:
        self.config = config
        self.tcfg = config.trainer
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.tracker = tracker or Tracker(self.run_dir)
        self.callbacks = list(callbacks)
        self.shard = shard or distributed.Shard()  # a rank of a torchrun group, or alone
        self.device = select_device(config.device)
        if self.shard.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", self.shard.local_rank)
        set_threads(self.tcfg.threads, self.device)
        # Ranks draw their own noise and dropout; the models are rank 0's (broadcast in fit).
        seed_everything(config.seed + RANK_SEED_STRIDE * self.shard.rank, self.tcfg.deterministic)
        self.amp_dtype = resolve_precision(self.tcfg.precision, self.device)
        if self.amp_dtype is torch.float16 and self.device.type not in ("cuda", "cpu"):
            raise ConfigError(f"precision fp16 needs a CUDA or CPU device, not {self.device.type}")
        if self.amp_dtype is torch.float16 and self.shard.world > 1:
            raise ConfigError("fp16 loss scaling is per process; under torchrun use trainer.precision=bf16 or fp32")
        self.models: dict[str, nn.Module] = {}
        self._raw_models: dict[str, nn.Module] = {}
        self.optimizers: dict[str, _Optimizer] = {}
        self.emas: dict[str, AveragedModel] = {}
        self._ema_updates: dict[str, EMAUpdate] = {}
        self.states: dict[str, Any] = {}
        self.eval_states: set[str] = set()
        self.algorithm: Algorithm | None = None
        self.step = 0
        self.current_step = 0
        self.elapsed = 0.0
        self.should_stop = False
        self.stop_reason = ""
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.skipped_steps = 0
        self._consecutive_skips = 0
        self._acc: dict[str, list[float]] = {}
        self._last_eval_step = -1
        self._evals_in_flight: list[int] = []  # steps whose evaluation runs beside training
        self.eval_seconds = 0.0  # wall time spent in evaluate(), over the whole run
        self._last_eval_cost = 0.0  # the latest evaluation's seconds: what the final one is expected to take
        self._last_train: dict[str, float] = {}
        self._last_print = 0.0

    # ------------------------------------------------------------------ building

    def add_model(self, name: str, model: nn.Module) -> nn.Module:
        """Register a model: moved to the device, checkpointed, optionally compiled."""
        if name in self.models:
            raise ConfigError(f"a model named '{name}' is already registered")
        if self.shard.world > 1 and self.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # batch statistics over all ranks
        model = model.to(self.device)
        self._raw_models[name] = model
        self.models[name] = torch.compile(model) if self.tcfg.compile else model
        return self.models[name]

    def add_optimizer(
        self,
        name: str,
        models: Sequence[str],
        cfg: OptimConfig,
        extra_params: Sequence[nn.Parameter] = (),
        total_steps: int | None = None,
    ) -> torch.optim.Optimizer:
        """Create an optimizer (+ schedule, + fp16 grad scaler) over the named models."""
        missing = [m for m in models if m not in self._raw_models]
        if missing:
            raise ConfigError(
                f"add_optimizer('{name}'): unknown models {missing}; registered: {list(self._raw_models)}"
            )
        params = [p for m in models for p in self._raw_models[m].parameters() if p.requires_grad]
        params += list(extra_params)
        optimizer = build_optimizer(params, cfg)
        scheduler = build_scheduler(optimizer, cfg, total_steps or self.config.steps)
        scaler = torch.amp.GradScaler(self.device.type) if self.amp_dtype is torch.float16 else None
        self.optimizers[name] = _Optimizer(
            optimizer, scheduler, scaler, cfg, params, weight_params(params), list(models)
        )
        return optimizer

    def add_ema(self, model: str, decay: float | None = None) -> AveragedModel:
        """Keep an exponential moving average of a model, updated after each of its steps."""
        decay = self.tcfg.ema_decay if decay is None else decay
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"EMA decay must be in (0, 1), got {decay}")
        ema = AveragedModel(self._raw_models[model], multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.emas[model] = ema
        self._ema_updates[model] = EMAUpdate(ema, self._raw_models[model], decay)
        return ema

    def register_state(self, name: str, obj: Any, for_eval: bool = False) -> None:
        """Checkpoint any object with state_dict()/load_state_dict() (e.g. a replay buffer).
        `for_eval=True`: evaluation needs it too (it is what the algorithm acts with, e.g. a
        bandit's arm estimates), so it is loaded with the model weights, not only on resume."""
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise TypeError(f"register_state('{name}'): object needs state_dict() and load_state_dict()")
        self.states[name] = obj
        if for_eval:
            self.eval_states.add(name)

    # ------------------------------------------------------------------ stepping

    @contextmanager
    def autocast(self) -> Iterator[None]:
        """Mixed-precision context for forward passes (no-op in fp32)."""
        with autocast(self.device, self.amp_dtype):
            yield

    def optimize(
        self,
        losses: dict[str, torch.Tensor],
        optimizer: str = "main",
        grads: Sequence[tuple[nn.Parameter, torch.Tensor]] | None = None,
    ) -> dict[str, float]:
        """Backward the sum of loss terms and step one optimizer, with the penalties,
        clipping, fp16 scaling, schedule and EMA the config asks for.

        Each term is checked first: a NaN/Inf term stops the run naming the step and the
        term (or skips the step with nan_policy=skip). Returns scalar metrics to log.
        `grads`: (parameter, gradient) pairs of the sum of `losses` that the caller computed
        itself (a hand-written backward, see `takes_gradients`): no backward pass then.
        """
        if optimizer not in self.optimizers:
            raise ConfigError(f"unknown optimizer '{optimizer}'; registered: {list(self.optimizers)}")
        opt = self.optimizers[optimizer]
        if grads is not None and not self.takes_gradients(optimizer):
            raise ValueError(
                f"optimizer '{optimizer}' adds l1/l2 penalties or fp16 loss scaling, which gradients computed "
                "outside autograd do not include; call optimize(losses) without grads"
            )
        suffix = "" if optimizer == "main" else f"_{optimizer}"
        terms = dict(losses)
        terms.update(penalty(opt.weights, opt.cfg.l1, opt.cfg.l2))
        values = list(terms.values())
        if not values:
            raise ValueError("optimize() needs at least one loss term")
        total = values[0]
        for value in values[1:]:  # not sum(): its 0 + ... is one more op and autograd node per step
            total = total + value
        finite = math.isfinite(total.item()) if total.dim() == 0 else bool(torch.isfinite(total.detach()).all())
        if self.shard.world > 1:  # every rank skips (or stops) together
            finite = distributed.all_true(finite, self.device)
        if not finite:  # one check per step (one op for a scalar); name the culprits only when needed
            bad = [name for name, value in terms.items() if not torch.isfinite(value.detach()).all()]
            return self._non_finite(bad or ["sum of the terms"], terms, optimizer)
        for param in opt.params:  # zero_grad(set_to_none=True) without its profiler wrapper
            param.grad = None
        if grads is not None:
            for param, grad in grads:
                param.grad = grad
        elif opt.scaler is not None:
            opt.scaler.scale(total).backward()
            opt.scaler.unscale_(opt.optimizer)
        else:
            total.backward()
        if self.shard.world > 1:
            distributed.average_gradients(opt.params, self.shard.world)
        max_norm = opt.cfg.grad_clip if opt.cfg.grad_clip > 0 else math.inf
        grad_norm = clip_gradients(opt.params, max_norm)
        if opt.scaler is None and not math.isfinite(grad_norm):
            return self._non_finite([f"gradient of {'+'.join(losses)}"], terms, optimizer)
        stepped = True
        if opt.scaler is not None:
            scale = opt.scaler.get_scale()
            opt.scaler.step(opt.optimizer)
            opt.scaler.update()
            # The scaler skips steps whose gradients overflowed (and lowers its scale);
            # the schedule and EMA then stay where they are too.
            stepped = opt.scaler.get_scale() >= scale
        else:
            step_optimizer(opt.optimizer)
        metrics = {f"train/grad_norm{suffix}": grad_norm, f"train/lr{suffix}": opt.scheduler.get_last_lr()[0]}
        if not stepped:
            return metrics
        opt.scheduler.step()
        self._consecutive_skips = 0
        for model in opt.models:
            if model in self._ema_updates:
                self._ema_updates[model]()
        metrics.update({f"train/{k}{suffix}": float(v.detach()) for k, v in terms.items() if k.endswith("_penalty")})
        return metrics

    def takes_gradients(self, optimizer: str = "main") -> bool:
        """Whether `optimize(losses, optimizer, grads=...)` can step this optimizer: no l1/l2
        penalties and no fp16 loss scaling, which only autograd would add."""
        opt = self.optimizers[optimizer]
        return opt.scaler is None and opt.cfg.l1 <= 0 and opt.cfg.l2 <= 0

    def _non_finite(self, bad: list[str], terms: dict[str, torch.Tensor], optimizer: str) -> dict[str, float]:
        opt = self.optimizers[optimizer]
        opt.optimizer.zero_grad(set_to_none=True)
        shown = ", ".join(
            f"'{name}' = {float(terms[name].detach().float().mean()) if name in terms else 'inf/nan'}" for name in bad
        )
        message = (
            f"non-finite loss at step {self.current_step}: {shown} (optimizer '{optimizer}', lr "
            f"{opt.scheduler.get_last_lr()[0]:.3g}). Likely causes: a learning rate too high for this "
            "model; exploding gradients (set optim.grad_clip, e.g. 1.0); fp16 overflow (use "
            "trainer.precision=bf16 or fp32); log or division of zero in the loss; NaN/Inf in the "
            "input data. To skip such steps instead, set trainer.nan_policy=skip."
        )
        if self.tcfg.nan_policy == "stop":
            raise NonFiniteLossError(message)
        self.skipped_steps += 1
        self._consecutive_skips += 1
        if self._consecutive_skips > MAX_CONSECUTIVE_SKIPS:
            raise NonFiniteLossError(f"{MAX_CONSECUTIVE_SKIPS} steps in a row skipped; last: {message}")
        self.tracker.print(f"[yellow]skipped step {self.current_step}[/yellow]: {message}")
        return {"train/skipped_steps": float(self.skipped_steps)}

    # ------------------------------------------------------------------ loop

    def fit(self, algorithm: Algorithm, steps: int | None = None, minutes: float | None = None) -> dict[str, Any]:
        """Train until `steps` (total, in the algorithm's unit), the time budget, early
        stopping or a callback says stop. Checkpoints as it goes and at the end."""
        self.algorithm = algorithm
        target = self.config.steps if steps is None else steps
        budget = (self.config.minutes if minutes is None else minutes) * 60.0
        monitor = self.tcfg.monitor or algorithm.default_monitor
        started = time.time()
        start_elapsed = self.elapsed
        self.should_stop, self.stop_reason = False, ""
        if self.shard.world > 1:
            for module in [*self._raw_models.values(), *self.emas.values()]:
                distributed.broadcast_module(module)
        if self.shard.is_main:  # evaluations a killed run had in flight, other than the ones it resubmits
            for stale in self.ckpt_dir.glob(PENDING_EVAL.format(step="*")):
                if stale.name not in {PENDING_EVAL.format(step=s) for s in self._evals_in_flight}:
                    stale.unlink(missing_ok=True)
        for cb in self.callbacks:
            cb.on_train_start(self)
        progress = self._progress(target)
        task = progress.add_task(algorithm.name, total=target, completed=self.step) if progress else None
        status = "failed"
        try:
            with self._polite_sigint(), flush_denormals(self.tcfg.flush_denormal):
                self._loop(algorithm, target, budget, started, start_elapsed, monitor, progress, task)
            if self.should_stop and not self.stop_reason:
                self.stop_reason = "stopped by a callback"
            self._flush_log(target)
            if self._last_eval_step != self.step:
                self._evaluate(monitor)
            waited = time.time()
            self._collect_evaluations(monitor, wait=True)
            self.eval_seconds += time.time() - waited
            status = "stopped: " + self.stop_reason if self.stop_reason else "finished"
            self.elapsed = start_elapsed + time.time() - started
            self.save(status=status)
        except BaseException as exc:
            # The last checkpoint stays as it was: a step cut in half is never saved.
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {type(exc).__name__}"
            self.tracker.update_summary({"status": status, "step_failed": self.current_step})
            raise
        finally:
            if progress is not None:
                progress.stop()
            for cb in self.callbacks:
                cb.on_train_end(self)
        if self.stop_reason:
            self.tracker.print(f"stopped at step {self.step}: {self.stop_reason}")
        return dict(self.tracker.summary)

    def _loop(
        self,
        algorithm: Algorithm,
        target: int,
        budget: float,
        started: float,
        start_elapsed: float,
        monitor: str,
        progress: Any,
        task: Any,
    ) -> None:
        step_cost = 0.0  # the latest train_step's seconds: what the next one is expected to take
        while True:
            # The budget covers the next step and what ends the run (the last evaluation and
            # the final report, each expected to cost one evaluation): stop when they would not fit.
            # Evaluations beside training still running are waited for at the end too.
            waits = 1 + len(self._evals_in_flight) + (1 if self.tcfg.final_report else 0)
            ending = self._last_eval_cost * waits
            over_budget = budget > 0 and time.time() - started + step_cost + ending >= budget
            if self.shard.world > 1:  # rank 0's clock and evaluations decide for every rank
                over_budget, self.should_stop = distributed.rank0_decides([over_budget, self.should_stop], self.device)
            if self.step >= target or self.should_stop:
                break
            if over_budget:
                self.stop_reason = f"time budget of {budget / 60:.3g} min reached"
                break
            before = self.step
            self.current_step = self.step + algorithm.steps_per_call
            step_started = time.time()
            metrics = algorithm.train_step()
            step_cost = time.time() - step_started
            self.step += algorithm.steps_per_call
            self.elapsed = start_elapsed + time.time() - started
            self._accumulate(metrics)
            if self._crossed(before, self.tcfg.log_every) or self.step >= target:
                self._flush_log(target)
            self._collect_evaluations(monitor)
            if self.tcfg.eval_every and self._crossed(before, self.tcfg.eval_every):
                self._evaluate(monitor)
            for cb in self.callbacks:
                cb.on_step_end(self, metrics)
            if self._crossed(before, self.tcfg.checkpoint_every):
                self.save()
            if progress is not None:
                progress.update(task, completed=self.step, description=self._describe())

    @contextmanager
    def _polite_sigint(self) -> Iterator[None]:
        """First Ctrl-C: finish the current step, checkpoint and stop. Second: abort now."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self.should_stop and self.stop_reason.startswith("interrupted"):
                raise KeyboardInterrupt
            self.should_stop = True
            self.stop_reason = "interrupted by Ctrl-C (rlgen resume continues it)"
            self.tracker.print("Ctrl-C: finishing this step and checkpointing; press again to abort without saving")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _crossed(self, before: int, every: int) -> bool:
        return every > 0 and before // every != self.step // every

    def _accumulate(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            sums = self._acc.setdefault(key, [0.0, 0.0])
            sums[0] += float(value)
            sums[1] += 1.0

    def _flush_log(self, target: int) -> None:
        if not self._acc:
            return
        averaged = {k: s / n for k, (s, n) in self._acc.items() if n > 0}
        averaged["charts/elapsed_s"] = self.elapsed
        averaged["charts/steps_per_s"] = self.step / self.elapsed if self.elapsed > 0 else 0.0
        self._acc = {}
        self.tracker.log(averaged, self.step)
        self._last_train = averaged
        # Without a progress bar, a console line every PRINT_EVERY_S keeps logs readable.
        if not self._progress_on() and time.time() - self._last_print >= PRINT_EVERY_S:
            self._print_line(target)

    def _evaluate(self, monitor: str) -> None:
        assert self.algorithm is not None
        if not self.shard.is_main:  # rank 0 evaluates; its verdicts reach the others in _loop
            return
        started = time.time()
        if self.algorithm.submit_evaluation():
            # Evaluated beside training: this step's state waits in eval-STEP.pt for its verdict.
            self._last_eval_step = self.step
            self._evals_in_flight.append(self.step)
            save_checkpoint(self.state_payload(), self.ckpt_dir / PENDING_EVAL.format(step=self.step))
            self.eval_seconds += time.time() - started
            return
        metrics = self.algorithm.evaluate()
        self._last_eval_cost = time.time() - started
        self.eval_seconds += self._last_eval_cost
        self._last_eval_step = self.step
        self._record_evaluation(metrics, monitor, self._last_eval_cost)

    def _collect_evaluations(self, monitor: str, wait: bool = False) -> None:
        """Record the evaluations that ran beside training and have ended (all, if `wait`)."""
        assert self.algorithm is not None
        if not self.shard.is_main:
            return
        for step, metrics, seconds in self.algorithm.finished_evaluations(wait):
            self._evals_in_flight.remove(step)
            pending = self.ckpt_dir / PENDING_EVAL.format(step=step)
            if metrics:  # a failed evaluation returns none
                self._last_eval_cost = seconds  # what the last evaluation is expected to keep the run waiting
                metrics = {**metrics, "eval/weights_step": float(step)}
                self._record_evaluation(metrics, monitor, seconds, pending, step)
            pending.unlink(missing_ok=True)

    def _record_evaluation(
        self,
        metrics: dict[str, float],
        monitor: str,
        seconds: float,
        weights: Path | None = None,
        step: int | None = None,
    ) -> None:
        """Log an evaluation's metrics; keep best.pt and early stopping by `monitor`. best.pt
        is written from this step's state, or is `weights` (a checkpoint of `step`) when the
        evaluation ran beside training on earlier weights."""
        if not metrics:
            return
        share = self.eval_seconds / max(self.elapsed + self._last_eval_cost, 1e-9)
        self.tracker.log({**metrics, "charts/eval_s": seconds, "charts/eval_share": share}, self.step)
        for cb in self.callbacks:
            cb.on_eval_end(self, metrics)
        if monitor and monitor in metrics:
            value = float(metrics[monitor])
            mode = monitor_mode(monitor, self.tcfg.monitor_mode)
            delta = self.tcfg.early_stop_min_delta
            improved = self.best_value is None or (
                value < self.best_value - delta if mode == "min" else value > self.best_value + delta
            )
            if improved:
                self.best_value, self.bad_evals = value, 0
                self.best_step = self.step if step is None else step
                if weights is None:
                    self.save(best=True)
                else:
                    best = self.ckpt_dir / "best.pt"
                    os.replace(weights, best)
                    self.tracker.update_summary(
                        {"best/metric": monitor, "best/value": self.best_value, "best/step": self.best_step}
                    )
                    self._announce_checkpoint(best, self.best_step)
            else:
                self.bad_evals += 1
                patience = self.tcfg.early_stop_patience
                if patience and self.bad_evals >= patience:
                    self.should_stop = True
                    self.stop_reason = (
                        f"early stopping: {monitor} has not improved for {patience} evaluations "
                        f"(best {self.best_value:.4g} at step {self.best_step})"
                    )
        elif monitor and self.tcfg.monitor:
            raise ConfigError(
                f"trainer.monitor '{monitor}' is not among the eval metrics; available: {', '.join(sorted(metrics))}"
            )
        if not self._progress_on():
            self._print_line(self.config.steps, metrics)

    # ------------------------------------------------------------------ console

    def _progress_on(self) -> bool:
        if self.tcfg.progress == "on":
            return True
        return self.tcfg.progress == "auto" and sys.stderr.isatty()

    def _progress(self, target: int) -> Any:
        if not self._progress_on():
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("[cyan]{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=getattr(self.tracker, "console", None),
            transient=False,
        )
        progress.start()
        return _RateProgress(progress)

    def _describe(self) -> str:
        latest = self.tracker.latest
        keys = [k for k in latest if k.startswith(("train/loss", "dev/", "eval/"))][:3]
        return "  ".join(f"{k}={_fmt(latest[k])}" for k in keys) or (self.algorithm.name if self.algorithm else "")

    def _print_line(self, target: int, eval_metrics: dict[str, float] | None = None) -> None:
        """One console line: step, the latest training losses and any eval metrics."""
        train = {k: v for k, v in self._last_train.items() if k.startswith(("train/loss", "losses/"))}
        train["steps/s"] = self._last_train.get("charts/steps_per_s", 0.0)
        shown = {**train, **(eval_metrics or {})}
        self.tracker.print(f"step {self.step}/{target}  " + "  ".join(f"{k}={_fmt(v)}" for k, v in shown.items()))
        self._last_print = time.time()

    # ------------------------------------------------------------------ checkpoints

    def state_payload(self) -> dict[str, Any]:
        """Everything needed to continue exactly: models, optimizers, schedules, scalers,
        EMAs, RNG states, counters and the algorithm's own state."""
        optimizers = {}
        for name, opt in self.optimizers.items():
            sched = {k: v for k, v in opt.scheduler.state_dict().items() if k != "lr_lambdas"}
            optimizers[name] = {
                "optimizer": opt.optimizer.state_dict(),
                "scheduler": sched,
                "scaler": opt.scaler.state_dict() if opt.scaler is not None else None,
            }
        return {
            "algo": self.algorithm.name if self.algorithm else "",
            "step": self.step,
            "elapsed": self.elapsed,
            "models": {n: m.state_dict() for n, m in self._raw_models.items()},
            "optimizers": optimizers,
            "emas": {n: e.state_dict() for n, e in self.emas.items()},
            "states": {n: s.state_dict() for n, s in self.states.items()},
            "algorithm": self.algorithm.state_dict() if self.algorithm else {},
            "trainer": {
                "best_value": self.best_value,
                "best_step": self.best_step,
                "bad_evals": self.bad_evals,
                "skipped_steps": self.skipped_steps,
                "acc": {k: list(v) for k, v in self._acc.items()},
                "last_eval_step": self._last_eval_step,
                "eval_seconds": self.eval_seconds,
                "last_eval_cost": self._last_eval_cost,
                "evals_in_flight": list(self._evals_in_flight),
            },
            "rng": get_rng_state(),
        }

    def save(self, best: bool = False, status: str = "running") -> Path:
        """Write checkpoints/last.pt (or best.pt) atomically and refresh summary.json."""
        path = self.ckpt_dir / ("best.pt" if best else "last.pt")
        # best.pt is rank 0's alone (it evaluates); last.pt carries every rank's RNGs for resume.
        rank_rngs = distributed.gather_to_rank0(get_rng_state()) if self.shard.world > 1 and not best else None
        if not self.shard.is_main:
            return path
        payload = self.state_payload()
        if rank_rngs is not None:
            payload["rank_rng"] = rank_rngs
        save_checkpoint(payload, path)
        summary: dict[str, Any] = {
            "step": self.step,
            "elapsed_s": round(self.elapsed, 3),
            "eval_s": round(self.eval_seconds, 3),
        }
        if not best:
            summary["status"] = status
        if self.best_value is not None:
            monitor = self.tcfg.monitor or (self.algorithm.default_monitor if self.algorithm else "")
            summary.update({"best/metric": monitor, "best/value": self.best_value, "best/step": self.best_step})
        summary.update(self.tracker.latest)
        self.tracker.update_summary(summary)
        self._announce_checkpoint(path, self.step)
        return path

    def _announce_checkpoint(self, path: Path, step: int) -> None:
        """A new checkpoint file: to W&B as an artifact (when asked) and to the callbacks."""
        if self.tracker.cfg.log_checkpoints:
            self.tracker.log_artifact(
                path, name=f"{self.run_dir.name}-{path.stem}", aliases=[path.stem, f"step-{step}"]
            )
        for cb in self.callbacks:
            cb.on_checkpoint(self, path)

    def load(self, path: str | Path, restore_training_state: bool = True) -> dict[str, Any]:
        """Load a checkpoint into the registered models (and, for resume, everything else)."""
        payload = load_checkpoint(path, map_location=self.device)
        expected = self.algorithm.name if self.algorithm else payload.get("algo")
        if payload.get("algo") != expected:
            raise CheckpointError(f"checkpoint '{path}' is from algorithm '{payload.get('algo')}', not '{expected}'")
        try:
            for name, model in self._raw_models.items():
                model.load_state_dict(payload["models"][name])
            for name, ema in self.emas.items():
                if name in payload.get("emas", {}):
                    ema.load_state_dict(payload["emas"][name])
            for name in self.eval_states:
                self.states[name].load_state_dict(payload["states"][name])
            if not restore_training_state:
                return payload
            for name, opt in self.optimizers.items():
                saved = payload["optimizers"][name]
                opt.optimizer.load_state_dict(saved["optimizer"])
                opt.scheduler.load_state_dict(
                    {**saved["scheduler"], "lr_lambdas": [None] * len(opt.optimizer.param_groups)}
                )
                if opt.scaler is not None and saved.get("scaler"):
                    opt.scaler.load_state_dict(saved["scaler"])
            for name, obj in self.states.items():
                if name not in self.eval_states:
                    obj.load_state_dict(payload["states"][name])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint '{path}' does not fit this run's models/optimizers "
                f"({type(exc).__name__}: {str(exc).splitlines()[0]}); was the config changed since it was written?"
            ) from None
        if self.algorithm is not None:
            self.algorithm.load_state_dict(payload.get("algorithm", {}))
        self.step = int(payload["step"])
        self.elapsed = float(payload.get("elapsed", 0.0))
        saved_trainer = payload.get("trainer", {})
        self.best_value = saved_trainer.get("best_value")
        self.best_step = saved_trainer.get("best_step")
        self.bad_evals = int(saved_trainer.get("bad_evals", 0))
        self.skipped_steps = int(saved_trainer.get("skipped_steps", 0))
        self._acc = {k: list(v) for k, v in saved_trainer.get("acc", {}).items()}
        self._last_eval_step = int(saved_trainer.get("last_eval_step", -1))
        self.eval_seconds = float(saved_trainer.get("eval_seconds", 0.0))
        self._last_eval_cost = float(saved_trainer.get("last_eval_cost", 0.0))
        self._evals_in_flight = [int(s) for s in saved_trainer.get("evals_in_flight", [])]
        rank_rngs = payload.get("rank_rng")
        if self.shard.world > 1 and rank_rngs and len(rank_rngs) == self.shard.world:
            set_rng_state(rank_rngs[self.shard.rank])
        elif self.shard.is_main:
            set_rng_state(payload["rng"])  # other ranks keep their own seeds (a new world size)
        return payload


class _RateProgress:
    """A rich Progress that also shows the step rate in a custom field."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self._start = time.time()
        self._start_step: int | None = None

    def add_task(self, description: str, total: int, completed: int) -> Any:
        self._start_step = completed
        return self.progress.add_task(description, total=total, completed=completed, rate="")

    def update(self, task: Any, completed: int, description: str) -> None:
        dt = time.time() - self._start
        rate = (completed - (self._start_step or 0)) / dt if dt > 0 else 0.0
        self.progress.update(task, completed=completed, description=description, rate=f"{rate:,.1f} steps/s")

    def stop(self) -> None:
        self.progress.stop()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
