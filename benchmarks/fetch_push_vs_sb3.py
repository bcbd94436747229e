"""SAC + hindsight replay on a Fetch task, rlgen against stable-baselines3 side by side:
the same env steps and settings (rlgen's preset for the env, mirrored into SB3's SAC with
its HerReplayBuffer), both started at once, one core and one torch thread each.

    MUJOCO_GL=egl .venv/bin/python benchmarks/fetch_push_vs_sb3.py [--env FetchPush-v4]
        [--steps 300000] [--seed 0] [--out runs/push-vs-sb3] [--rlgen-set trainer.precision=bf16]

Each side is a real `rlgen train` run (W&B offline) in OUT/rlgen and OUT/sb3; a run that
was stopped is resumed where it stopped when the script is started again (`--report`: no
training, the runs as they stand, up to the step both reached). Reported: the greedy
success rate of every periodic evaluation (10 episodes) against env steps and minutes, the
minutes each side took to the last step both reached, and 50 test episodes of each side's
best.pt (`rlgen eval RUN --episodes 50`).

Settings the two sides cannot share: rlgen normalizes observations and goals by running
statistics on goal envs (HER's recipe); SB3's SAC has no such option for dict observations
outside VecNormalize, which its HER buffer does not take. Neither side uses it differently
from its own default.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RLGEN = [sys.executable, "-m", "rlgen.cli"]


def rlgen_settings(env: str) -> Any:
    """rlgen's SAC config for `env` (its preset over the defaults)."""
    from rlgen.agents.sac import SACConfig
    from rlgen.config import build_config

    return build_config(SACConfig, {}, [f"env={env}"])


def sb3_overrides(cfg: Any) -> list[str]:
    """SB3's SAC + HerReplayBuffer with rlgen's hyper-parameters, under SB3's names."""
    kwargs = {
        "learning_starts": cfg.learning_starts,
        "batch_size": cfg.batch_size,
        "gamma": cfg.gamma,
        "tau": cfg.tau,
        "learning_rate": cfg.optim.lr,
        "train_freq": cfg.train_freq,
        "gradient_steps": cfg.gradient_steps,
        "buffer_size": cfg.buffer_size,
        "ent_coef": cfg.ent_coef,
        "policy_kwargs.net_arch": json.dumps(list(cfg.hidden)),
    }
    sets = [f"algo_kwargs.{key}={value}" for key, value in kwargs.items()]
    sets += ["her=true", f"n_sampled_goal={cfg.n_sampled_goal}", f"eval_episodes={cfg.eval_episodes}"]
    sets.append(f"random_action_prob={cfg.random_action_prob}")  # rlgen's addition to SB3's SAC
    for key in ("log_every", "eval_every", "checkpoint_every"):
        sets.append(f"trainer.{key}={getattr(cfg.trainer, key)}")
    return sets


def launch(run_dir: Path, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`rlgen train ARGS`, or `rlgen resume` where the run stopped before its end."""
    summary = run_dir / "summary.json"
    if summary.exists() and json.loads(summary.read_text()).get("status") == "finished":
        return subprocess.Popen(["true"])
    if (run_dir / "checkpoints" / "last.pt").exists():
        command = [*RLGEN, "resume", str(run_dir)]
    else:
        command = [*RLGEN, *args, "--run-dir", str(run_dir), "--overwrite"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    return subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)


def evaluations(run_dir: Path) -> list[dict[str, float]]:
    """(step, success, minutes of the run) of every periodic evaluation."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    start = lines[0]["time"] - lines[0].get("charts/elapsed_s", 0.0)
    return [
        {"step": line["step"], "success": line["eval/success_rate"], "minutes": (line["time"] - start) / 60}
        for line in lines
        if "eval/success_rate" in line
    ]


def test_success(run_dir: Path, episodes: int) -> float:
    """Success rate of best.pt over `episodes` greedy episodes (`rlgen eval`'s eval.json)."""
    subprocess.run([*RLGEN, "eval", str(run_dir), "--episodes", str(episodes)], check=True, capture_output=True)
    return float(json.loads((run_dir / "eval.json").read_text())["success_rate"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="FetchPush-v4")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/push-vs-sb3"))
    parser.add_argument("--test-episodes", type=int, default=50)
    parser.add_argument("--report", action="store_true", help="no training: report the runs in OUT as they stand")
    parser.add_argument(
        "--rlgen-set", action="append", default=[], help="KEY=VALUE for rlgen's side alone (settings SB3 lacks)"
    )
    args = parser.parse_args()
    cfg = rlgen_settings(args.env)
    common = ["--env", args.env, "--steps", str(args.steps), "--wandb", "offline", "--set", f"seed={args.seed}"]
    common += ["--set", "trainer.progress=off", "--set", "trainer.threads=1"]
    sides = {
        "rlgen": ["train", "sac", *common, *(arg for s in args.rlgen_set for arg in ("--set", s))],
        "sb3": ["train", "sb3:SAC", *common, *(arg for s in sb3_overrides(cfg) for arg in ("--set", s))],
    }
    if not args.report:
        train_side_by_side(args.out, sides)

    curves = {name: evaluations(args.out / name) for name in sides}
    common_steps = min(len(curve) for curve in curves.values())
    print(f"SAC + HER on {args.env}, seed {args.seed}, side by side (one core each)")
    print("| env steps | rlgen success | rlgen min | SB3 success | SB3 min |\n|---|---|---|---|---|")
    for ours, theirs in zip(curves["rlgen"][:common_steps], curves["sb3"][:common_steps], strict=True):
        print(
            f"| {ours['step']:,} | {ours['success']:.2f} | {ours['minutes']:.1f} "
            f"| {theirs['success']:.2f} | {theirs['minutes']:.1f} |"
        )
    for name in sides:
        best = load_checkpoint_step(args.out / name / "checkpoints" / "best.pt")
        success = test_success(args.out / name, args.test_episodes)
        print(f"{name}: best.pt (step {best:,}): {args.test_episodes} test episodes, success {success:.2f}")
    last = {name: curve[common_steps - 1] for name, curve in curves.items()}
    ratio = last["rlgen"]["minutes"] / last["sb3"]["minutes"]
    print(f"wall time to {last['rlgen']['step']:,} env steps: rlgen / SB3 = {ratio:.2f}x (floor: <= 0.5x)")


def train_side_by_side(out: Path, sides: dict[str, list[str]]) -> None:
    """Both runs at once, each to its end (or resumed there)."""
    out.mkdir(parents=True, exist_ok=True)
    procs = {name: launch(out / name, argv, out / f"{name}.log") for name, argv in sides.items()}
    while any(proc.poll() is None for proc in procs.values()):
        time.sleep(5)
    for name, proc in procs.items():
        if proc.returncode:
            raise SystemExit(f"{name} failed (exit {proc.returncode}); see {out / name}.log")


def load_checkpoint_step(path: Path) -> int:
    from rlgen.checkpoint import load_checkpoint

    return int(load_checkpoint(path)["step"])


if __name__ == "__main__":
    main()
