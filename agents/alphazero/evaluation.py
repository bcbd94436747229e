"""One evaluation of a network, on the learner or as a Ray task beside training.

The learner asks (`EvalRequest`: the step, the weights, which Elo members play), an
`Evaluation` plays (the match against `eval_opponent`, the Elo round, the solver-scored
positions) and returns an `EvalOutcome`; the learner turns it into metrics (Elo fit,
snapshots, example game). Everything the playing part reads is in the request and the
config, and its random draws come from (seed, step) alone, so the same request gives the
same outcome wherever it runs.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rlgen.agents.alphazero.arena import GameAgent, play_match, play_matches, resolve_opponent
from rlgen.agents.alphazero.config import AlphaZeroConfig
from rlgen.agents.alphazero.network import NetworkEvaluator, build_network, network_kwargs
from rlgen.agents.alphazero.search import MCTS, MCTSConfig, SearchResult
from rlgen.envs.connect4_solver import SolverPositions, load_positions, solver_accuracy
from rlgen.envs.game import Game, GameState, make_game


class AlphaZeroAgent(GameAgent):
    """A trained network with search. `act(observation, action_mask)` takes PettingZoo
    classic observations ((H, W, 2) planes from the side to move) and returns a move."""

    def __init__(
        self,
        game: Game,
        model: nn.Module,
        device: torch.device,
        simulations: int,
        c_puct: float = 1.5,
        seed: int | None = None,
        root_selection: str = "puct",
        gumbel_actions: int = 16,
        dtype: torch.dtype | None = None,
        win_check: bool = False,
        solver: bool = True,
        leaves: int = 1,
    ) -> None:
        self.game, self.model, self.device = game, model, device
        self.name = "alphazero"
        self.evaluator = NetworkEvaluator(game, model, device, dtype)
        config = MCTSConfig(
            simulations=simulations,
            c_puct=c_puct,
            reuse_tree=False,
            root_selection=root_selection,
            gumbel_actions=gumbel_actions,
            win_check=win_check,
            solver=solver,
            leaves=leaves,
        )
        self.mcts = MCTS(game, self.evaluator, config, seed=seed)
        self.last_value: float | None = None

    def search(self, state: GameState, simulations: int | None = None) -> SearchResult:
        return self.mcts.run(state, simulations=simulations)

    def act_states(self, state: GameState) -> np.ndarray:
        """Most visited move for every position of a batch (no noise)."""
        result = self.search(state)
        self.last_value = float(result.value[0])
        return result.best_actions()


@dataclass(eq=False)  # one request is one evaluation, however alike two are
class EvalRequest:
    """What one evaluation plays: the network of `step` against `eval_opponent`, and the
    Elo round's members when one is due."""

    step: int
    weights: dict[str, torch.Tensor]
    """The evaluated (played) network's weights, on the CPU: snapshotted for later Elo rounds."""
    elo_specs: list[str] = field(default_factory=list)
    """The fixed pool's members in this round (empty: no round is due)."""
    rate_pool: bool = False
    """First round: the pool's neighbours play each other once, to place the pool on one scale."""
    snapshots: list[tuple[str, dict[str, torch.Tensor]]] = field(default_factory=list)
    """Earlier networks (name, weights) in this round."""


@dataclass
class EvalOutcome:
    """What an evaluation's games gave."""

    step: int
    match: dict[str, Any]
    """play_matches' result against eval_opponent (score, per side, first_game)."""
    rounds: dict[str, dict[str, Any]]
    """The Elo round: member name -> its match result."""
    pool_results: list[tuple[str, str, float, int]]
    """The pool's neighbours' games (first round only): (first, second, score of first, games)."""
    solver: dict[str, float]
    """eval/solver_* metrics (empty without solver_positions)."""
    seconds: float


