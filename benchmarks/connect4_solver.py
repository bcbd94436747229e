"""The exact Connect Four solver: time per position by ply (median and 95th percentile) for
the full score, the weak (win/draw/loss) score and all seven move scores, on positions of
random play, each from an empty transposition table. With --make-set, writes the committed
solver-scored test positions instead.

    nice -n 19 .venv/bin/python benchmarks/connect4_solver.py [--positions 20] [--plies 8,12,16,20,24,28,32,36]
    nice -n 19 .venv/bin/python benchmarks/connect4_solver.py --make-set envs/data/connect4_positions.npz \\
        [--count 1000] [--minutes 15]
    .venv/bin/python benchmarks/connect4_solver.py --baselines random,alphabeta:2,alphabeta:4,mcts:200

--baselines scores classic opponents' moves on the committed set (strict and win/draw/loss
accuracy by phase), the yardstick's floor beside a trained run's `rlgen eval RUN --opponent solver`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rlgen.envs.connect4_solver import (
    PHASES,
    Connect4Solver,
    load_positions,
    make_positions,
    random_position,
    solver_accuracy,
)


def time_call(solver: Connect4Solver, call: str, state, weak: bool = False) -> float:
    """Seconds for one call from an empty transposition table."""
    solver.reset()
    start = time.perf_counter()
    getattr(solver, call)(state, weak=weak)
    return time.perf_counter() - start


def benchmark(plies: list[int], positions: int, seed: int, tt_size_log2: int) -> None:
    solver = Connect4Solver(tt_size_log2)
    start = time.perf_counter()
    solver.score(random_position(30, np.random.default_rng(seed)))
    print(f"first call (numba compile or cache load included): {time.perf_counter() - start:.2f} s")
    rng = np.random.default_rng(seed)
    header = ["ply", "full med", "full p95", "weak med", "weak p95", "7 moves med", "7 moves p95", "Mnodes/s"]
    print(" | ".join(f"{h:>11}" for h in header))
    for ply in plies:
        times: dict[str, list[float]] = {"full": [], "weak": [], "moves": []}
        nodes = seconds = 0.0
        for _ in range(positions):
            state = random_position(ply, rng)
            times["full"].append(time_call(solver, "score", state))
            nodes += solver.nodes
            seconds += times["full"][-1]
            times["weak"].append(time_call(solver, "score", state, weak=True))
            times["moves"].append(time_call(solver, "move_scores", state))
        cells = [str(ply)]
        for name in ("full", "weak", "moves"):
            cells += [f"{np.median(times[name]) * 1e3:.2f} ms", f"{np.percentile(times[name], 95) * 1e3:.2f} ms"]
        cells.append(f"{nodes / max(seconds, 1e-9) / 1e6:.1f}")
        print(" | ".join(f"{c:>11}" for c in cells), flush=True)


def make_set(out: str, count: int, minutes: float, seed: int, tt_size_log2: int) -> None:
    start = time.perf_counter()

    def progress(done: int, info: dict) -> None:
        if done % 50 == 0:
            print(f"{done} positions, {info['seconds']:.0f} s", flush=True)

    positions = make_positions(count, seed, Connect4Solver(tt_size_log2), minutes * 60, progress)
    positions.save(out)
    phases = positions.phases
    counts = ", ".join(f"{name} {int((phases == name).sum())}" for name in PHASES)
    print(f"wrote {len(positions)} positions ({counts}) to {out} in {time.perf_counter() - start:.0f} s")


def baselines(specs: list[str], seed: int) -> None:
    from rlgen.agents.alphazero.arena import resolve_opponent
    from rlgen.envs import make_game

    game, positions = make_game("connect4"), load_positions()
    columns = ["strict", "wdl", *(f"{m}/{p}" for m in ("strict", "wdl") for p in PHASES)]
    print(" | ".join(f"{h:>12}" for h in ["opponent", *columns, "seconds"]))
    for spec in specs:
        start = time.perf_counter()
        moves = np.asarray(resolve_opponent(spec, game, seed).act(game, positions.states))
        result = solver_accuracy(positions, moves)
        cells = [spec, *(f"{result[c]:.3f}" for c in columns), f"{time.perf_counter() - start:.1f}"]
        print(" | ".join(f"{c:>12}" for c in cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=20, help="positions per ply")
    parser.add_argument("--plies", default="8,12,16,20,24,28,32,36", help="comma-separated plies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tt-size-log2", type=int, default=23)
    parser.add_argument("--make-set", metavar="OUT", help="write the scored position set to this .npz")
    parser.add_argument("--count", type=int, default=1000, help="positions in the set")
    parser.add_argument("--minutes", type=float, default=15.0, help="stop the set early after this long")
    parser.add_argument("--baselines", help="comma-separated opponents to score on the committed set")
    args = parser.parse_args()
    if args.baselines:
        baselines(args.baselines.split(","), args.seed)
    elif args.make_set:
        make_set(args.make_set, args.count, args.minutes, args.seed, args.tt_size_log2)
    else:
        benchmark([int(p) for p in args.plies.split(",")], args.positions, args.seed, args.tt_size_log2)


if __name__ == "__main__":
    main()
