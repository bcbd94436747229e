"""Self-play on Ray actors (backend=ray): bitwise the process pool's run, evaluations as
Ray tasks judging as the learner would, dead actors restarted with their games replayed, a
learner killed and resumed, clusters named when they cannot be reached, actors spread over
a two-node cluster."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import torch
from conftest import IN_CI, REPO, RLGEN, StopAt, run_cli
from test_alphazero import TINY, tiny

from rlgen.agents.alphazero.network import network_kwargs
from rlgen.agents.alphazero.ray_selfplay import RaySelfPlay, cluster_address
from rlgen.agents.alphazero.search import MCTSConfig
from rlgen.agents.alphazero.selfplay import SelfPlayParams
from rlgen.checkpoint import load_checkpoint
from rlgen.errors import ConfigError, UnknownNameError
from rlgen.run import resume, train
from rlgen.trainer import Callback


def test_sync_actors_give_bitwise_the_process_pools_run_and_evaluations_beside_it_judge_alike(tmp_path, ray_local):
    """Sync actors: weights and replay window bitwise the process pool's with as many workers.
    eval_on_ray: each evaluation (match, Elo round with the pool and a snapshot) runs as a Ray
    task on its iteration's weights, and its metrics equal the learner's own evaluation of
    them; best.pt holds the judged weights."""
    common = (
        "connect4", "steps=3", "trainer.eval_every=1", "elo_pool=random,lookahead",
        "elo_games=2", "elo_every=2", "elo_snapshots=1",
    )  # fmt: skip
    killed = tmp_path / "killed"

    class KillAfterEvaluationTwoIsAskedFor(Callback):
        """Copies the run folder as a SIGKILL would leave it: evaluation 2 in flight."""

        def on_checkpoint(self, trainer, path):
            if trainer.step == 2 and path.name == "last.pt" and not killed.exists():
                shutil.copytree(trainer.run_dir, killed)

    a = train("alphazero", tiny(*common, "workers=2"), tmp_path / "learner")
    b = train("alphazero", tiny(*common, "backend=ray", "actors=2"), tmp_path / "beside",
              callbacks=(KillAfterEvaluationTwoIsAskedFor(),))  # fmt: skip
    assert load_checkpoint(killed / "checkpoints" / "last.pt")["trainer"]["evals_in_flight"][-1] == 2
    resume(killed)
    ca, cb = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (a, b))
    for key, tensor in ca["models"]["model"].items():
        assert torch.equal(tensor, cb["models"]["model"][key]), key
    for key in ("planes", "policy", "outcome"):
        assert np.array_equal(ca["algorithm"]["replay"]["arrays"][key], cb["algorithm"]["replay"]["arrays"][key])
    assert ca["algorithm"]["elo_results"] == cb["algorithm"]["elo_results"]

    def evaluations(run):
        lines = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        return {
            int(line.get("eval/weights_step", line["step"])): {k: v for k, v in line.items() if k.startswith("eval/")}
            for line in lines
            if "eval/score" in line
        }

    on_learner, on_ray, resumed = evaluations(a), evaluations(b), evaluations(killed)
    assert sorted(on_ray) == sorted(on_learner) == sorted(resumed) == [1, 2, 3]
    for step, metrics in on_learner.items():
        assert {k: v for k, v in on_ray[step].items() if k != "eval/weights_step"} == metrics, step
        assert {k: v for k, v in resumed[step].items() if k != "eval/weights_step"} == metrics, step
    assert (
        load_checkpoint(killed / "checkpoints" / "last.pt")["algorithm"]["elo_results"]
        == ca["algorithm"]["elo_results"]
    )
    assert "eval/elo" in on_ray[3] and "eval/elo" not in on_ray[2]  # rounds at evaluations 1 and 3
    sa, sb = (json.loads((run / "summary.json").read_text()) for run in (a, b))
    assert sa["best/step"] == sb["best/step"] and sa["best/value"] == sb["best/value"]
    best_a, best_b = (load_checkpoint(run / "checkpoints" / "best.pt") for run in (a, b))
    assert best_b["step"] == sb["best/step"]
    for key, tensor in best_a["models"]["model"].items():
        assert torch.equal(tensor, best_b["models"]["model"][key]), key
    assert not list((b / "checkpoints").glob("eval-*.pt")) and not list((killed / "checkpoints").glob("eval-*.pt"))
    assert sb["ray/actors"] == 2 and sb["ray/actor_failures"] == 0 and sb["ray/weights_bytes"] > 10_000


def test_a_killed_actor_comes_back_and_its_share_is_replayed(ray_local):
    from rlgen.agents.alphazero.network import build_network
    from rlgen.envs.game import make_game

    config = tiny("connect4")
    pool = RaySelfPlay(2, "connect4", network_kwargs(config), MCTSConfig(simulations=32))
    try:
        model = build_network(make_game("connect4"), network_kwargs(config))
        params = SelfPlayParams(16, 4, True, -1.0, 0.0)
        reference = pool.play(model, np.random.default_rng(5), params)
        victim = pool.pids()[0]
        timer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))  # mid-iteration
        timer.start()
        started = time.perf_counter()
        again = pool.play(model, np.random.default_rng(5), params)
        timer.join()
        assert time.perf_counter() - started > 0.3, "the iteration ended before the kill: make it longer"
        assert pool.failures == 1 and pool.games_replayed == 8  # actor 0's share
        assert victim not in pool.pids()  # a new process plays for it
        for name in ("planes", "policy", "outcome", "winners", "lengths"):
            assert np.array_equal(getattr(reference, name), getattr(again, name)), name
    finally:
        pool.close()


def test_async_actors_stream_games_while_the_learner_trains_and_resume(tmp_path, ray_local):
    """ray_mode=async: every iteration takes `games` new games, trains train_steps per
    `games` games, drops nothing older than max_policy_lag; a stopped run resumes from
    its checkpoint's weights, replay window and counters."""
    config = tiny(
        "connect4", "steps=3", "games=8", "trainer.eval_every=1", "backend=ray", "actors=2",
        "ray_mode=async", "max_policy_lag=1", "publish_every=1", "actor_games=2",
    )  # fmt: skip
    run = train("alphazero", config, tmp_path / "async", callbacks=(StopAt(2),))
    stopped = load_checkpoint(run / "checkpoints" / "last.pt")
    assert stopped["step"] == 2 and stopped["algorithm"]["games_played"] >= 16

    first: dict[str, torch.Tensor] = {}

    class ResumedWeights(Callback):
        def on_train_start(self, trainer) -> None:
            first.update({k: v.clone() for k, v in trainer.models["model"].state_dict().items()})

    resume(run, callbacks=(ResumedWeights(),))
    assert first and all(torch.equal(first[k], v) for k, v in stopped["models"]["model"].items())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["step"] == 3 and summary["charts/games_played"] >= 24
    assert summary["ray/policy_lag_max"] <= 1 and summary["ray/publications"] >= 3
    assert summary["charts/train_steps"] == 3  # 3 per 8 games
    assert summary["charts/sample_reuse"] > 0 and summary["charts/positions_in_per_s"] > 0
    assert np.isfinite(summary["losses/policy"])
    assert summary["eval/weights_step"] == 3 and 0 <= summary["eval/score"] <= 1  # evaluated beside training
    assert load_checkpoint(run / "checkpoints" / "best.pt")["step"] == summary["best/step"]
    resumed = load_checkpoint(run / "checkpoints" / "last.pt")
    assert resumed["algorithm"]["replay"]["added"] > stopped["algorithm"]["replay"]["added"]


