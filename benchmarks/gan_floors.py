"""Conditional-GAN floors, default configs, beside the classic MLP conditional GAN.

    .venv/bin/python benchmarks/gan_floors.py [--minutes 10] [--seeds 0 1] [--tasks mnist5k shapes mlp]

- mnist5k: `rlgen train cgan --data mnist5k --minutes M`; floors: conditional accuracy
  >= 97% by the mnist5k reference classifier, frechet_ratio <= 2 (1,000 samples vs the
  1,000 test digits, against the real train-vs-test distance).
- shapes: `rlgen train cgan --data shapes --minutes M` (caption-conditioned); floor: the
  requested shape and colour both right in >= 90% of 1,000 samples (the shapes reference
  classifier reading the test split's captions back).
- mlp: the classic tutorial conditional GAN (label embedding concatenated to z, MLP
  generator and discriminator, least-squares loss, Adam 2e-4 / 0.5), defined here and
  trained the same minutes on the same mnist5k split, judged by the same metrics.

Prints each run's final metrics, its metric-vs-wall-clock curve (periodic evaluations
on 500 samples) and a summary table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rlgen.config import build_config
from rlgen.data import load_dataset
from rlgen.generative import load_generator
from rlgen.generative.base import make_splits
from rlgen.generative.gan import CGANConfig
from rlgen.generative.metrics import evaluate_samples, reference_classifier
from rlgen.run import load_run, train

# ----------------------------------------------------------------------------- ours


def train_cgan(data: str, minutes: float, seed: int, root: Path) -> Path:
    """`rlgen train cgan --data DATA --minutes M --seed S` (default config otherwise)."""
    cfg = build_config(
        CGANConfig,
        {},
        [f"data={data}", f"minutes={minutes}", f"seed={seed}", "wandb.mode=disabled", "trainer.progress=off"],
    )
    return train("cgan", cfg, root / f"cgan-{data}-{seed}")


def curve(run_dir: Path) -> list[tuple[float, int, dict[str, float]]]:
    """(elapsed seconds, step, eval metrics) of each periodic evaluation."""
    run = load_run(run_dir)
    elapsed, points = 0.0, []
    for row in run.metrics:
        elapsed = row.get("charts/elapsed_s", elapsed)
        if "metrics/frechet_ratio" in row:
            points.append((elapsed, row["step"], row))
    return points


def shape_colour_accuracy(run_dir: Path, n: int = 1000) -> float:
    """Share of n caption-conditioned samples whose shape and colour the reference
    classifier reads as requested (conditions: the test split's captions, cycled)."""
    generator = load_generator(run_dir)
    algorithm = generator.algorithm
    conditions, requested = algorithm.metric_conditions(n)
    fake = algorithm.generate(algorithm.latents(n, torch.Generator().manual_seed(1234)), conditions)
    ref = algorithm.reference()
    predicted = ref.predict(fake)
    columns = [list(ref.factors).index(name) for name in ("shape", "colour")]
    return float((predicted[:, columns] == requested[:, columns]).all(1).double().mean())


# ----------------------------------------------------------------------------- the MLP baseline


class MLPGenerator(nn.Module):
    """[z, label embedding] -> 128 -> 256 -> 512 -> 1024 -> pixels (tanh)."""

    def __init__(self, latent: int, classes: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape
        self.embed = nn.Embedding(classes, classes)

        def block(i: int, o: int, norm: bool = True) -> list[nn.Module]:
            return [nn.Linear(i, o), *([nn.BatchNorm1d(o, 0.8)] if norm else []), nn.LeakyReLU(0.2)]

        self.net = nn.Sequential(
            *block(latent + classes, 128, norm=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(np.prod(shape))),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(labels)], 1)).view(len(z), *self.shape)


class MLPDiscriminator(nn.Module):
    """[pixels, label embedding] -> 512 -> 512 (dropout) -> 512 (dropout) -> score."""

    def __init__(self, classes: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.embed = nn.Embedding(classes, classes)
        self.net = nn.Sequential(
            nn.Linear(int(np.prod(shape)) + classes, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 512),
            nn.Dropout(0.4),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 512),
            nn.Dropout(0.4),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x.flatten(1), self.embed(labels)], 1))


