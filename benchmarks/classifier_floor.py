"""Reference-classifier floors: test accuracy and wall-clock time of the default config
on digits (floor >= 97% in < 2 min) and mnist5k (floor >= 96%), over several seeds,
beside scikit-learn's SVC on the same split for reference.

    .venv/bin/python benchmarks/classifier_floor.py [--seeds 0 1 2] [--data digits mnist5k]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from rlgen.classifier import ClassifierConfig, load_splits
from rlgen.config import build_config
from rlgen.run import train


def svc_reference(cfg: ClassifierConfig) -> tuple[float, float]:
    from sklearn.svm import SVC

    splits = load_splits(cfg)
    start = time.time()
    model = SVC(gamma="scale").fit(splits.train.x.flatten(1).numpy(), splits.train.y.numpy())
    accuracy = float((model.predict(splits.test.x.flatten(1).numpy()) == splits.test.y.numpy()).mean())
    return accuracy, time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", nargs="+", default=["digits", "mnist5k"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data in args.data:
            accs, times = [], []
            for seed in args.seeds:
                cfg = build_config(
                    ClassifierConfig,
                    {},
                    [f"data={data}", f"seed={seed}", "wandb.mode=disabled", "trainer.progress=off"],
                )
                start = time.time()
                run = train("classifier", cfg, Path(tmp) / f"{data}-{seed}")
                wall = time.time() - start
                summary = json.loads((run / "summary.json").read_text())
                accs.append(summary["test/accuracy"])
                times.append(wall)
                print(
                    f"{data} seed {seed}: test accuracy {summary['test/accuracy']:.4f}, {wall:.1f} s "
                    f"(stopped at step {summary['step']}: {summary['status']})",
                    flush=True,
                )
            svc_acc, svc_time = svc_reference(build_config(ClassifierConfig, {}, [f"data={data}"]))
            rows.append((data, np.mean(accs), np.min(accs), np.median(times), np.max(times), svc_acc, svc_time))
    print("\n| data | rlgen test acc (mean / min) | wall s (median / max) | SVC test acc | SVC s |")
    print("|---|---|---|---|---|")
    for data, mean, low, med, high, svc_acc, svc_time in rows:
        print(f"| {data} | {mean:.4f} / {low:.4f} | {med:.1f} / {high:.1f} | {svc_acc:.4f} | {svc_time:.1f} |")


if __name__ == "__main__":
    main()
