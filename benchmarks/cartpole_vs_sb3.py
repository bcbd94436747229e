"""CartPole-v1: wall-clock time and env steps until the rolling mean of the last 100
training-episode returns reaches 475 — rlgen vs stable-baselines3, same process, same
hyper-parameters (rl-baselines3-zoo's tuned CartPole values), one torch thread each.

    .venv/bin/python benchmarks/cartpole_vs_sb3.py [--algos ppo dqn] [--seeds 0 1 2 3 4]
        [--dqn-set learning_rate=5e-4 exploration_final_eps=0] [--dqn-cap 200000] [--sides both|rlgen]

Both sides count the same thing: a full window of 100 finished training episodes whose
mean return is >= 475; the clock starts before the algorithm is built and stops when
the window first qualifies. A run that never qualifies within the step cap counts as
the cap (and is flagged).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

THRESHOLD = 475.0
WINDOW = 100

# One hyper-parameter set per algorithm, written in each library's own names (SB3's value
# loss is vf_coef x MSE, rlgen's vf_coef x MSE / 2: SB3's default 0.5 is rlgen's 1.0).
PPO_STEPS = 100_000
PPO_RLGEN = [
    "env=CartPole-v1",
    f"steps={PPO_STEPS}",
    "num_envs=8",
    "n_steps=32",
    "batch_size=256",
    "gae_lambda=0.8",
    "gamma=0.98",
    "n_epochs=20",
    "ent_coef=0.0",
    "vf_coef=1.0",
    "clip_range=0.2",
    "clip_decay=true",
    "optim.lr=1e-3",
    "optim.schedule=linear",
    "optim.eps=1e-5",
    "optim.grad_clip=0.5",
    "hidden=[64, 64]",
    "activation=tanh",
]
DQN_STEPS = 100_000
DQN_SCHEDULE_STEPS = 50_000  # rl-zoo's budget: the exploration schedule spans it
DQN_COMMON = dict(
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
)


class Reached(Exception):
    """Raised inside a training loop the moment the threshold is met."""


def rlgen_run(algo: str, overrides: list[str], seed: int, cap: int) -> tuple[float, int, bool]:
    from rlgen.config import build_config
    from rlgen.registry import get_algo
    from rlgen.run import train
    from rlgen.trainer import Callback

    start = time.perf_counter()
    result: dict[str, Any] = {}

    class Watch(Callback):
        def on_step_end(self, trainer: Any, metrics: dict[str, float]) -> None:
            returns = trainer.algorithm.episodes.recent_returns
            if len(returns) == WINDOW and float(np.mean(returns)) >= THRESHOLD:
                result.update(seconds=time.perf_counter() - start, steps=trainer.step)
                trainer.should_stop = True

    cfg = build_config(
        get_algo(algo).Config,
        {},
        [
            *overrides,
            f"seed={seed}",
            f"steps={cap}",
            "wandb.mode=disabled",
            "trainer.progress=off",
            "trainer.eval_every=0",
            "trainer.final_report=false",
            f"trainer.checkpoint_every={cap}",
            f"trainer.log_every={cap // 20}",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        train(algo, cfg, f"{tmp}/run", callbacks=(Watch(),))
    if result:
        return result["seconds"], result["steps"], True
    return time.perf_counter() - start, cap, False


def sb3_run(make: Callable[[int], Any], seed: int, cap: int) -> tuple[float, int, bool]:
    from stable_baselines3.common.callbacks import BaseCallback

    start = time.perf_counter()
    result: dict[str, Any] = {}

    class Watch(BaseCallback):
        ended = False

        def _on_step(self) -> bool:
            # Called after every vector step, before SB3 files that step's finished episodes:
            # look only when the step before ended one, so the watch costs SB3 no more than
            # rlgen's once-per-rollout check costs rlgen.
            ended, self.ended = self.ended, bool(np.any(self.locals["dones"]))
            if not ended:
                return True
            buffer = self.model.ep_info_buffer
            if len(buffer) == WINDOW and float(np.mean([info["r"] for info in buffer])) >= THRESHOLD:
                result.update(seconds=time.perf_counter() - start, steps=self.model.num_timesteps)
                return False
            return True

    model = make(seed)
    model.learn(total_timesteps=cap, callback=Watch())
    if result:
        return result["seconds"], result["steps"], True
    return time.perf_counter() - start, cap, False


def sb3_ppo(seed: int) -> Any:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    def linear(value: float) -> Callable[[float], float]:
        return lambda remaining: remaining * value

    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    return PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=linear(1e-3),
        clip_range=linear(0.2),
        seed=seed,
        device="cpu",
        verbose=0,
    )


def sb3_dqn(seed: int) -> Any:
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=1, seed=seed)
    fraction = DQN_COMMON["exploration_fraction"] * DQN_SCHEDULE_STEPS / DQN_STEPS  # same schedule in env steps
    return DQN(
        "MlpPolicy",
        env,
        **{**DQN_COMMON, "exploration_fraction": fraction},
        policy_kwargs=dict(net_arch=[256, 256]),
        seed=seed,
        device="cpu",
        verbose=0,
    )


def dqn_rlgen_overrides() -> list[str]:
    c = DQN_COMMON
    return [
        "env=CartPole-v1",
        "num_envs=1",
        f"optim.lr={c['learning_rate']}",
        f"batch_size={c['batch_size']}",
        f"buffer_size={c['buffer_size']}",
        f"learning_starts={c['learning_starts']}",
        f"gamma={c['gamma']}",
        f"target_update_interval={c['target_update_interval']}",
        f"train_freq={c['train_freq']}",
        f"gradient_steps={c['gradient_steps']}",
        f"exploration_fraction={c['exploration_fraction'] * DQN_SCHEDULE_STEPS / DQN_STEPS}",
        f"exploration_final_eps={c['exploration_final_eps']}",
        "hidden=[256, 256]",
        "double_q=false",
        "trainer.ema_decay=0",
    ]  # SB3 keeps no averaged weights; rlgen's greedy agent does by default


def main() -> None:
    global DQN_STEPS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["ppo", "dqn"], choices=["ppo", "dqn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--dqn-set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help=f"change DQN hyper-parameters on both sides, in SB3's names: {', '.join(DQN_COMMON)}",
    )
    parser.add_argument(
        "--dqn-cap",
        type=int,
        default=DQN_STEPS,
        help="DQN env-step cap (the exploration schedule still spans 8k steps)",
    )
    parser.add_argument(
        "--sides",
        choices=["both", "rlgen"],
        default="both",
        help="rlgen: run rlgen's side alone (e.g. to check that a change keeps the env steps of recorded seeds)",
    )
    args = parser.parse_args()
    DQN_STEPS = args.dqn_cap
    if DQN_STEPS < 1:
        parser.error(f"--dqn-cap must be >= 1 env step, got {DQN_STEPS}")
    for item in args.dqn_set:
        key, _, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if key not in DQN_COMMON or number is None:
            parser.error(f"--dqn-set takes KEY=NUMBER with KEY one of {', '.join(DQN_COMMON)}; got '{item}'")
        DQN_COMMON[key] = type(DQN_COMMON[key])(number)
    torch.set_num_threads(1)
    # The first optimizer built in a process imports torch._dynamo (~1.5 s here): pay it
    # before either clock starts, or whichever library runs first is charged for it.
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    setups = {"ppo": (PPO_RLGEN, sb3_ppo, PPO_STEPS), "dqn": (dqn_rlgen_overrides(), sb3_dqn, DQN_STEPS)}
    for algo in args.algos:
        overrides, sb3_make, cap = setups[algo]
        rows = []
        for seed in args.seeds:
            ours = rlgen_run(algo, overrides, seed, cap)
            line = f"{algo} seed {seed}: rlgen {ours[0]:6.1f} s {ours[1]:7d} steps{'' if ours[2] else ' (cap)'}"
            if args.sides == "rlgen":
                print(line, flush=True)
                continue
            theirs = sb3_run(sb3_make, seed, cap)
            rows.append((seed, ours, theirs))
            print(f"{line} | sb3 {theirs[0]:6.1f} s {theirs[1]:7d} steps{'' if theirs[2] else ' (cap)'}", flush=True)
        if not rows:
            continue
        t_ours = statistics.median(r[1][0] for r in rows)
        t_theirs = statistics.median(r[2][0] for r in rows)
        s_ours = statistics.median(r[1][1] for r in rows)
        s_theirs = statistics.median(r[2][1] for r in rows)
        print(
            f"{algo}: median time rlgen {t_ours:.1f} s vs sb3 {t_theirs:.1f} s -> rlgen takes {t_ours / t_theirs:.2f}x "
            f"of sb3's time; median env steps rlgen {s_ours:.0f} vs sb3 {s_theirs:.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
