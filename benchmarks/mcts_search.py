"""The batched MCTS's own cost (uniform evaluator: no network), seconds per search from the
initial position, for the shapes the lab searches: tic-tac-toe's play and evaluation,
Connect Four's and Othello 8x8's self-play, one Othello move with 8 leaves per call.
`--baseline FILE` times another search.py (e.g. an earlier commit's) side by side:

    git show d394e94:agents/alphazero/search.py > /tmp/numpy_search.py
    .venv/bin/python benchmarks/mcts_search.py --baseline /tmp/numpy_search.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from types import ModuleType

from rlgen.agents.alphazero import search
from rlgen.envs import make_game

CASES = [  # game, games searching at once, simulations, leaves per call, win_check
    ("tictactoe", 40, 1024, 8, True),
    ("tictactoe", 64, 32, 1, True),
    ("connect4", 256, 96, 1, True),
    ("othello8", 256, 96, 1, False),
    ("othello8", 1, 512, 8, False),
]


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_search", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_search"] = module
    spec.loader.exec_module(module)
    return module


def seconds(module: ModuleType, name: str, games: int, sims: int, leaves: int, win_check: bool) -> float:
    game = make_game(name)
    config = module.MCTSConfig(simulations=sims, leaves=leaves, win_check=win_check)
    mcts = module.MCTS(game, module.uniform_evaluator(game), config, seed=0)
    mcts.run(game.initial(games))  # compile or load the compiled cache first
    start = time.perf_counter()
    mcts.run(game.initial(games))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", help="another search.py to time beside this one")
    args = parser.parse_args()
    baseline = load(args.baseline) if args.baseline else None
    print("| game | games | simulations | leaves | baseline (s) | this search (s) | ratio |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES:
        ours = seconds(search, *case)
        theirs = seconds(baseline, *case) if baseline else float("nan")
        print(f"| {case[0]} | {case[1]} | {case[2]} | {case[3]} | {theirs:.3f} | {ours:.3f} | {theirs / ours:.1f}x |")


if __name__ == "__main__":
    main()
