"""Training throughput of every generative model: images per second of `train_step`
(batch_size real images per step; a GAN step is one generator step with its critic steps).

    .venv/bin/python benchmarks/generative_throughput.py                          # CPU, 64x64 shapes, batch 256
    .venv/bin/python benchmarks/generative_throughput.py --device cuda --precision bf16
    .venv/bin/python benchmarks/generative_throughput.py --models cgan vae --data mnist5k --batch 64
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from rlgen.config import build_config
from rlgen.registry import get_algo
from rlgen.tracking import Tracker
from rlgen.trainer import Trainer

MODELS = ("gan", "cgan", "vae", "cvae", "pix2pix")


def measure(name: str, data: str, batch: int, device: str, precision: str, steps: int, extra: list[str]) -> float:
    """Images per second over `steps` train steps after two warm-up steps."""
    cls = get_algo(name)
    overrides = [
        f"data={data}",
        f"batch_size={batch}",
        "metrics=false",
        f"device={device}",
        f"trainer.precision={precision}",
        "wandb.mode=disabled",
        "trainer.progress=off",
        *extra,
    ]
    config = build_config(cls.Config, {}, overrides)
    with tempfile.TemporaryDirectory() as run_dir:
        tracker = Tracker(run_dir, config.wandb)
        trainer = Trainer(config, run_dir, tracker)
        algorithm = cls(config, trainer)
        trainer.algorithm = algorithm
        for _ in range(2):
            algorithm.train_step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            algorithm.train_step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        tracker.close()
    return steps * batch / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--data", default="shapes64")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", help="fp32 | bf16 | fp16 | auto")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"data {args.data}, batch {args.batch}, device {args.device}, precision {args.precision}")
    print(f"{'model':<10} {'images/s':>10}")
    for name in args.models:
        extra = [f"trainer.threads={args.threads}"]
        if name == "pix2pix":
            extra.append("task=colorize")
        rate = measure(name, args.data, args.batch, args.device, args.precision, args.steps, extra)
        print(f"{name:<10} {rate:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
