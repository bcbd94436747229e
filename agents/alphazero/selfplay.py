"""Self-play game generation, in process or in worker processes.

Generation and training talk only through positions (returned to the learner, which
fills its replay buffer) and a weights snapshot (sent to the workers each iteration), so
the same `play_games` runs in process, in a process pool, or on Ray actors
(agents/alphazero/ray_selfplay.py).
"""

from __future__ import annotations

import io
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from typing import Any

import numpy as np
import torch

from rlgen.agents.alphazero.network import NetworkEvaluator, build_network
from rlgen.agents.alphazero.search import MCTS, MCTSConfig
from rlgen.envs.game import Game, make_game


@dataclass
class SelfPlayParams:
    games: int
    temperature_moves: int
    reuse_tree: bool
    resign_threshold: float
    resign_check_fraction: float
    full_search_fraction: float = 1.0
    fast_simulations: int = 0


@dataclass
class SelfPlayBatch:
    """Positions of finished games with their outcomes, plus per-game statistics."""

    planes: np.ndarray  # int8 [N, 2, H, W]
    policy: np.ndarray  # float32 [N, A]
    outcome: np.ndarray  # float32 [N], from the side to move
    root_value: np.ndarray  # float32 [N], the search's value of the position, same view
    winners: np.ndarray  # int8 [G]
    lengths: np.ndarray  # int [G]
    resigned: np.ndarray  # bool [G]
    checked: np.ndarray  # bool [G], no-resign games where resigning was considered
    false_resign: np.ndarray  # bool [G]
    simulations: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def concat(batches: list[SelfPlayBatch]) -> SelfPlayBatch:
        cat = lambda name: np.concatenate([getattr(b, name) for b in batches])  # noqa: E731
        return SelfPlayBatch(
            *(
                cat(n)
                for n in (
                    "planes",
                    "policy",
                    "outcome",
                    "root_value",
                    "winners",
                    "lengths",
                    "resigned",
                    "checked",
                    "false_resign",
                )
            ),
            simulations=sum(b.simulations for b in batches),
        )


def play_games(game: Game, mcts: MCTS, rng: np.random.Generator, params: SelfPlayParams) -> SelfPlayBatch:
    """Play `params.games` self-play games at once with root noise and a temperature. With
    playout cap randomization (full_search_fraction < 1) a move is a full search, kept for
    training, with that probability, else a fast search without noise that is only played;
    the choice is one per move for the whole batch, so the searches stay batched."""
    state = game.initial(params.games)
    live = np.arange(params.games)
    tree = None
    planes, policies, values, players, owners = [], [], [], [], []
    simulations = 0
    may_resign = rng.random(params.games) >= params.resign_check_fraction
    would_resign = np.full(params.games, -1, np.int8)  # the side that would have resigned
    resigned = np.zeros(params.games, bool)
    while len(live):
        sub = state.take(live)
        full = params.full_search_fraction >= 1.0 or rng.random() < params.full_search_fraction
        result = mcts.run(
            sub if tree is None else None, noise=full, tree=tree, simulations=None if full else params.fast_simulations
        )
        simulations += mcts.last_simulations
        pi = result.target()
        if result.selected is not None:  # Gumbel: the sampled noise already explores
            actions = result.selected
        elif int(sub.moves[0]) < params.temperature_moves:
            actions = (rng.random(len(live))[:, None] > np.cumsum(pi, axis=1)).sum(axis=1)
        else:
            best = result.policy(0.0)
            actions = (rng.random(best.shape) * best).argmax(axis=1)
        if full:
            planes.append(game.observation(sub).astype(np.int8))
            policies.append(pi.astype(np.float32))
            values.append(result.value.astype(np.float32))
            players.append(sub.to_play.copy())
            owners.append(live.copy())
        hopeless = result.value < params.resign_threshold
        first_time = hopeless & (would_resign[live] < 0)
        would_resign[live[first_time]] = sub.to_play[first_time]
        resign = hopeless & may_resign[live]
        after = game.step(sub, actions)
        if resign.any():  # the side to move gives up: the game ends, the other side wins
            after.done[resign] = True
            after.winner[resign] = 1 - sub.to_play[resign]
            resigned[live[resign]] = True
        state.put(live, after)
        going = ~after.done
        if params.reuse_tree:
            tree = mcts.advance(result.tree, actions).take(np.flatnonzero(going))
        live = live[going]
    winners = state.winner
    if not planes:  # playout cap randomization can keep no move of a short batch
        empty = game.initial(1).take(np.zeros(0, np.int64))
        planes, policies = [game.observation(empty).astype(np.int8)], [np.zeros((0, game.num_actions), np.float32)]
        values, players, owners = [np.zeros(0, np.float32)], [np.zeros(0, np.int8)], [np.zeros(0, np.int64)]
    player_all, owner_all = np.concatenate(players), np.concatenate(owners)
    winner = winners[owner_all]
    outcome = np.where(winner < 0, 0.0, np.where(winner == player_all, 1.0, -1.0)).astype(np.float32)
    checked = ~may_resign & (would_resign >= 0)
    # A false resignation: a no-resign game where the side that would have resigned did not lose.
    false_resign = checked & (winners != 1 - would_resign)
    return SelfPlayBatch(
        np.concatenate(planes),
        np.concatenate(policies),
        outcome,
        np.concatenate(values),
        winners.copy(),
        state.moves.astype(np.int64),
        resigned,
        checked,
        false_resign,
        simulations,
    )


