"""Bandit agents on the reference problem: 9 Bernoulli arms with means 0.1, ..., 0.9,
1000 runs x 10,000 time steps each, through `rlgen train bandit` (checkpoints, plots and
the final report included). Prints mean / median / 95% final cumulative regret, % of
optimal pulls, and the wall and CPU time of each agent on one core. An agent may carry
config overrides: `ucb1:ucb_c=0.5`.

    .venv/bin/python benchmarks/bandits.py
    .venv/bin/python benchmarks/bandits.py --agents thompson_beta kl_ucb --runs 200
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy's and torch's pools stay at 1 thread

import argparse
import json
import tempfile
import time
from pathlib import Path

from rlgen.agents.bandits import AGENTS, BanditConfig
from rlgen.config import build_config
from rlgen.run import train

MEANS = "[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", nargs="+", default=[*AGENTS, "ucb1:ucb_c=0.5"], help="AGENT[:key=value,...]")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, spec in enumerate(args.agents):
            agent, _, extra = spec.partition(":")
            overrides = [
                f"agent={agent}",
                f"env_kwargs.means={MEANS}",
                f"runs={args.runs}",
                f"steps={args.steps}",
                f"seed={args.seed}",
                "wandb.mode=disabled",
                "trainer.progress=off",
                "device=cpu",
                *(item for item in extra.split(",") if item),
            ]
            cfg = build_config(BanditConfig, {}, overrides)
            start, cpu = time.perf_counter(), time.process_time()
            run = train("bandit", cfg, Path(tmp) / f"run{number}")
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            result = json.loads((run / "eval.json").read_text())
            rows.append((spec, result, wall, cpu))
            print(f"{spec}: regret {result['regret_mean']:.1f} in {wall:.1f} s ({cpu:.1f} s CPU)", flush=True)
    bound = rows[0][1].get("lai_robbins_bound", float("nan"))
    print(
        f"\n{args.runs} runs x {args.steps:,} steps, 9 Bernoulli arms 0.1..0.9, seed {args.seed}; "
        f"Lai-Robbins asymptotic bound at T: {bound:.1f}\n"
    )
    print("| agent | mean regret (± s.e.) | median | 95% | % optimal pulls | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|")
    for spec, r, wall, cpu in rows:
        print(
            f"| {spec} | {r['regret_mean']:.1f} ± {r['regret_sem']:.1f} | {r['regret_p50']:.1f} | "
            f"{r['regret_p95']:.1f} | {r['pct_optimal']:.1f} | {wall:.1f} | {cpu:.1f} |"
        )


if __name__ == "__main__":
    main()
