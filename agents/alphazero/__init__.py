"""AlphaZero: self-play with batched PUCT search and a residual policy-value network.

    rlgen train alphazero --env tictactoe|connect4|othello6|othello8|gomoku

Where each part lives (each module imports only those above it, so nothing loops back):

    search.py     batched MCTS (PUCT or Gumbel root, win check, MCTS-solver, tree reuse)
    config.py     AlphaZeroConfig: every hyper-parameter with its default, PRESETS per game
    network.py    PolicyValueNet and the evaluator that runs it inside the search
    selfplay.py   self-play games, in process or in a pool of worker processes
    arena.py      GameAgent, matches between agents and opponents, Elo fitting
    evaluation.py AlphaZeroAgent (the trained network searching) and one evaluation's
                  games, played on the learner or as a Ray task
    ray_selfplay.py  self-play actors and evaluation tasks on Ray (backend=ray)
    algorithm.py  the AlphaZero Algorithm (self-play, training, evaluation, checkpoints)

Positions go from self-play to training through the core's `rlgen.replay.ReplayBuffer`.
"""

from __future__ import annotations

from rlgen.agents.alphazero.algorithm import AlphaZero
from rlgen.agents.alphazero.config import AlphaZeroConfig
from rlgen.agents.alphazero.evaluation import AlphaZeroAgent

__all__ = ["AlphaZero", "AlphaZeroAgent", "AlphaZeroConfig"]
