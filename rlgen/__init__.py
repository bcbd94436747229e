"""rlgen: a reinforcement-learning and generative-models lab on PyTorch.

The core knows nothing of games or images: device and precision, seeding, network
blocks, the Trainer, run tracking (console, metrics.jsonl, W&B), configs, run
directories and the CLI. `rlgen.envs`, `rlgen.agents` and `rlgen.generative` build on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rlgen.run import Run


def load_run(run_dir: Any) -> Run:
    """Read a run directory: Run(config, metrics, summary, checkpoint paths)."""
    from rlgen.run import load_run as _load_run

    return _load_run(run_dir)


def __getattr__(name: str) -> Any:
    # Lazy exports keep `import rlgen` (and so the CLI's start-up) light.
    lazy = {
        "Trainer": "rlgen.trainer",
        "Callback": "rlgen.trainer",
        "Algorithm": "rlgen.algorithm",
        "Tracker": "rlgen.tracking",
        "RunConfig": "rlgen.config",
        "OptimConfig": "rlgen.config",
        "TrainerConfig": "rlgen.config",
        "WandbConfig": "rlgen.config",
        "Run": "rlgen.run",
        "train": "rlgen.run",
        "resume": "rlgen.run",
        "evaluate": "rlgen.run",
        "register_algo": "rlgen.registry",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'rlgen' has no attribute '{name}'")


__all__ = ["__version__", "load_run"]
