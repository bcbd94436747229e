"""Self-play on Ray actors (`--set backend=ray`): the process pool's work, on a cluster.

    rlgen train alphazero --env connect4 --set backend=ray actors=2     # a local Ray on this machine
    ray start --head --port 6379                                         # on the head node
    ray start --address HEAD:6379                                        # on every other node
    rlgen train alphazero --env connect4 --set backend=ray ray_address=auto actors=32

Each iteration the learner puts the weights in Ray's object store once; every actor (one
CPU, its own batched MCTS: exactly a SelfPlayPool worker) plays its share of the games
with the seed `split_games` gives it, and the learner gathers the shares in actor order,
so a run is bitwise equal to `backend=process` with as many workers. An actor whose
process dies is restarted by Ray and its share is played again with the same seed: the
games it had in flight are lost and replayed (`ray/games_replayed`), the run stays exact.

Async mode (`ray_mode=async`, `stream` below): each actor keeps IN_FLIGHT chunks of games
queued, each played with the newest weights published when it was queued; the learner
takes chunks as they finish, trains between them and publishes new weights every
`publish_every` optimizer steps (`ray.put` once per publication). A chunk's policy lag
is how many publications happened since its weights; the learner drops chunks older than
`max_policy_lag`. Not reproducible (arrival order is the cluster's); a dead actor's
queued chunks are lost and counted.

Evaluation (`eval_on_ray`, both modes): the learner submits each periodic evaluation as a
Ray task (`evaluate_on_worker` on the request's weights) and goes on training; finished
evaluations are taken in the order they were asked for. The task takes a CPU of its own
when the cluster has one beyond the actors', else shares theirs (num_cpus=0).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.agents.alphazero.config import AlphaZeroConfig
from rlgen.agents.alphazero.evaluation import EvalOutcome, EvalRequest, evaluate_on_worker
from rlgen.agents.alphazero.search import MCTSConfig
from rlgen.agents.alphazero.selfplay import (
    SelfPlayBatch,
    SelfPlayParams,
    _init_worker,
    _worker_play,
    split_games,
    weights_bytes,
)
from rlgen.errors import ConfigError
from rlgen.extras import require

CONNECT_TIMEOUT_S = 5.0
"""How long a cluster address may take to answer before the run stops with its name."""
IN_FLIGHT = 2
"""Chunks queued per actor in async mode: one playing, one waiting, so no actor idles
while the learner trains."""
RESTART_TIMEOUT_S = 120.0
"""How long a dead actor may take to come back before the iteration fails."""


def cluster_address(address: str) -> str:
    """The head's host:port for `ray_address` ('auto' = RAY_ADDRESS or the cluster `ray start`
    left on this machine), checked to answer within CONNECT_TIMEOUT_S: Ray itself would wait
    minutes for an address that never answers."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if not address and current.is_file():
            address = current.read_text().strip()
        if not address:
            raise ConfigError(
                "ray_address=auto found no running Ray cluster on this machine (no RAY_ADDRESS, "
                "no `ray start --head`); start one, give its host:port, or leave ray_address empty "
                "for a local Ray sized to this machine"
            )
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"ray_address must be empty, 'auto' or host:port (the head's GCS port), got '{address}'")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address} ({exc}); is `ray start --head --port {port}` "
            "running there and the port open to this machine?"
        ) from None
    return address


def connect(address: str = "") -> Any:
    """The `ray` module, connected: a Ray already initialized in this process is used as it
    is; '' starts a local one sized to this machine; 'auto' / host:port join a cluster."""
    ray = require("ray", "ray", "backend=ray")
    if not ray.is_initialized():
        if address:
            ray.init(address=cluster_address(address), logging_level="warning")
        else:
            ray.init(include_dashboard=False, logging_level="warning")
    return ray


class SelfPlayActor:
    """One self-play worker in its own process (a SelfPlayPool worker, as a Ray actor)."""

    def __init__(
        self, env: str, network_kwargs: dict[str, Any], mcts_config: MCTSConfig, dtype: Any, device: str
    ) -> None:
        _init_worker(env, network_kwargs, mcts_config, dtype, device=device)

    def pid(self) -> int:
        return os.getpid()

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def play(self, weights: bytes, seed: int, params: SelfPlayParams) -> SelfPlayBatch:
        return _worker_play(weights, seed, params)


