"""Connect Four random self-play: board-steps per second of rlgen's batched game core
vs PettingZoo's connect_four_v3, measured in the same process (floor: 30x).

    .venv/bin/python benchmarks/game_core_vs_pettingzoo.py [--seconds 5] [--batch 4096]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pettingzoo.classic import connect_four_v3

from rlgen.envs import make_game


def rlgen_steps_per_second(batch: int, seconds: float, seed: int = 0) -> tuple[float, int]:
    """Random legal moves in `batch` games at once; finished games restart at once."""
    game = make_game("connect4")
    rng = np.random.default_rng(seed)
    state = game.initial(batch)
    steps = games = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        mask = game.legal_mask(state)
        state = game.step(state, (rng.random(mask.shape) * mask).argmax(axis=1))
        steps += batch
        finished = np.flatnonzero(state.done)
        if len(finished):
            games += len(finished)
            state.put(finished, game.initial(len(finished)))
    return steps / (time.perf_counter() - start), games


def pettingzoo_steps_per_second(seconds: float, raw: bool, seed: int = 0) -> tuple[float, int]:
    """Random legal moves in one PettingZoo env (as users make it, or its raw_env)."""
    env = connect_four_v3.raw_env() if raw else connect_four_v3.env()
    rng = np.random.default_rng(seed)
    steps = games = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.reset()
        for _agent in env.agent_iter():
            observation, _, termination, truncation, _ = env.last()
            if termination or truncation:
                env.step(None)
                continue
            env.step(int(rng.choice(np.flatnonzero(observation["action_mask"]))))
            steps += 1
        games += 1
    return steps / (time.perf_counter() - start), games


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64, 1024, 4096])
    args = parser.parse_args()
    pz, pz_games = pettingzoo_steps_per_second(args.seconds, raw=False)
    pz_raw, _ = pettingzoo_steps_per_second(args.seconds, raw=True)
    print(f"PettingZoo connect_four_v3.env():     {pz:12,.0f} steps/s ({pz_games} games)")
    print(f"PettingZoo connect_four_v3.raw_env(): {pz_raw:12,.0f} steps/s")
    print("\n| rlgen batch | rlgen board-steps/s | vs env() | vs raw_env() |")
    print("|---|---|---|---|")
    for batch in args.batch:
        ours, _ = rlgen_steps_per_second(batch, args.seconds)
        print(f"| {batch} | {ours:,.0f} | {ours / pz:.1f}x | {ours / pz_raw:.1f}x |")


if __name__ == "__main__":
    main()