class Evaluation:
    """Plays evaluations for one config on one device: builds the searching agents the
    evaluation, the gate, `rlgen eval` and `load_agent` use."""

    def __init__(self, config: AlphaZeroConfig, device: torch.device, dtype: torch.dtype | None) -> None:
        self.config, self.device, self.dtype = config, device, dtype
        self.game = make_game(config.env)
        self._solver_set: SolverPositions | None = None

    def network(self, weights: dict[str, torch.Tensor]) -> nn.Module:
        model = build_network(self.game, network_kwargs(self.config)).to(self.device)
        model.load_state_dict(weights)
        return model.eval()

    def search_agent(
        self, model: nn.Module, rng: np.random.Generator, simulations: int | None = None
    ) -> AlphaZeroAgent:
        """`model` searching as evaluation and play do (no noise, eval_simulations by default),
        drawing from `rng`."""
        cfg = self.config
        simulations = simulations or cfg.eval_simulations
        agent = AlphaZeroAgent(
            self.game,
            model,
            self.device,
            simulations,
            cfg.c_puct,
            root_selection=cfg.root_selection,
            gumbel_actions=cfg.gumbel_actions,
            dtype=self.dtype,
            win_check=cfg.win_check,
            solver=cfg.solver,
            leaves=cfg.search_leaves or max(simulations // cfg.simulations_per_leaf, 1),
        )
        agent.mcts.rng = rng
        return agent

    def solver_scores(
        self, model: nn.Module, positions: SolverPositions, rng: np.random.Generator, simulations: int | None = None
    ) -> dict[str, dict[str, float]]:
        """How the network's moves compare with the solver's on solver-scored positions:
        "raw" = the most probable legal move of the policy alone, "search" = the evaluation
        search's move; each as `solver_accuracy` reports it (strict, wdl, by phase)."""
        states = positions.states
        priors, _ = NetworkEvaluator(self.game, model, self.device, self.dtype)(states)
        raw = np.where(self.game.legal_mask(states), priors, -1.0).argmax(axis=1)
        searched = self.search_agent(model, rng, simulations or self.config.eval_simulations).act_states(states)
        return {"raw": solver_accuracy(positions, raw), "search": solver_accuracy(positions, searched)}

    def solver_metrics(self, model: nn.Module, rng: np.random.Generator) -> dict[str, float]:
        """eval/solver_strict, eval/solver_wdl and their _raw twins on the first
        `solver_positions` committed positions (the same ones at every evaluation)."""
        if not self.config.solver_positions:
            return {}
        if self._solver_set is None:
            self._solver_set = load_positions().take(slice(0, self.config.solver_positions))
        scores = self.solver_scores(model, self._solver_set, rng)
        return {
            f"eval/solver_{measure}{suffix}": scores[kind][measure]
            for kind, suffix in (("search", ""), ("raw", "_raw"))
            for measure in ("strict", "wdl")
        }

    def rng(self, step: int) -> np.random.Generator:
        """The generator of the evaluation of `step`, from the seed and the step: evaluating
        never draws from training's generator, so how often, how long and where a run
        evaluates leaves its training unchanged, and `rlgen eval` repeats the final report."""
        return np.random.default_rng([self.config.seed, step, 2])

    def run(self, request: EvalRequest, model: nn.Module | None = None) -> EvalOutcome:
        """The match against `eval_opponent` and, when due, the Elo round, played as one batch
        (the network's search runs once per ply for every game), then the solver-scored
        positions. `model`: the network itself when it is at hand, else built from the weights."""
        started = time.perf_counter()
        cfg, game = self.config, self.game
        model = self.network(request.weights) if model is None else model
        rng = self.rng(request.step)
        opponent = resolve_opponent(cfg.eval_opponent, game, int(rng.integers(2**31)))
        members: dict[str, Any] = {}
        pool_results: list[tuple[str, str, float, int]] = []
        if request.elo_specs:
            seed = int(rng.integers(2**31))
            members = {spec: resolve_opponent(spec, game, seed + k) for k, spec in enumerate(request.elo_specs)}
            if request.rate_pool:
                # Neighbours in strength order connect the pool; the lopsided far pairs of a full
                # round robin add little and cost most (pure MCTS games are slow on Othello).
                for first, second in itertools.pairwise(request.elo_specs):
                    r = play_match(game, members[first], members[second], cfg.elo_games, rng, cfg.opening_moves)
                    pool_results.append((first, second, r["score"], cfg.elo_games))
            for name, weights in request.snapshots:
                members[name] = self.search_agent(self.network(weights), rng).as_opponent()
        agent = self.search_agent(model, rng, cfg.eval_simulations).as_opponent()
        games = [cfg.eval_games] + [cfg.elo_games] * len(members)
        match, *rounds = play_matches(game, agent, [opponent, *members.values()], games, rng, cfg.opening_moves)
        return EvalOutcome(
            step=request.step,
            match=match,
            rounds=dict(zip(members, rounds, strict=True)),
            pool_results=pool_results,
            solver=self.solver_metrics(model, rng),
            seconds=time.perf_counter() - started,
        )


def evaluate_on_worker(config: AlphaZeroConfig, request: EvalRequest, dtype: torch.dtype | None) -> EvalOutcome:
    """An evaluation in a worker process of its own (a Ray task): one torch thread, CPU search
    in `dtype` (decided by the learner, as for the self-play actors, so every node plays alike)."""
    torch.set_num_threads(1)
    return Evaluation(config, torch.device("cpu"), dtype).run(request)
