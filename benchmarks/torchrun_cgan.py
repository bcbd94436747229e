"""Data-parallel cgan training under torchrun against one process, side by side: images/s
of the mnist5k preset (global batch unchanged) with 1 process x 1 thread, 1 process x N
threads and N processes x 1 thread (`--nproc N`, gloo).

    .venv/bin/python benchmarks/torchrun_cgan.py [--nproc 2] [--steps 300]

Each row is a real `rlgen train cgan` run; images/s = the run's training steps/s (its
training time, start-up excluded) x batch_size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

QUIET = ["--wandb", "disabled", "--set", "trainer.progress=off", "--set", "trainer.final_report=false"]


def images_per_s(run_dir: Path, steps: int, extra: list[str]) -> float:
    common = ["train", "cgan", "--data", "mnist5k", "--steps", str(steps), *QUIET, "--set", "metrics=false"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rlgen.cli",
            *common,
            "--set",
            "trainer.eval_every=0",
            *extra,
            "--run-dir",
            str(run_dir),
        ],
        check=True,
        capture_output=True,
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    config = (run_dir / "config.yaml").read_text()
    batch = int(next(line.split(":")[1] for line in config.splitlines() if line.startswith("batch_size:")))
    return summary["step"] / summary["elapsed_s"] * batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    n = args.nproc
    rows = {
        "1 process x 1 thread": ["--set", "trainer.threads=1"],
        f"1 process x {n} threads": ["--set", f"trainer.threads={n}"],
        f"{n} processes x 1 thread": ["--set", "trainer.threads=1", "--nproc", str(n)],
    }
    with tempfile.TemporaryDirectory() as tmp:
        rates = {
            name: images_per_s(Path(tmp) / str(i), args.steps, extra) for i, (name, extra) in enumerate(rows.items())
        }
    base = rates["1 process x 1 thread"]
    for name, rate in rates.items():
        print(f"{name:24s} {rate:8.0f} images/s  ({rate / base:.2f}x)")


if __name__ == "__main__":
    main()
