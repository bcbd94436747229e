"""MCTS throughput on Connect Four: 256 parallel games, 200 simulations per move,
simulations per second over the first moves of self-play.

    .venv/bin/python benchmarks/mcts_throughput.py --evaluator uniform            # tree cost alone, 1 core
    .venv/bin/python benchmarks/mcts_throughput.py --evaluator network --threads 2  # default net, 2 cores
    .venv/bin/python benchmarks/mcts_throughput.py --evaluator network --blocks 10 --channels 128 --device cuda
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rlgen.agents.alphazero.config import AlphaZeroConfig
from rlgen.agents.alphazero.network import NetworkEvaluator, PolicyValueNet
from rlgen.agents.alphazero.search import MCTS, MCTSConfig, uniform_evaluator
from rlgen.envs import make_game


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluator", choices=("uniform", "network"), default="uniform")
    parser.add_argument("--game", default="connect4")
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--moves", type=int, default=8, help="self-play moves to time")
    parser.add_argument("--blocks", type=int, default=0)
    parser.add_argument("--channels", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument(
        "--win-check", action="store_true", help="one move of lookahead at each expansion (MCTSConfig.win_check)"
    )
    parser.add_argument("--no-solver", action="store_true", help="without proof propagation (MCTSConfig.solver=False)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    game = make_game(args.game)
    if args.evaluator == "uniform":
        evaluator = uniform_evaluator(game)
        label = "uniform priors, value 0"
    else:
        defaults = AlphaZeroConfig.preset(args.game)
        blocks, channels = args.blocks or defaults["blocks"], args.channels or defaults["channels"]
        device = torch.device(args.device)
        model = PolicyValueNet(game.board_shape, game.num_actions, blocks, channels).to(device)
        evaluator = NetworkEvaluator(game, model, device, torch.bfloat16 if args.bf16 else None)
        label = f"network {blocks}x{channels} on {device}{' bf16' if args.bf16 else ''}"
    mcts = MCTS(
        game,
        evaluator,
        MCTSConfig(simulations=args.simulations, win_check=args.win_check, solver=not args.no_solver),
        seed=0,
    )
    rng = np.random.default_rng(0)
    state = game.initial(args.games)
    tree = None
    sims = 0
    start = time.perf_counter()
    for _ in range(args.moves):
        result = mcts.run(state if tree is None else None, noise=True, tree=tree)
        sims += mcts.last_simulations
        pi = result.policy(1.0)
        actions = (rng.random(len(pi))[:, None] > np.cumsum(pi, axis=1)).sum(axis=1)
        state = game.step(state, actions)
        going = np.flatnonzero(~state.done)
        tree = mcts.advance(result.tree, actions).take(going)
        state = state.take(going)
    elapsed = time.perf_counter() - start
    print(
        f"{args.game}, {label}, {args.games} games x {args.simulations} sims/move, {args.moves} moves, "
        f"{args.threads} thread(s){', win check' if args.win_check else ''}{', no solver' if args.no_solver else ''}: "
        f"{sims / elapsed:,.0f} simulations/s ({sims:,} in {elapsed:.1f} s)"
    )


if __name__ == "__main__":
    main()
