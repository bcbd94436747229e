"""Data-parallel cgan training under torchrun against one process, side by side: images/s
of the mnist5k preset (global batch unchanged) with 1 process x 1 thread, 1 process x N
threads and N processes x 1 thread (`--nproc N`, gloo).

    .venv/bin/python benchmarks/torchrun_cgan.py [--nproc 2] [--steps 300]
    .venv/bin/python benchmarks/torchrun_cgan.py --to-floor [--steps 3000] [--eval-every 500]

Each row is a real `rlgen train cgan` run; images/s = the run's training steps/s (its
training time, start-up excluded) x batch_size. `--to-floor`: 1 process x N threads against
N processes x 1 thread, evaluating every `--eval-every` steps (500 samples read by the
reference classifier, trained once and cached first); the first evaluation that meets the
floors (conditional accuracy >= 97%, Frechet <= 2x real) gives the steps and the training
seconds to the floor.
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


ACCURACY_FLOOR, FRECHET_FLOOR = 0.97, 2.0


def time_to_floor(run_dir: Path, steps: int, eval_every: int, extra: list[str]) -> dict[str, float]:
    """A cgan run with periodic sample metrics: the first evaluation that meets both floors."""
    args = ["train", "cgan", "--data", "mnist5k", "--steps", str(steps), *QUIET, "--run-dir", str(run_dir)]
    args += ["--set", f"trainer.eval_every={eval_every}"]
    subprocess.run([sys.executable, "-m", "rlgen.cli", *args, *extra], check=True, capture_output=True)
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [line for line in lines if "metrics/frechet_ratio" in line]
    elapsed = {line["step"]: line["charts/elapsed_s"] for line in lines if "charts/elapsed_s" in line}
    earlier_eval_s = 0.0  # a step's elapsed_s includes the evaluations before it
    for line in evals:
        acc, ratio = line["metrics/conditional_accuracy"], line["metrics/frechet_ratio"]
        if acc >= ACCURACY_FLOOR and ratio <= FRECHET_FLOOR:
            return {"step": line["step"], "train_s": elapsed[line["step"]] - earlier_eval_s}
        earlier_eval_s += line.get("charts/eval_s", 0.0)
    return {"step": float("nan"), "train_s": float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--to-floor", action="store_true", help="steps and training time to the mnist5k floors")
    parser.add_argument("--eval-every", type=int, default=500)
    args = parser.parse_args()
    n = args.nproc
    if args.to_floor:
        rows = {
            f"1 process x {n} threads": ["--set", f"trainer.threads={n}"],
            f"{n} processes x 1 thread": ["--set", "trainer.threads=1", "--nproc", str(n)],
        }
        with tempfile.TemporaryDirectory() as tmp:
            for i, (name, extra) in enumerate(rows.items()):
                got = time_to_floor(Path(tmp) / str(i), args.steps, args.eval_every, extra)
                print(f"{name:24s} floor met at step {got['step']}, {got['train_s']:.0f} s of training")
        return
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