class RaySelfPlay:
    """`actors` Ray actors playing each iteration's games: `play(model, rng, params)` as
    SelfPlayPool's, with the same shares and seeds; dead actors are restarted and replayed."""

    def __init__(
        self,
        actors: int,
        env: str,
        network_kwargs: dict[str, Any],
        mcts_config: MCTSConfig,
        dtype: Any = None,
        address: str = "",
        actor_gpus: float = 0.0,
    ) -> None:
        started = time.perf_counter()
        self.ray = ray = connect(address)
        have = ray.cluster_resources()
        if have.get("CPU", 0) < actors or have.get("GPU", 0) < actors * actor_gpus:
            raise ConfigError(
                f"actors={actors} need {actors} CPUs and {actors * actor_gpus:g} GPUs; the Ray cluster has "
                f"{have.get('CPU', 0):g} CPUs and {have.get('GPU', 0):g} GPUs (lower actors or add nodes)"
            )
        remote = ray.remote(SelfPlayActor).options(
            num_cpus=1,
            num_gpus=actor_gpus,
            max_restarts=-1,  # a dead actor comes back (its share is replayed)
            max_task_retries=0,  # ... by `play`, which counts what was lost
            scheduling_strategy="SPREAD",
        )
        device = "cuda" if actor_gpus > 0 else "cpu"
        self.actors = [remote.remote(env, network_kwargs, mcts_config, dtype, device) for _ in range(actors)]
        ray.get([actor.pid.remote() for actor in self.actors])
        self.startup_s = time.perf_counter() - started
        self.failures = 0
        self.games_replayed = 0
        self.weights_bytes = 0
        self.node_count = len(set(self.nodes()))
        # evaluations beside training, oldest first; a CPU of their own when one is spare
        self.evaluations: list[tuple[EvalRequest, Any]] = []
        eval_cpus = 1.0 if have.get("CPU", 0) >= actors + 1 else 0.0
        self.eval_task = ray.remote(evaluate_on_worker).options(num_cpus=eval_cpus, max_retries=1)
        # async mode
        self.streaming = False
        self.version = 0
        self.weights_ref: Any = None
        self.stream_params: SelfPlayParams | None = None
        self.pending: dict[Any, tuple[int, int]] = {}  # ref -> (actor, weights version)
        self.games_lost = 0
        self.stale_games = 0
        self.publications = 0

    def play(self, model: Any, rng: np.random.Generator, params: SelfPlayParams) -> SelfPlayBatch:
        ray = self.ray
        blob = weights_bytes(model)
        self.weights_bytes = len(blob)
        weights = ray.put(blob)  # once per iteration, however many actors read it
        jobs = split_games(params.games, len(self.actors), rng)

        def submit(i: int) -> Any:
            seed, games = jobs[i]
            return self.actors[i].play.remote(weights, seed, replace(params, games=games))

        pending = {submit(i): i for i in range(len(jobs))}
        batches: dict[int, SelfPlayBatch] = {}
        failures = 0
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready)
            try:
                batches[i] = ray.get(ready)
            except ray.exceptions.RayActorError as exc:
                failures += 1
                if failures > 3 * len(self.actors):
                    raise RuntimeError(f"self-play actors keep dying ({failures} times this iteration): {exc}") from exc
                self.failures += 1
                self.games_replayed += jobs[i][1]
                self._await_restart(i)
                pending[submit(i)] = i
        if failures:
            self.node_count = len(set(self.nodes()))  # a restarted actor may live elsewhere
        return SelfPlayBatch.concat([batches[i] for i in range(len(jobs))])

    # -- async mode

    def start_stream(self, model: Any, rng: np.random.Generator, params: SelfPlayParams) -> None:
        """Queue IN_FLIGHT chunks of `params.games` games on every actor with these weights."""
        self.stream_params = params
        self.publish(model)
        for actor in range(len(self.actors)):
            for _ in range(IN_FLIGHT):
                self._queue(actor, rng)
        self.streaming = True

    def publish(self, model: Any) -> None:
        """New weights for the chunks queued from now on."""
        blob = weights_bytes(model)
        self.weights_bytes = len(blob)
        self.weights_ref = self.ray.put(blob)
        self.version += 1
        self.publications += 1

    def _queue(self, actor: int, rng: np.random.Generator) -> None:
        assert self.stream_params is not None
        seed = int(rng.integers(0, 2**63 - 1))
        ref = self.actors[actor].play.remote(self.weights_ref, seed, self.stream_params)
        self.pending[ref] = (actor, self.version)

    def next_batch(self, rng: np.random.Generator) -> tuple[SelfPlayBatch, int]:
        """The next finished chunk and its policy lag; its actor gets a new chunk queued."""
        ray = self.ray
        while True:
            (ready,), _ = ray.wait(list(self.pending), num_returns=1)
            actor, version = self.pending.pop(ready)
            try:
                batch = ray.get(ready)
            except ray.exceptions.RayActorError:
                self.failures += 1
                assert self.stream_params is not None
                self.games_lost += self.stream_params.games
                self._await_restart(actor)
                self._queue(actor, rng)
                continue
            self._queue(actor, rng)
            return batch, self.version - version

    # -- evaluation beside training

    def submit_evaluation(self, config: AlphaZeroConfig, request: EvalRequest, dtype: Any) -> None:
        """Start `request` as a Ray task searching in `dtype` (its weights travel with it)."""
        self.evaluations.append((request, self.eval_task.remote(config, request, dtype)))

    def finished_evaluations(self, wait: bool = False) -> list[tuple[EvalRequest, EvalOutcome | None]]:
        """The evaluations that have ended, in the order they were submitted (a later one
        waits for an earlier); `wait`: all of them, blocking until each ends. A task that
        failed (its worker died twice, or it raised) gives None, with a warning."""
        done: list[tuple[EvalRequest, EvalOutcome | None]] = []
        while self.evaluations:
            request, ref = self.evaluations[0]
            ready, _ = self.ray.wait([ref], num_returns=1, timeout=None if wait else 0)
            if not ready:
                break
            self.evaluations.pop(0)
            try:
                done.append((request, self.ray.get(ref)))
            except self.ray.exceptions.RayError as exc:
                warnings.warn(f"the evaluation of iteration {request.step} failed: {exc}", RuntimeWarning, stacklevel=2)
                done.append((request, None))
        return done

    # -- faults

    def _await_restart(self, i: int, timeout_s: float = RESTART_TIMEOUT_S) -> None:
        """Wait until Ray has brought actor i back (calls fail fast while it restarts)."""
        deadline = time.perf_counter() + timeout_s
        while True:
            try:
                self.ray.get(self.actors[i].pid.remote())
                return
            except self.ray.exceptions.RayActorError:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"self-play actor {i} did not come back within {timeout_s:.0f} s") from None
                time.sleep(0.1)

    def pids(self) -> list[int]:
        return self.ray.get([actor.pid.remote() for actor in self.actors])

    def nodes(self) -> list[str]:
        return self.ray.get([actor.node.remote() for actor in self.actors])

    def metrics(self) -> dict[str, float]:
        streamed = {
            "ray/games_lost": float(self.games_lost),
            "ray/stale_games": float(self.stale_games),
            "ray/publications": float(self.publications),
        }
        return {
            **(streamed if self.streaming else {}),
            "ray/actors": float(len(self.actors)),
            "ray/actor_failures": float(self.failures),
            "ray/games_replayed": float(self.games_replayed),
            "ray/nodes": float(self.node_count),
            "ray/weights_bytes": float(self.weights_bytes),
        }

    def close(self) -> None:
        """Kill the actors (and with them any queued chunks) and cancel the evaluations; nothing
        to do once Ray is down."""
        if self.ray.is_initialized():
            for _, ref in self.evaluations:
                self.ray.cancel(ref, force=True)
            for actor in self.actors:
                self.ray.kill(actor)
        self.pending, self.evaluations, self.actors = {}, [], []