def test_async_needs_ray_and_no_gate():
    with pytest.raises(ConfigError, match="add backend=ray"):
        tiny("connect4", "ray_mode=async")
    with pytest.raises(ConfigError, match="with ray_mode=async set gating=false"):
        tiny("connect4", "backend=ray", "ray_mode=async", "gating=true")


def test_more_actors_than_the_cluster_has_cpus_is_refused(ray_local):
    config = tiny("connect4")
    with pytest.raises(ConfigError, match=r"actors=3 need 3 CPUs.*the Ray cluster has 2 CPUs"):
        RaySelfPlay(3, config.env, network_kwargs(config), None)


def test_settings_of_ray_need_backend_ray():
    with pytest.raises(ConfigError, match="settings of backend=ray; add backend=ray"):
        tiny("connect4", "actors=2")
    with pytest.raises(UnknownNameError, match="self-play backend .dask.. Valid choices: process, ray"):
        tiny("connect4", "backend=dask")


def test_an_unreachable_cluster_is_named_within_seconds(tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        cluster_address(f"127.0.0.1:{port}")
    with pytest.raises(ConfigError, match="host:port"):
        cluster_address("nowhere")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # no `ray start` left its address here
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    with pytest.raises(ConfigError, match="ray_address=auto found no running Ray cluster"):
        cluster_address("auto")
    assert time.perf_counter() - started < 10
    # ... and from the command line, before any training
    proc = run_cli(
        "train", "alphazero", "--env", "connect4", "--wandb", "disabled", "--run-dir", str(tmp_path / "run"),
        "--set", "backend=ray", "--set", f"ray_address=127.0.0.1:{port}", check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0 and f"cannot reach the Ray cluster at 127.0.0.1:{port}" in proc.stderr


def test_a_two_node_cluster_spreads_actors_and_a_killed_learner_resumes_exactly(tmp_path):
    """Two 1-CPU nodes (ray.cluster_utils.Cluster): actors on both; SIGKILL the learner
    (its own driver process), `rlgen resume`: the run equals one never stopped, played by
    the process pool (sync actors are bitwise the pool with as many workers)."""
    if not IN_CI:
        pytest.importorskip("ray", reason='Ray tests need the ray extra: pip install -e ".[ray]"')
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 100 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    cluster.add_node(**node)
    try:
        quick = ("trainer.eval_every=0", "trainer.final_report=false")  # evaluations on Ray: the sync test
        whole = train("alphazero", tiny("connect4", *quick, "workers=2"), tmp_path / "whole")
        args = ["train", "alphazero", "--env", "connect4", "--steps", "4", "--wandb", "disabled"]
        for item in (*TINY, *quick):
            if not item.startswith(("steps=", "wandb.", "workers=")):
                args += ["--set", item]
        args += ["--set", "backend=ray", "--set", "actors=2", "--set", f"ray_address={cluster.address}"]
        killed = tmp_path / "killed"
        proc = subprocess.Popen(
            [*RLGEN, *args, "--run-dir", str(killed)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            metrics = killed / "metrics.jsonl"
            if metrics.exists() and any('"step": 2,' in line for line in metrics.read_text().splitlines()):
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert load_checkpoint(killed / "checkpoints" / "last.pt")["step"] < 4
        run_cli("resume", str(killed))
        summary = json.loads((killed / "summary.json").read_text())
        assert summary["ray/nodes"] == 2 and summary["ray/actors"] == 2
        a = load_checkpoint(whole / "checkpoints" / "last.pt")
        b = load_checkpoint(killed / "checkpoints" / "last.pt")
        assert a["step"] == b["step"] == 4
        for key, tensor in a["models"]["model"].items():
            assert torch.equal(tensor, b["models"]["model"][key]), key
        for key in ("planes", "policy", "outcome"):
            assert np.array_equal(a["algorithm"]["replay"]["arrays"][key], b["algorithm"]["replay"]["arrays"][key])
    finally:
        cluster.shutdown()
