"""AlphaZero's loop glue: self-play iterations that play, store and train, evaluation
against opponents and Elo, and the agent a trained run publishes.

    rlgen train alphazero --env tictactoe|connect4|othello6|othello8|gomoku

`--steps` counts self-play iterations. Each iteration plays `games` games at once (one
network call per simulation wave for every leaf of every game), stores (planes,
visit distribution, outcome) positions with the game's symmetries in a replay buffer,
then takes `train_steps` optimizer steps on policy cross-entropy + value MSE (+ weight
decay) through the shared Trainer. Checkpoints carry the replay buffer and every RNG,
so `rlgen resume` continues exactly.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlgen.agents.alphazero.arena import elo_difference, fit_elo, play_match, resolve_opponent
from rlgen.agents.alphazero.config import AlphaZeroConfig
from rlgen.agents.alphazero.evaluation import AlphaZeroAgent, EvalOutcome, EvalRequest, Evaluation
from rlgen.agents.alphazero.network import NetworkEvaluator, PolicyValueNet, build_network, network_kwargs, search_dtype
from rlgen.agents.alphazero.ray_selfplay import RaySelfPlay
from rlgen.agents.alphazero.search import MCTS, MCTSConfig
from rlgen.agents.alphazero.selfplay import (
    SelfPlayBatch,
    SelfPlayParams,
    SelfPlayPool,
    play_games,
    worker_processes,
)
from rlgen.algorithm import Algorithm
from rlgen.envs.connect4_solver import load_positions
from rlgen.envs.game import make_game
from rlgen.errors import ConfigError
from rlgen.replay import ReplayBuffer

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

# ----------------------------------------------------------------------------- algorithm


class AlphaZero(Algorithm):
    """Self-play iterations: play, store, train; evaluate against a fixed opponent."""

    name = "alphazero"
    Config = AlphaZeroConfig
    unit = "self-play iterations"
    input_kind = "env"
    description = "AlphaZero self-play: batched PUCT MCTS + residual policy-value net (board games)"
    default_monitor = "eval/score"

    def __init__(self, config: AlphaZeroConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        self.game = make_game(config.env)
        self.model = trainer.add_model("model", self.new_network())
        trainer.add_optimizer("main", ["model"], config.optim, total_steps=config.steps * config.train_steps)
        if trainer.tcfg.ema_decay > 0:
            trainer.add_ema("model")
        elif config.ema_iterations > 0:
            trainer.add_ema("model", 1.0 - 1.0 / max(config.ema_iterations * config.train_steps, 2.0))
        self.rng = np.random.default_rng(config.seed)
        self.search_dtype = search_dtype(config.search_precision, trainer.device)
        self.evaluator = NetworkEvaluator(self.game, self.model, trainer.device, self.search_dtype)
        self.mcts = MCTS(self.game, self.evaluator, self.mcts_config())
        self.mcts.rng = self.rng
        self.replay = ReplayBuffer(
            config.replay_window,
            {
                "planes": ((2, *self.game.board_shape), np.int8),
                "policy": ((self.game.num_actions,), np.float32),
                "outcome": ((), np.float32),
            },
        )
        self.workers = config.actors or worker_processes(config.workers)
        self.games_played = 0
        if config.gating:
            best = trainer.add_model("best", copy.deepcopy(self.model))
            self.mcts.evaluate = NetworkEvaluator(self.game, best, trainer.device, self.search_dtype)
        self.elo_specs = (
            [] if config.elo_pool == "none" else [p.strip() for p in config.elo_pool.split(",") if p.strip()]
        )
        # Elo: every result so far as (player, player, score of the first, games), players by
        # name (pool specs and 'iteration N' snapshots); the pool's chain of neighbours is played once.
        self.elo_results: list[tuple[str, str, float, int]] = []
        self.snapshots: list[tuple[str, dict[str, torch.Tensor]]] = []  # newest elo_snapshots networks
        self.evaluations = 0
        self.pool_rated = False  # the pool's neighbours have played (or are playing) each other
        self.evals_in_flight: list[EvalRequest] = []  # submitted beside training, no verdict yet
        self.resubmit = False  # resumed with evaluations in flight: submit them again
        self.eval_failures = 0
        self.evaluation = Evaluation(config, trainer.device, self.search_dtype)
        self.eval_dtype = search_dtype(config.search_precision, torch.device("cpu"))  # Ray tasks search on CPUs
        if config.solver_positions and self.game.name != "connect4":  # refused before any training
            raise ConfigError(
                f"solver_positions scores Connect Four moves; {self.game.name} has no solver (set it to 0)"
            )
        self.workers_pool: SelfPlayPool | RaySelfPlay | None = None
        # ray_mode=async: optimizer steps owed to the games that arrived, and the counters
        self.train_credit = 0.0
        self.steps_since_publish = 0
        self.positions_stored = 0
        self.samples_trained = 0

    def new_network(self) -> PolicyValueNet:
        return build_network(self.game, network_kwargs(self.config))

    def mcts_config(self) -> MCTSConfig:
        """The self-play search settings."""
        cfg = self.config
        return MCTSConfig(
            cfg.simulations,
            cfg.c_puct,
            cfg.dirichlet_alpha,
            cfg.dirichlet_eps,
            reuse_tree=cfg.reuse_tree,
            root_selection=cfg.root_selection,
            gumbel_actions=cfg.gumbel_actions,
            win_check=cfg.win_check,
            solver=cfg.solver,
        )

    # -- self-play

    def self_play(self) -> dict[str, float]:
        """Play one iteration's games (in worker processes when `workers` is not 1) and store
        their positions, with every symmetry, in the replay buffer."""
        cfg = self.config
        params = self.selfplay_params()
        model = self.trainer.models["best"] if cfg.gating else self.model
        ray_metrics: dict[str, float] = {}
        if self.workers > 1 or cfg.backend == "ray":
            batch = self.pool().play(model, self.rng, params)
            if isinstance(self.workers_pool, RaySelfPlay):
                ray_metrics = self.workers_pool.metrics()
        else:
            batch = play_games(self.game, self.mcts, self.rng, params)
        return {**self.store(batch), **ray_metrics}

    def selfplay_params(self, games: int | None = None) -> SelfPlayParams:
        cfg = self.config
        return SelfPlayParams(
            games or cfg.games,
            cfg.temperature_moves,
            cfg.reuse_tree,
            cfg.resign_threshold,
            cfg.resign_check_fraction,
            cfg.full_search_fraction,
            cfg.fast_simulations or max(cfg.simulations // 4, 1),
        )

    def pool(self) -> SelfPlayPool | RaySelfPlay:
        """The self-play workers, started on first use."""
        if self.workers_pool is None:
            self.workers_pool = self.start_workers()
            self.release_on_close(self.workers_pool.close)
        return self.workers_pool

    def store(self, batch: SelfPlayBatch) -> dict[str, float]:
        """Put a batch's positions, with every symmetry, in the replay buffer; its statistics."""
        w = self.config.root_value_target
        target = ((1.0 - w) * batch.outcome + w * batch.root_value).astype(np.float32)
        if self.config.augment:
            for sym_planes, sym_pi in self.game.augment(batch.planes, batch.policy):
                self.replay.add(planes=sym_planes, policy=sym_pi, outcome=target)
        else:
            self.replay.add(planes=batch.planes, policy=batch.policy, outcome=target)
        self.games_played += len(batch.winners)
        return {
            "selfplay/resigned": float(batch.resigned.mean()),
            "selfplay/false_resign_rate": float(batch.false_resign.sum() / max(batch.checked.sum(), 1)),
            "selfplay/first_player_wins": float((batch.winners == 0).mean()),
            "selfplay/draws": float((batch.winners < 0).mean()),
            "selfplay/game_length": float(batch.lengths.mean()),
            "selfplay/simulations": float(batch.simulations),
            "charts/games_played": float(self.games_played),
            "charts/replay_size": float(self.replay.size),
        }

    def start_workers(self) -> SelfPlayPool | RaySelfPlay:
        """The self-play workers of `backend`: local processes or Ray actors."""
        cfg = self.config
        actor_device = torch.device("cuda" if cfg.actor_gpus > 0 else "cpu")
        args = (
            self.workers,
            cfg.env,
            network_kwargs(cfg),
            self.mcts_config(),
            search_dtype(cfg.search_precision, actor_device),
        )
        if cfg.backend == "ray":
            return RaySelfPlay(*args, address=cfg.ray_address, actor_gpus=cfg.actor_gpus)
        return SelfPlayPool(*args)

    # -- training

    def learn(self) -> dict[str, float]:
        """`train_steps` mini-batches from the replay buffer."""
        with self.training_threads():
            return self._learn_steps()

    @contextmanager
    def training_threads(self) -> Iterator[None]:
        """One torch thread per self-play worker while training on a CPU: in sync mode the
        workers wait meanwhile; async actors run at a lower priority and yield to it (one
        thread made the async learner the bottleneck on 2 cores, docs/BENCHMARKS.md)."""
        threads = torch.get_num_threads()
        if self.workers > 1 and self.trainer.device.type == "cpu":
            torch.set_num_threads(min(self.workers, os.cpu_count() or 1))
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def _learn_steps(self, steps: int | None = None) -> dict[str, float]:
        cfg = self.config
        steps = cfg.train_steps if steps is None else steps
        sums: dict[str, float] = {}
        for _ in range(steps):
            batch = self.replay.sample(self.rng, cfg.batch_size)
            x = torch.from_numpy(batch["planes"].astype(np.float32)).to(self.trainer.device)
            pi = torch.from_numpy(batch["policy"]).to(self.trainer.device)
            z = torch.from_numpy(batch["outcome"]).to(self.trainer.device)
            self.model.train()
            with self.trainer.autocast():
                logits, value = self.model(x)
            log_p = F.log_softmax(logits.float(), dim=1)
            policy_loss = -(pi * log_p).sum(dim=1).mean()
            value_loss = F.mse_loss(value.float(), z)
            metrics = self.trainer.optimize({"policy": policy_loss, "value": cfg.value_weight * value_loss})
            with torch.no_grad():
                entropy = -(log_p.exp() * log_p).sum(dim=1).mean()
                decided = z != 0
                accuracy = (
                    ((value.float() > 0) == (z > 0))[decided].float().mean() if decided.any() else torch.tensor(0.0)
                )
            policy_loss, value_loss = policy_loss.detach(), value_loss.detach()
            step = {
                "losses/policy": float(policy_loss),
                "losses/value": float(value_loss),
                "train/loss": float(policy_loss + value_loss),
                "train/policy_entropy": float(entropy),
                "train/value_accuracy": float(accuracy),
                **metrics,
            }
            for key, value_ in step.items():
                sums[key] = sums.get(key, 0.0) + value_
        return {k: v / max(steps, 1) for k, v in sums.items()}

    def train_step(self) -> dict[str, float]:
        if self.config.ray_mode == "async":
            return self.async_iteration()
        start = time.perf_counter()
        metrics = self.self_play()
        play_time = time.perf_counter() - start
        metrics["charts/games_per_s"] = self.config.games / play_time
        metrics["charts/simulations_per_s"] = metrics["selfplay/simulations"] / play_time
        metrics.update(self.learn())
        if self.config.gating:
            metrics.update(self.gate())
        return metrics

    def async_iteration(self) -> dict[str, float]:
        """ray_mode=async: actors play on with the newest weights they were given while the
        learner stores what arrives and trains train_steps / games optimizer steps per new
        game, publishing weights every publish_every steps; an iteration ends when `games`
        games have arrived. Batches played with weights more than max_policy_lag
        publications old are dropped."""
        cfg = self.config
        pool = self.pool()
        assert isinstance(pool, RaySelfPlay)
        started = time.perf_counter()
        if not pool.streaming:
            pool.start_stream(
                self.model, self.rng, self.selfplay_params(cfg.actor_games or max(1, cfg.games // (2 * self.workers)))
            )
        publish_every = cfg.publish_every or cfg.train_steps
        games = positions = steps = 0
        lags: list[int] = []
        stats: dict[str, float] = {}
        sums: dict[str, float] = {}
        with self.training_threads():
            while games < cfg.games:
                batch, lag = pool.next_batch(self.rng)
                if lag > cfg.max_policy_lag:
                    pool.stale_games += len(batch.winners)
                    continue
                lags.append(lag)
                before = self.replay.added
                stats = self.store(batch)
                positions += self.replay.added - before
                games += len(batch.winners)
                self.train_credit += len(batch.winners) * cfg.train_steps / cfg.games
                while self.train_credit >= 1.0:
                    for key, value in self._learn_steps(1).items():
                        sums[key] = sums.get(key, 0.0) + value
                    self.train_credit -= 1.0
                    steps += 1
                    self.steps_since_publish += 1
                    if self.steps_since_publish >= publish_every:
                        pool.publish(self.model)
                        self.steps_since_publish = 0
        seconds = time.perf_counter() - started
        self.positions_stored += positions
        self.samples_trained += steps * cfg.batch_size
        return {
            **stats,
            **{k: v / max(steps, 1) for k, v in sums.items()},
            **pool.metrics(),
            "ray/policy_lag": float(np.mean(lags)),
            "ray/policy_lag_max": float(max(lags)),
            "charts/games_per_s": games / seconds,
            "charts/positions_in_per_s": positions / seconds,
            "charts/samples_trained_per_s": steps * cfg.batch_size / seconds,
            "charts/sample_reuse": self.samples_trained / max(self.positions_stored, 1),
            "charts/train_steps": float(steps),
        }

    def gate(self) -> dict[str, float]:
        """Arena: the trained network against the best one; replace it on a winning score."""
        best = self.trainer.models["best"]
        cfg = self.config
        candidate = self.agent(self.config.eval_simulations).as_opponent()
        incumbent = self.search_agent(best).as_opponent()
        result = play_match(self.game, candidate, incumbent, cfg.gate_games, self.rng, cfg.opening_moves)
        accepted = result["score"] >= cfg.gate_threshold
        if accepted:
            best.load_state_dict(self.played_model().state_dict())
        return {"gate/score": result["score"], "gate/accepted": float(accepted)}

    # -- evaluation

    def played_model(self) -> nn.Module:
        """The network that is evaluated and published: the weight average where one is
        kept (steadier than the last update's), else the trained network."""
        ema = self.trainer.emas.get("model")
        return ema.module if ema is not None else self.model

    def agent(self, simulations: int | None = None, rng: np.random.Generator | None = None) -> AlphaZeroAgent:
        """The published agent: the played network searching `simulations` per move (default
        play_simulations, else eval_simulations), as load_agent, play and eval use it."""
        cfg = self.config
        return self.search_agent(self.played_model(), simulations or cfg.play_simulations or None, rng)

    def search_agent(
        self, model: nn.Module, simulations: int | None = None, rng: np.random.Generator | None = None
    ) -> AlphaZeroAgent:
        """`model` searching as evaluation and play do (no noise, eval_simulations by default),
        drawing from `rng` (default: the training generator, as the gate does)."""
        return self.evaluation.search_agent(model, self.rng if rng is None else rng, simulations)

    def eval_rng(self) -> np.random.Generator:
        """The generator of this step's evaluation (Evaluation.rng)."""
        return self.evaluation.rng(self.trainer.step)

    def match(
        self, opponent: str, games: int, simulations: int | None = None, rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        rng = self.eval_rng() if rng is None else rng
        opp = resolve_opponent(opponent, self.game, int(rng.integers(2**31)))
        agent = self.agent(simulations, rng).as_opponent()
        return play_match(self.game, agent, opp, games, rng, self.config.opening_moves)

    def eval_request(self) -> EvalRequest:
        """This step's evaluation: the played network's weights and, when an Elo round is due
        (the first evaluation and every elo_every-th), the fixed pool and the newest snapshots."""
        cfg = self.config
        self.evaluations += 1
        model = self.played_model()
        model = getattr(model, "_orig_mod", model)  # a compiled network's own names
        weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        request = EvalRequest(self.trainer.step, weights)
        if self.elo_specs and (self.evaluations - 1) % max(cfg.elo_every, 1) == 0:
            request.elo_specs = list(self.elo_specs)
            request.rate_pool = not self.pool_rated
            request.snapshots = list(self.snapshots)
            self.pool_rated = True
            if cfg.elo_snapshots > 0:  # this network plays the next rounds
                self.snapshots = [*self.snapshots, (f"iteration {request.step}", weights)][-cfg.elo_snapshots :]
        return request

    def evaluate(self) -> dict[str, float]:
        """The evaluation of this step's network, played here (Evaluation.run)."""
        request = self.eval_request()
        return self.eval_metrics(request, self.evaluation.run(request, self.played_model()))

    def submit_evaluation(self) -> bool:
        """backend=ray with eval_on_ray: start this step's evaluation as a Ray task beside
        training (its metrics come back through finished_evaluations)."""
        if self.config.backend != "ray" or not self.config.eval_on_ray:
            return False
        request = self.eval_request()
        self.evals_in_flight.append(request)
        self.ray_pool().submit_evaluation(self.config, request, self.eval_dtype)
        return True

    def finished_evaluations(self, wait: bool = False) -> list[tuple[int, dict[str, float], float]]:
        """The Ray evaluations that have finished, oldest first: (step of the evaluated
        weights, metrics, seconds the evaluation took); a failed one has no metrics (counted
        in ray/eval_failures, its Elo round lost)."""
        if not self.evals_in_flight:
            return []
        pool = self.ray_pool()
        if self.resubmit:  # a resumed run's evaluations in flight, from the checkpointed requests
            for request in self.evals_in_flight:
                pool.submit_evaluation(self.config, request, self.eval_dtype)
            self.resubmit = False
        done = []
        for request, outcome in pool.finished_evaluations(wait):
            self.evals_in_flight.remove(request)
            if outcome is None:
                self.eval_failures += 1
                self.pool_rated = self.pool_rated and not request.rate_pool
                done.append((request.step, {}, 0.0))
            else:
                metrics = {**self.eval_metrics(request, outcome), "ray/eval_failures": float(self.eval_failures)}
                done.append((request.step, metrics, outcome.seconds))
        return done

    def ray_pool(self) -> RaySelfPlay:
        pool = self.pool()
        assert isinstance(pool, RaySelfPlay)
        return pool

    def eval_metrics(self, request: EvalRequest, outcome: EvalOutcome) -> dict[str, float]:
        """An evaluation's metrics: its match, the Elo fit over every result so far, the
        solver positions; the example game goes to the run's media."""
        cfg = self.config
        result = outcome.match
        total, games = result["total"], cfg.eval_games
        self.log_example_game(result["first_game"], request.step)
        return {
            **(self.elo(request.step, outcome) if request.elo_specs else {}),
            **outcome.solver,
            "eval/score": result["score"],
            "eval/win_rate": total["wins"] / games,
            "eval/draw_rate": total["draws"] / games,
            "eval/loss_rate": total["losses"] / games,
            "eval/losses_first": float(result["first"]["losses"]),
            "eval/losses_second": float(result["second"]["losses"]),
            "eval/elo_vs_opponent": elo_difference(result["score"], games),
        }

    def elo(self, step: int, outcome: EvalOutcome) -> dict[str, float]:
        """The network's Elo from this round: one maximum-likelihood fit over every result
        so far, the first pool member at 0."""
        me = f"iteration {step}"
        self.elo_results += outcome.pool_results
        self.elo_results += [(me, name, r["score"], self.config.elo_games) for name, r in outcome.rounds.items()]
        players = list(dict.fromkeys([*self.elo_specs, *(n for r in self.elo_results for n in r[:2])]))
        index = {name: i for i, name in enumerate(players)}
        ratings = fit_elo([(index[a], index[b], sc, n) for a, b, sc, n in self.elo_results], len(players))
        out = {"eval/elo": float(ratings[index[me]])}
        out.update({f"eval/elo_pool/{spec}": float(ratings[index[spec]]) for spec in self.elo_specs})
        return out

    def log_example_game(self, moves: list[int], step: int) -> None:
        """One game of the evaluation match (the network first, against `eval_opponent`) as
        text in the run's media (and W&B): replayed from its moves, so it costs no search."""
        state = self.game.initial(1)
        frames = [f"the network (first) against {self.config.eval_opponent}", self.game.render(state)]
        for move in moves:
            state = self.game.step(state, np.array([move]))
            frames.append(self.game.render(state))
        text = "\n\n".join(frames)
        path = self.trainer.tracker.media_dir / f"example_game_{step:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        run = self.trainer.tracker.wandb_run
        if run is not None:
            import wandb

            run.log({"media/example_game": wandb.Html(f"<pre>{text}</pre>")}, step=self.trainer.step)

    def report(
        self, opponent: str | None = None, games: int | None = None, sims: int | None = None, **_: Any
    ) -> dict[str, Any]:
        """A match against `opponent` (default: the eval opponent), searching `sims`
        simulations per move (default: the published agent's, play_simulations or eval_simulations)."""
        opponent = opponent or self.config.eval_opponent
        games = games or max(self.config.eval_games, 2)
        if sims is not None and sims < 1:
            raise ConfigError(f"--sims must be >= 1, got {sims}")
        sims = sims or self.config.play_simulations or self.config.eval_simulations
        report: dict[str, Any] = {}
        if opponent.partition(":")[0] == "solver" and self.game.name == "connect4":
            report = self.solver_report(sims)
            if report.get("note"):
                return {"opponent": opponent, "games": 0, "simulations": sims, **report}
        result = self.match(opponent, games, sims)
        return {
            **report,
            "opponent": opponent,
            "games": games,
            "simulations": sims,
            "score": result["score"],
            "elo_vs_opponent": elo_difference(result["score"], games),
            "as_first": result["first"],
            "as_second": result["second"],
            "total": result["total"],
        }

    def solver_report(self, sims: int) -> dict[str, Any]:
        """Every committed solver-scored position: the network alone and with `sims`
        simulations, strict and win/draw/loss accuracy by phase."""
        scores = self.evaluation.solver_scores(self.played_model(), load_positions(), self.eval_rng(), sims)
        return {"network_alone": scores["raw"], "with_search": scores["search"]}

    # -- checkpoint

    def state_dict(self) -> dict[str, Any]:
        return {
            "replay": self.replay.state_dict(),
            "rng": self.rng.bit_generator.state,
            "games_played": self.games_played,
            "elo_results": [list(r) for r in self.elo_results],
            "evaluations": self.evaluations,
            "snapshots": [[name, weights] for name, weights in self.snapshots],
            "async": [self.train_credit, self.steps_since_publish, self.positions_stored, self.samples_trained],
            "evals_in_flight": [asdict(request) for request in self.evals_in_flight],
            "eval_failures": self.eval_failures,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.replay.load_state_dict(_replay_layout(state["replay"]))
        self.rng.bit_generator.state = state["rng"]
        self.games_played = int(state["games_played"])
        self.elo_results = [(str(a), str(b), float(sc), int(n)) for a, b, sc, n in state.get("elo_results", [])]
        self.snapshots = [(str(name), weights) for name, weights in state.get("snapshots", [])]
        self.evaluations = int(state.get("evaluations", 0))
        self.evals_in_flight = [_eval_request(saved) for saved in state.get("evals_in_flight", [])]
        self.resubmit = bool(self.evals_in_flight)
        self.eval_failures = int(state.get("eval_failures", 0))
        self.pool_rated = bool(self.elo_results) or any(r.rate_pool for r in self.evals_in_flight)
        credit, since, stored, trained = state.get("async", [0.0, 0, 0, 0])
        self.train_credit, self.steps_since_publish = float(credit), int(since)
        self.positions_stored, self.samples_trained = int(stored), int(trained)


def _eval_request(saved: dict[str, Any]) -> EvalRequest:
    """A checkpointed EvalRequest (snapshots come back as lists)."""
    snapshots = [(str(name), weights) for name, weights in saved["snapshots"]]
    return EvalRequest(
        int(saved["step"]), saved["weights"], list(saved["elo_specs"]), bool(saved["rate_pool"]), snapshots
    )


def _replay_layout(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved replay in ReplayBuffer's layout; checkpoints written before AlphaZero used the
    shared buffer kept the three arrays at the top, with `position` and `added`."""
    if "arrays" in saved:
        return saved
    arrays = {name: saved[name] for name in ("planes", "policy", "outcome")}
    return {"position": saved["position"], "size": len(arrays["outcome"]), "added": saved["added"], "arrays": arrays}