# ----------------------------------------------------------------------------- workers

_WORKER: dict[str, Any] = {}


def worker_processes(workers: int) -> int:
    """The self-play processes a `workers` setting asks for: 0 = one per CPU core (at most 8)."""
    return workers or max(1, min(os.cpu_count() or 1, 8))


def _exit_with_parent(parent: int) -> None:
    """A killed learner (SIGKILL) cannot shut its pool down: workers leave on their own."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _init_worker(
    env: str,
    network_kwargs: dict[str, Any],
    mcts_config: MCTSConfig,
    dtype: Any,
    parent: int | None = None,
    device: str = "cpu",
) -> None:
    """Build a worker's game, network and search (one torch thread); `parent`: exit when it dies."""
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    torch.set_num_threads(1)
    game = make_game(env)
    model = build_network(game, network_kwargs).to(device)
    evaluator = NetworkEvaluator(game, model, torch.device(device), dtype)
    _WORKER.update(game=game, model=model, mcts=MCTS(game, evaluator, mcts_config))


def _worker_play(weights: bytes, seed: int, params: SelfPlayParams) -> SelfPlayBatch:
    state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    _WORKER["model"].load_state_dict(state)
    rng = np.random.default_rng(seed)
    mcts = _WORKER["mcts"]
    mcts.rng = rng
    return play_games(_WORKER["game"], mcts, rng, params)


def weights_bytes(model: Any) -> bytes:
    """The model's weights as one torch.save blob: what every worker loads each iteration."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def split_games(games: int, workers: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """(seed, games) per worker with games: the same shares and seeds on every backend,
    so process workers and Ray actors play the same games."""
    shares = np.full(workers, games // workers)
    shares[: games % workers] += 1
    seeds = rng.integers(0, 2**63 - 1, size=workers)
    return [(int(seed), int(n)) for seed, n in zip(seeds, shares, strict=True) if n > 0]


class SelfPlayPool:
    """Worker processes (spawned, one torch thread each) that play self-play games with a
    weights snapshot; results come back in a fixed order, so runs stay reproducible."""

    def __init__(
        self, workers: int, env: str, network_kwargs: dict[str, Any], mcts_config: MCTSConfig, dtype: Any = None
    ) -> None:
        self.workers = workers
        self.executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(env, network_kwargs, mcts_config, dtype, os.getpid()),
        )

    def play(self, model: Any, rng: np.random.Generator, params: SelfPlayParams) -> SelfPlayBatch:
        weights = weights_bytes(model)
        futures = [
            self.executor.submit(_worker_play, weights, seed, replace(params, games=n))
            for seed, n in split_games(params.games, self.workers, rng)
        ]
        return SelfPlayBatch.concat([f.result() for f in futures])

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
