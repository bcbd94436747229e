"""Fingerprints of short training runs: a hash of each run's final weights and optimizer
state, so a refactor that must not change the arithmetic can be checked bit for bit.

    .venv/bin/python benchmarks/fingerprints.py before.json            # on the old code
    .venv/bin/python benchmarks/fingerprints.py after.json             # on the new code
    .venv/bin/python benchmarks/fingerprints.py after.json --compare before.json
    .venv/bin/python benchmarks/fingerprints.py out.json --cases dqn_cartpole ppo_cartpole

Each case trains one algorithm briefly (seconds to a minute on CPU) with fixed seeds; the
same code gives the same hashes on the same machine and torch build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlgen.config import build_config
from rlgen.registry import get_algo
from rlgen.run import train

QUIET = ["wandb.mode=disabled", "trainer.progress=off", "trainer.final_report=false", "trainer.eval_every=0"]
CONNECT4_DQN = ["env=rlgen/Connect4-v0", "train_freq=16", "gradient_steps=4", "learning_starts=128"]
CASES: dict[str, tuple[str, list[str]]] = {
    "dqn_cartpole": ("dqn", ["env=CartPole-v1", "steps=6144", "learning_starts=512"]),
    "dqn_c4": (
        "dqn",
        [*CONNECT4_DQN, "steps=1024", "num_envs=2", "buffer_size=600", "batch_size=32", "hidden=[32]"]
        + ["n_steps=3", "tau=0.5", "target_update_interval=64"],
    ),
    "dqn_c4_dueling": (
        "dqn",
        [*CONNECT4_DQN, "steps=512", "buffer_size=600", "batch_size=32", "hidden=[32]", "dueling=true"],
    ),
    "ppo_cartpole": ("ppo", ["env=CartPole-v1", "steps=4096"]),
    "ppo_c4": ("ppo", ["env=rlgen/Connect4-v0", "steps=1024"]),
    "ppo_pendulum": ("ppo", ["env=Pendulum-v1", "steps=2048", "n_steps=256"]),
    "ppo_vfclip": ("ppo", ["env=CartPole-v1", "steps=2048", "clip_range_vf=0.2"]),
    "a2c": ("a2c", ["env=CartPole-v1", "steps=2048"]),
    "reinforce": ("reinforce", ["env=CartPole-v1", "steps=2048"]),
    "az_ttt": (
        "alphazero",
        ["env=tictactoe", "steps=2", "games=16", "simulations=16", "train_steps=4", "workers=1", "elo_pool=none"],
    ),
    "az_c4": (
        "alphazero",
        ["env=connect4", "steps=1", "games=8", "simulations=16", "train_steps=2", "workers=1", "elo_pool=none"]
        + ["blocks=1", "channels=8"],
    ),
    "qlearning": ("qlearning", ["env=tictactoe", "steps=3000"]),
    "bandit": ("bandit", []),
    "gan": ("gan", ["data=digits", "steps=30", "metrics=false"]),
    "vae": ("vae", ["data=digits", "steps=30"]),
    "classifier": ("classifier", ["data=digits", "steps=30"]),
}


def digest(value: Any, sha: Any) -> None:
    """Feed tensors and arrays (nested in dicts and lists, dict keys sorted) into `sha`."""
    if isinstance(value, torch.Tensor):
        sha.update(value.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(value, np.ndarray):
        sha.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            digest(value[key], sha)
    elif isinstance(value, (list, tuple)):
        for item in value:
            digest(item, sha)


def fingerprint(algo: str, overrides: list[str]) -> dict[str, Any]:
    config = build_config(get_algo(algo).Config, {}, [*QUIET, *overrides])
    with tempfile.TemporaryDirectory() as tmp:
        run = train(algo, config, Path(tmp) / "run")
        checkpoint = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    out: dict[str, Any] = {"step": checkpoint.get("step")}
    for part in ("models", "optimizers", "states"):
        sha = hashlib.sha256()
        digest(checkpoint.get(part, {}), sha)
        out[part] = sha.hexdigest()[:16]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="JSON file to write the fingerprints to")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--compare", help="an earlier output to compare with, case by case")
    args = parser.parse_args()
    results = {name: fingerprint(*CASES[name]) for name in args.cases}
    Path(args.out).write_text(json.dumps(results, indent=1))
    earlier = json.loads(Path(args.compare).read_text()) if args.compare else {}
    for name, result in results.items():
        verdict = ""
        if name in earlier:
            verdict = "  same" if earlier[name] == result else f"  DIFFERS from {earlier[name]}"
        print(f"{name}: {result}{verdict}", flush=True)


if __name__ == "__main__":
    main()
