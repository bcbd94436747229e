"""Shared test helpers: a tiny regression Algorithm and CLI runners."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from rlgen.algorithm import Algorithm
from rlgen.config import OptimConfig, RunConfig, TrainerConfig, WandbConfig
from rlgen.registry import ALGOS
from rlgen.trainer import Callback

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
RLGEN = [sys.executable, "-m", "rlgen.cli"]
IN_CI = os.environ.get("CI") == "true"


def needs_extra(*modules: str, install: str) -> pytest.MarkDecorator:
    """Skip a test whose optional extra is missing, saying how to install it; under CI=true
    (`make test` installs every extra) never skip, so a broken install fails the test."""
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    return pytest.mark.skipif(bool(missing) and not IN_CI, reason=f"{', '.join(missing)} missing: {install}")


@dataclass
class ToyConfig(RunConfig):
    """Linear regression y = X w* + noise, fitted by an MLP."""

    steps: int = 60
    batch_size: int = 32
    hidden: int = 16
    nan_at_step: int = 0
    """Inject a NaN loss at this step (0 = never)."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-2))
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            log_every=5, eval_every=10, checkpoint_every=20, progress="off", final_report=False
        )
    )
    wandb: WandbConfig = field(default_factory=lambda: WandbConfig(mode="disabled"))


class Toy(Algorithm):
    name = "toy"
    Config = ToyConfig
    description = "test-only regression task"
    default_monitor = "dev/loss"

    def __init__(self, config: ToyConfig, trainer) -> None:
        super().__init__(config, trainer)
        gen = torch.Generator().manual_seed(1234)
        self.x = torch.randn(512, 4, generator=gen)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.01 * torch.randn(512, generator=gen)
        net = nn.Sequential(nn.Linear(4, config.hidden), nn.Tanh(), nn.Dropout(0.1), nn.Linear(config.hidden, 1))
        self.model = trainer.add_model("model", net)
        trainer.add_optimizer("main", ["model"], config.optim)
        if trainer.tcfg.ema_decay > 0:
            trainer.add_ema("model")
        self.calls = 0

    def train_step(self) -> dict[str, float]:
        idx = torch.randint(0, len(self.x), (self.config.batch_size,))
        self.model.train()
        with self.trainer.autocast():
            pred = self.model(self.x[idx]).squeeze(-1)
        loss = ((pred.float() - self.y[idx]) ** 2).mean()
        if self.config.nan_at_step and self.trainer.current_step == self.config.nan_at_step:
            loss = loss * float("nan")
        metrics = self.trainer.optimize({"mse": loss})
        metrics["train/loss"] = float(loss.detach())
        return metrics

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        model = self.trainer.emas.get("model", self.model)
        model.eval()
        return {"dev/loss": float(((model(self.x).squeeze(-1) - self.y) ** 2).mean())}


@pytest.fixture(autouse=True)
def _register_toy():
    ALGOS["toy"] = Toy
    yield
    ALGOS.pop("toy", None)


def run_cli(
    *args: str, check: bool = True, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run `python -m rlgen.cli ARGS` in a subprocess."""
    full_env = {**os.environ, "WANDB_SILENT": "true", "MPLBACKEND": "Agg", **(env or {})}
    proc = subprocess.run([*RLGEN, *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlgen {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_same_state(a: Any, b: Any, path: str = "") -> None:
    """Nested checkpoint state (dicts, lists, tensors, arrays, numbers) equal bit for bit,
    naming the first path that differs."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"
        for key in a:
            assert_same_state(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


class LegalMovesOnly:
    """An agent that asserts each of its moves is legal under the env's own action mask:
    PettingZoo's wrapper ends a game on an illegal move and scores it as a loss, so a win /
    draw / loss table alone cannot tell. `moves` keeps what it played."""

    def __init__(self, agent: Any) -> None:
        self.agent, self.moves = agent, []

    def act(self, observation: dict[str, Any], action_mask: Any = None) -> int:
        action = int(self.agent.act(observation, action_mask))
        assert observation["action_mask"][action] == 1, f"illegal move {action}"
        self.moves.append(action)
        return action


class StopAt(Callback):
    """Stops a run at a step, as Ctrl-C would, with the config (and LR schedule) unchanged."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, metrics) -> None:
        trainer.should_stop = trainer.should_stop or trainer.step >= self.step


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole test session (2 CPUs, a small object store, no dashboard).
    Outside CI a missing `ray` skips with the install command; under CI=true it fails."""
    try:
        import ray
    except ImportError:
        if IN_CI:
            raise
        pytest.skip('Ray tests need the ray extra: pip install -e ".[ray]"')
    ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False, logging_level="warning")
    yield ray
    ray.shutdown()
