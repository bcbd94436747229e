"""VAE floor: the default `vae` config on binarized mnist5k for a wall-clock budget
(floor: importance-weighted test NLL <= 110 nats with k = 1000 after 10 minutes on 2 CPU
cores), over several seeds; prints test ELBO, IW-NLL and the dev-ELBO-vs-time curve.

    .venv/bin/python benchmarks/vae_floor.py [--minutes 10] [--seeds 0 1 2] [--iw-samples 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from rlgen.config import build_config
from rlgen.generative.vae import VAEConfig
from rlgen.run import load_run, train


def dev_curve(run_dir: Path) -> list[tuple[float, float]]:
    """(training minutes, dev negative ELBO) at each evaluation."""
    run = load_run(run_dir)
    elapsed = dict(run.metric("charts/elapsed_s"))
    return [(elapsed.get(step, float("nan")) / 60, value) for step, value in run.metric("dev/nll_elbo")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data", default="mnist5k")
    parser.add_argument("--iw-samples", type=int, default=1000)
    parser.add_argument("--metrics", action="store_true", help="also compute the reference-classifier metrics")
    parser.add_argument("--keep", help="keep the run directories here (default: a temporary folder)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        for seed in args.seeds:
            cfg = build_config(
                VAEConfig,
                {},
                [
                    f"data={args.data}",
                    f"seed={seed}",
                    f"minutes={args.minutes}",
                    f"iw_samples={args.iw_samples}",
                    f"metrics={args.metrics}",
                    "wandb.mode=disabled",
                    "trainer.progress=off",
                ],
            )
            start = time.time()
            run = train("vae", cfg, root / f"vae-{args.data}-{seed}", overwrite=True)
            wall = time.time() - start
            summary = json.loads((run / "summary.json").read_text())
            print(
                f"seed {seed}: {summary['step']} steps in {summary['elapsed_s'] / 60:.1f} min; best dev ELBO "
                f"{summary['best/value']:.2f} at step {summary['best/step']}; "
                f"test ELBO {summary['test/nll_elbo']:.2f}, "
                f"IW-NLL (k={args.iw_samples}) {summary['test/nll_iw']:.2f} nats; report took "
                f"{wall - summary['elapsed_s']:.0f} s",
                flush=True,
            )
            print("  dev ELBO vs minutes: " + ", ".join(f"{m:.1f}:{v:.1f}" for m, v in dev_curve(run)), flush=True)
            rows.append((seed, summary))
    print(
        f"\n| seed | steps | minutes | best dev ELBO | test ELBO | test IW-NLL (k={args.iw_samples}) | active units |"
    )
    print("|---|---|---|---|---|---|---|")
    for seed, s in rows:
        print(
            f"| {seed} | {s['step']} | {s['elapsed_s'] / 60:.1f} | {s['best/value']:.2f} | {s['test/nll_elbo']:.2f} | "
            f"{s['test/nll_iw']:.2f} | {s['test/active_units']:.0f} |"
        )
    nll = [s["test/nll_iw"] for _, s in rows]
    print(f"\nIW-NLL mean {np.mean(nll):.2f}, worst {np.max(nll):.2f} (floor 110)")


if __name__ == "__main__":
    main()
