"""`rlgen serve` under load: p50 / p95 latency of a Connect Four move (the AlphaZero
preset's network and play search) and of a 16-image cGAN grid (the mnist5k preset's
generator), with several clients at once against a live uvicorn server.

    .venv/bin/python benchmarks/serve_latency.py [--clients 4] [--requests 50]

The runs are built here in a temporary folder with one short training step each: latency
depends on the networks' size and the search budget, not on how well they play or draw.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from rlgen.agents.alphazero import AlphaZeroConfig
from rlgen.config import build_config
from rlgen.generative.gan import CGANConfig
from rlgen.run import train
from rlgen.serve import create_app

QUIET = ["wandb.mode=disabled", "trainer.progress=off", "trainer.final_report=false", "trainer.eval_every=0"]


def build_runs(root: Path) -> None:
    connect4 = ["env=connect4", "steps=1", "games=8", "workers=1", "elo_pool=none"]
    train("alphazero", build_config(AlphaZeroConfig, {}, [*QUIET, *connect4]), root / "connect4")
    train("cgan", build_config(CGANConfig, {}, [*QUIET, "data=mnist5k", "steps=1", "metrics=false"]), root / "cgan")


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=50, help="requests of each kind per client")
    args = parser.parse_args()
    import uvicorn

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_runs(root)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app([root]), host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=120) as http:  # load both models before timing
            http.post("/api/runs/connect4/move", json={"moves": []}).raise_for_status()
            http.post("/api/runs/cgan/sample", json={"condition": "3", "n": 16}).raise_for_status()
        moves: list[float] = []
        samples: list[float] = []
        errors: list[str] = []

        def client(seed: int) -> None:
            rng = np.random.default_rng(seed)
            with httpx.Client(base_url=base, timeout=120) as http:
                history: list[int] = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    reply = http.post("/api/runs/connect4/move", json={"moves": history})
                    moves.append(time.perf_counter() - start)
                    if reply.status_code != 200:
                        errors.append(reply.text)
                        return
                    state = reply.json()
                    history = [] if state["done"] else [*state["moves"], int(rng.choice(state["legal"]))]
                    start = time.perf_counter()
                    grid = http.post("/api/runs/cgan/sample", json={"condition": str(seed % 10), "n": 16, "seed": seed})
                    samples.append(time.perf_counter() - start)
                    if grid.status_code != 200:
                        errors.append(grid.text)
                        return

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(args.clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        server.should_exit = True
    move_p50, move_p95 = percentiles(moves)
    sample_p50, sample_p95 = percentiles(samples)
    print(
        f"{args.clients} clients x {args.requests} moves + {args.requests} grids: {len(moves) + len(samples)} requests"
    )
    print(f"in {wall:.1f} s, {len(errors)} errors")
    print("| request | p50 (ms) | p95 (ms) |")
    print("|---|---|---|")
    print(f"| Connect Four move (AlphaZero preset, play search) | {1000 * move_p50:.0f} | {1000 * move_p95:.0f} |")
    print(f"| cGAN grid, 16 images (mnist5k preset) | {1000 * sample_p50:.0f} | {1000 * sample_p95:.0f} |")


if __name__ == "__main__":
    main()