def mlp_baseline(minutes: float, seed: int, n: int = 1000) -> tuple[dict[str, float], int]:
    """Train the MLP conditional GAN on the mnist5k generative train split for `minutes`
    (least-squares loss, batch 64, Adam 2e-4 / (0.5, 0.999)); metrics of n samples."""
    torch.manual_seed(seed)
    splits = make_splits(load_dataset("mnist5k"), 0)
    x, y = splits.train.x * 2 - 1, splits.train.y
    shape, classes, latent = tuple(x.shape[1:]), 10, 100
    generator, discriminator = MLPGenerator(latent, classes, shape), MLPDiscriminator(classes, shape)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    mse = nn.MSELoss()
    start, steps = time.time(), 0
    while time.time() - start < minutes * 60:
        index = torch.randint(len(x), (64,))
        real, labels = x[index], y[index]
        ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
        fake_labels = torch.randint(classes, (64,))
        fake = generator(torch.randn(64, latent), fake_labels)
        g_loss = mse(discriminator(fake, fake_labels), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        d_loss = (mse(discriminator(real, labels), ones) + mse(discriminator(fake.detach(), fake_labels), zeros)) / 2
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        steps += 1
    generator.eval()
    requested = splits.test.y[torch.arange(n) % len(splits.test)]
    with torch.no_grad():
        z = torch.randn(n, latent, generator=torch.Generator().manual_seed(1234))
        images = (generator(z, requested) + 1) / 2
    metrics = evaluate_samples(
        reference_classifier("mnist5k"),
        images.clamp(0, 1),
        requested,
        real_test=splits.test.x,
        real_train=splits.train.x,
        n=n,
    )
    return metrics, steps


# ----------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--tasks", nargs="+", default=["mnist5k", "shapes", "mlp"], choices=["mnist5k", "shapes", "mlp"]
    )
    parser.add_argument("--keep", help="keep the run directories under this folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        for task in args.tasks:
            for seed in args.seeds:
                if task == "mlp":
                    metrics, steps = mlp_baseline(args.minutes, seed)
                    rows.append(
                        f"| MLP cGAN (baseline), mnist5k | {seed} | {steps} "
                        f"| {metrics['metrics/conditional_accuracy']:.4f} | "
                        f"{metrics['metrics/frechet']:.2f} / {metrics['metrics/frechet_real']:.2f} = "
                        f"{metrics['metrics/frechet_ratio']:.2f} | - |"
                    )
                    print(f"mlp seed {seed}: {steps} steps, {json.dumps(metrics)}", flush=True)
                    continue
                run = train_cgan(task, args.minutes, seed, root)
                result = json.loads((run / "eval.json").read_text())
                summary = json.loads((run / "summary.json").read_text())
                print(
                    f"cgan {task} seed {seed}: {summary['step']} steps, best at step {summary.get('best/step')}: "
                    f"{json.dumps(result)}",
                    flush=True,
                )
                for elapsed, step, point in curve(run):
                    print(
                        f"    {elapsed:6.0f} s  step {step:5d}  frechet_ratio {point['metrics/frechet_ratio']:7.2f}  "
                        f"conditional_accuracy {point.get('metrics/conditional_accuracy', float('nan')):.3f}"
                    )
                both = shape_colour_accuracy(run) if task == "shapes" else float("nan")
                if task == "shapes":
                    print(f"    shape and colour right: {both:.4f}")
                rows.append(
                    f"| rlgen cgan, {task} | {seed} | {summary['step']} "
                    f"| {result['metrics/conditional_accuracy']:.4f} | "
                    f"{result['metrics/frechet']:.2f} / {result['metrics/frechet_real']:.2f} = "
                    f"{result['metrics/frechet_ratio']:.2f} | {'-' if task != 'shapes' else f'{both:.4f}'} |"
                )
    print(f"\n{args.minutes:g} minutes each, 1,000 samples; Frechet = reference-classifier features vs the test split")
    print(
        "| model, data | seed | steps | conditional accuracy (all factors) | Frechet / real = ratio "
        "| shape & colour right |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
