"""AlphaZero on tic-tac-toe with the default config: wall-clock time until the periodic
evaluation (games vs perfect minimax) first shows 0 losses, the final check (200 games as
first + 200 as second vs minimax), the positions of all 4,520 reachable ones where the
published agent's move loses value (the independent oracle of tests/tictactoe_oracle.py;
floor: none), evaluation's share of the run, and self-play games per hour; with
`--leaves`, the same positions searched with that many leaves per network call (virtual
loss) and the seconds the 4,520 take.

    .venv/bin/python benchmarks/alphazero_tictactoe.py --seeds 0 1 2 --leaves 1 4 8 16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rlgen.agents import load_agent
from rlgen.agents.alphazero import AlphaZeroConfig
from rlgen.config import build_config
from rlgen.run import evaluate, load_run, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import tictactoe_oracle as oracle  # noqa: E402  (the test suite's minimax, independent of the lab)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--leaves", type=int, nargs="*", default=[], help="search_leaves values to compare")
    args = parser.parse_args()
    rows, leaf_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            cfg = build_config(
                AlphaZeroConfig, {}, ["env=tictactoe", f"seed={seed}", "wandb.mode=disabled", "trainer.progress=off"]
            )
            run_dir = train("alphazero", cfg, Path(tmp) / f"ttt-{seed}")
            run = load_run(run_dir)
            elapsed = {m["step"]: m["charts/elapsed_s"] for m in run.metrics if "charts/elapsed_s" in m}
            first_perfect_step = next((m["step"] for m in run.metrics if m.get("eval/loss_rate") == 0.0), None)
            final = evaluate(run_dir, opponent="minimax", games=400)
            rates = [m["charts/games_per_s"] for m in run.metrics if "charts/games_per_s" in m]
            misses = oracle.misses(load_agent(run_dir).act_states)
            row = {
                "seed": seed,
                "first_perfect_eval_s": elapsed.get(first_perfect_step) if first_perfect_step else None,
                "train_s": run.summary["elapsed_s"],
                "losses_as_first": final["as_first"]["losses"],
                "losses_as_second": final["as_second"]["losses"],
                "off_perfect_play": sum(len(v) for v in misses.values()),
                "eval_share": load_run(run_dir).summary["eval_share"],
                "selfplay_games_per_hour": 3600 * sum(rates) / len(rates),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            for leaves in args.leaves:
                agent = load_agent(run_dir)
                agent.mcts.config.leaves = leaves
                started = time.perf_counter()
                off = sum(len(v) for v in oracle.misses(agent.act_states).values())
                leaf_rows.append((seed, leaves, off, time.perf_counter() - started))
                print(json.dumps({"seed": seed, "leaves": leaves, "off": off, "s": leaf_rows[-1][3]}), flush=True)
    print(
        "\n| seed | first 0-loss eval (s) | training (s) | losses as first / second (200 + 200 vs minimax) "
        "| positions off perfect play (of 4,520) | evaluation share | self-play games/h |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        first = f"{r['first_perfect_eval_s']:.0f}" if r["first_perfect_eval_s"] else "never"
        print(
            f"| {r['seed']} | {first} | {r['train_s']:.0f} | {r['losses_as_first']} / {r['losses_as_second']} "
            f"| {r['off_perfect_play']} | {r['eval_share']:.0%} | {r['selfplay_games_per_hour']:,.0f} |"
        )

    if leaf_rows:
        print("\n| seed | leaves per call | positions off perfect play | seconds for the 4,520 |")
        print("|---|---|---|---|")
        for seed, leaves, off, seconds in leaf_rows:
            print(f"| {seed} | {leaves} | {off} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
