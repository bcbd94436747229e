"""Connect Four self-play on Ray actors vs local worker processes, side by side: games/s
and positions/s of the preset's iterations (256 games, 96 simulations, 3x32 network, an
untrained network: the search cost is what is measured), Ray's start-up, the bytes of
weights published per iteration and the time to publish them, and the learner's
training samples/s (20 optimizer steps of the preset's batch, torch threads as a run).

    .venv/bin/python benchmarks/selfplay_ray.py [--workers 2] [--rounds 3] [--games 256]

Both backends run the same `AlphaZero.self_play` (an iteration of a real run, replay
buffer included) with as many actors as worker processes; the first iteration of each
(process spawn / actor start, numba warm-up) is timed apart as start-up.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rlgen.agents.alphazero import AlphaZero, AlphaZeroConfig
from rlgen.config import build_config
from rlgen.trainer import Trainer

QUIET = ["wandb.mode=disabled", "trainer.progress=off", "elo_pool=none", "solver_positions=0"]


def measure(backend: list[str], games: int, rounds: int, root: Path) -> dict[str, float]:
    config = build_config(AlphaZeroConfig, {}, ["env=connect4", f"games={games}", *QUIET, *backend])
    trainer = Trainer(config, root)
    algorithm = AlphaZero(config, trainer)
    trainer.algorithm = algorithm
    started = time.perf_counter()
    algorithm.self_play()
    startup = time.perf_counter() - started
    positions = algorithm.replay.size
    started = time.perf_counter()
    for _ in range(rounds):
        algorithm.self_play()
    seconds = time.perf_counter() - started
    pool = algorithm.workers_pool
    started = time.perf_counter()
    algorithm._learn_steps(20)  # the learner's side: optimizer steps of the preset's batch
    learn_s = time.perf_counter() - started
    out = {
        "learner_samples_per_s": 20 * config.batch_size / learn_s,
        "startup_s": startup,
        "games_per_s": games * rounds / seconds,
        "positions_per_s": (algorithm.replay.size - positions) / seconds,  # after symmetry, capped by the window
        "iteration_s": seconds / rounds,
    }
    if hasattr(pool, "weights_bytes"):
        out["weights_bytes"] = pool.weights_bytes
        out["actor_startup_s"] = pool.startup_s
        import io

        import ray
        import torch

        blob = io.BytesIO()
        torch.save(algorithm.model.state_dict(), blob)
        t = time.perf_counter()
        for _ in range(20):
            ray.put(blob.getvalue())
        out["publish_ms"] = (time.perf_counter() - t) / 20 * 1e3
    pool.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--games", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        import ray

        ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="warning")
        ray_init = time.perf_counter() - started
        process = measure([f"workers={args.workers}"], args.games, args.rounds, Path(tmp) / "process")
        on_ray = measure(["backend=ray", f"actors={args.workers}"], args.games, args.rounds, Path(tmp) / "ray")
    print(f"Connect Four self-play, {args.games} games per iteration, {args.workers} workers / actors")
    print(f"ray.init (local, {args.workers} CPUs): {ray_init:.1f} s")
    for name, row in (("process", process), ("ray", on_ray)):
        print(f"{name:8s} " + "  ".join(f"{k}={v:.4g}" for k, v in row.items()))
    print(f"ray / process games/s: {on_ray['games_per_s'] / process['games_per_s']:.3f}")


if __name__ == "__main__":
    main()
