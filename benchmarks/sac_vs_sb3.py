"""SAC wall time per env step, rlgen vs stable-baselines3, one process, matched settings:
the same env, 256x256 actor and twin critics, batch 256, one gradient step per env step,
learning_starts 1,000, no evaluation or checkpoints inside the timed span, the same torch
thread count. Reported: seconds per env step after learning_starts and the ratio.

    .venv/bin/python benchmarks/sac_vs_sb3.py [--env HalfCheetah-v5] [--steps 4000] [--threads 1]
        [--algo sac|td3] [--precision fp32|bf16]

`--precision bf16` runs rlgen's updates under bf16 autocast (`trainer.precision=bf16`: the
hidden layers' matmuls in bf16, the heads in fp32); SB3 has no such setting and stays fp32.
It pays on CPUs with AMX or AVX512-BF16 and loses elsewhere.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

os.environ.setdefault("MUJOCO_GL", "egl")


def rlgen_seconds(algo: str, env: str, steps: int, starts: int, precision: str = "fp32") -> float:
    from rlgen.config import build_config
    from rlgen.registry import get_algo
    from rlgen.run import train

    overrides = [
        f"env={env}",
        f"steps={steps}",
        f"learning_starts={starts}",
        "batch_size=256",
        "hidden=[256,256]",
        "trainer.eval_every=0",
        f"trainer.checkpoint_every={10 * steps}",
        f"trainer.log_every={steps}",
        "trainer.final_report=false",
        "trainer.progress=off",
        "wandb.mode=disabled",
        f"trainer.precision={precision}",
    ]
    cfg = build_config(get_algo(algo).Config, {}, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train(algo, cfg, f"{tmp}/run")
        return time.perf_counter() - start


def sb3_seconds(algo: str, env: str, steps: int, starts: int) -> float:
    import gymnasium as gym
    from stable_baselines3 import SAC, TD3

    from rlgen.agents.gym_support import make_env

    cls = SAC if algo == "sac" else TD3
    start = time.perf_counter()
    venv = make_env(env)  # the env exactly as rlgen's learner makes it
    model = cls(
        "MultiInputPolicy" if isinstance(venv.observation_space, gym.spaces.Dict) else "MlpPolicy",
        venv,
        learning_starts=starts,
        batch_size=256,
        policy_kwargs=dict(net_arch=[256, 256]),
        device="cpu",
        verbose=0,
    )
    model.learn(total_timesteps=steps)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--algo", choices=("sac", "td3"), default="sac")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--starts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Both sides pay the same learning_starts phase (random actions, no updates); a short
    # run of each measures it, and the timed figure is the rest.
    base_rlgen = rlgen_seconds(args.algo, args.env, args.starts, args.starts, args.precision)
    base_sb3 = sb3_seconds(args.algo, args.env, args.starts, args.starts)
    timed = args.steps - args.starts
    ours = (rlgen_seconds(args.algo, args.env, args.steps, args.starts, args.precision) - base_rlgen) / timed
    theirs = (sb3_seconds(args.algo, args.env, args.steps, args.starts) - base_sb3) / timed
    print(
        f"{args.algo} on {args.env}, {args.threads} thread(s), rlgen in {args.precision}, "
        f"{args.steps - args.starts} env steps with updates:"
    )
    print("| | ms per env step | env steps/s |")
    print("|---|---|---|")
    print(f"| rlgen | {1000 * ours:.2f} | {1 / ours:.0f} |")
    print(f"| stable-baselines3 | {1000 * theirs:.2f} | {1 / theirs:.0f} |")
    print(f"rlgen / SB3 wall time per step: {ours / theirs:.2f}x (floor: <= 0.5x)")


if __name__ == "__main__":
    main()
