"""AlphaZero: learning floor on tic-tac-toe, exact resume, agents inside PettingZoo."""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tictactoe_oracle as oracle
import torch
from conftest import REPO, RLGEN, LegalMovesOnly, run_cli
from pettingzoo.classic import connect_four_v3, tictactoe_v3

from rlgen.agents import load_agent
from rlgen.agents.alphazero import AlphaZeroConfig
from rlgen.agents.alphazero.network import NetworkEvaluator, PolicyValueNet, build_network, network_kwargs
from rlgen.checkpoint import load_checkpoint
from rlgen.cli import main
from rlgen.config import build_config, to_dict
from rlgen.envs.arena import RandomPolicy, play_pettingzoo
from rlgen.errors import ConfigError
from rlgen.run import train
from rlgen.trainer import Callback

TINY = [
    "steps=4",
    "games=8",
    "simulations=8",
    "train_steps=3",
    "batch_size=32",
    "eval_games=4",
    "eval_simulations=8",
    "play_simulations=0",
    "trainer.eval_every=2",
    "wandb.mode=disabled",
    "trainer.progress=off",
    "elo_pool=none",
    "workers=1",
]


def tiny(env: str, *extra: str) -> AlphaZeroConfig:
    return build_config(AlphaZeroConfig, {}, [f"env={env}", *TINY, *extra])


def test_worker_processes_match_across_runs(tmp_path):
    a = train("alphazero", tiny("connect4", "steps=2", "workers=2", "trainer.eval_every=0"), tmp_path / "a")
    b = train("alphazero", tiny("connect4", "steps=2", "workers=2", "trainer.eval_every=0"), tmp_path / "b")
    wa = load_checkpoint(a / "checkpoints" / "last.pt")["models"]["model"]
    wb = load_checkpoint(b / "checkpoints" / "last.pt")["models"]["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    summary = json.loads((a / "summary.json").read_text())
    assert summary["charts/games_played"] == 16 and summary["charts/replay_size"] > 0


def test_a_run_ends_with_its_worker_processes_gone(tmp_path):
    """train() returns with the workers shut down, not when the garbage collector reaches
    the algorithm: a second run in the process (a test, a sweep) starts on free cores."""

    class CountWorkers(Callback):
        during: list[int] = []

        def on_step_end(self, trainer, metrics) -> None:
            self.during.append(len(multiprocessing.active_children()))

    config = tiny("connect4", "steps=1", "workers=2", "trainer.eval_every=0", "trainer.final_report=false")
    before = len(multiprocessing.active_children())
    gc.disable()  # the algorithm sits in reference cycles: only the run's own close ends the pool
    try:
        train("alphazero", config, tmp_path / "run", callbacks=(CountWorkers(),))
        after = len(multiprocessing.active_children())
    finally:
        gc.enable()
    assert CountWorkers.during == [before + 2] and after == before


def test_config_fills_game_defaults_and_rejects_unknown_games():
    cfg = build_config(AlphaZeroConfig, {}, ["env=connect4"])
    assert cfg.blocks == 3 and cfg.eval_opponent == "alphabeta:2" and cfg.temperature_moves == 8
    # The board games run long enough that --minutes ends them; tic-tac-toe needs few.
    assert (cfg.steps, build_config(AlphaZeroConfig, {}, ["env=tictactoe"]).steps) == (120, 40)
    assert build_config(AlphaZeroConfig, {}, ["env=connect4", "steps=7"]).steps == 7
    from rlgen.errors import ConfigError, UnknownNameError

    with pytest.raises(UnknownNameError, match="choices: connect4"):
        build_config(AlphaZeroConfig, {}, ["env=chess"])
    with pytest.raises(ConfigError, match="elo_snapshots must be >= 0"):
        build_config(AlphaZeroConfig, {}, ["env=connect4", "elo_snapshots=-1"])
    with pytest.raises(ConfigError, match="search_precision must be auto, fp32 or bf16"):
        build_config(AlphaZeroConfig, {}, ["env=connect4", "search_precision=fp8"])
    with pytest.raises(ConfigError, match="root_value_target must be in"):
        build_config(AlphaZeroConfig, {}, ["env=connect4", "root_value_target=1.5"])
    with pytest.raises(ConfigError, match="full_search_fraction must be in"):
        build_config(AlphaZeroConfig, {}, ["env=connect4", "full_search_fraction=0"])
    with pytest.raises(ConfigError, match="play_simulations must be >= 0"):
        build_config(AlphaZeroConfig, {}, ["env=connect4", "play_simulations=-1"])
    # The published agent searches more than the periodic evaluation on tic-tac-toe only.
    assert build_config(AlphaZeroConfig, {}, ["env=tictactoe"]).play_simulations == 1024
    assert (cfg.play_simulations, cfg.solver_positions) == (0, 300)


def test_values_set_on_purpose_are_kept_even_when_zero():
    """A value set on purpose beats the game's preset, even 0: opening_moves=0 means no
    random opening plies, not Connect Four's 2."""
    cfg = build_config(AlphaZeroConfig, {}, ["env=connect4", "opening_moves=0", "temperature_moves=0"])
    assert (cfg.opening_moves, cfg.temperature_moves) == (0, 0)
    default = build_config(AlphaZeroConfig, {}, ["env=connect4"])
    assert (default.opening_moves, default.temperature_moves, default.elo_every) == (2, 8, 4)
    # win_check: on in the tic-tac-toe and Connect Four presets, off for Othello, an explicit False kept.
    assert default.win_check is True
    assert build_config(AlphaZeroConfig, {}, ["env=connect4", "win_check=false"]).win_check is False
    assert build_config(AlphaZeroConfig, {}, ["env=tictactoe"]).win_check is True
    assert build_config(AlphaZeroConfig, {}, ["env=othello6"]).win_check is False
    # parity_plane likewise: on in Connect Four's preset only.
    assert default.parity_plane is True and build_config(AlphaZeroConfig, {}, ["env=tictactoe"]).parity_plane is False
    assert build_config(AlphaZeroConfig, {}, ["env=connect4", "parity_plane=false"]).parity_plane is False


def test_presets_cover_every_game_and_the_field_defaults_are_tictactoes():
    """One complete table: every game of the core has a preset with the same keys, and the
    field defaults are the default game's (tic-tac-toe's) preset."""
    from rlgen.agents.alphazero.selfplay import worker_processes
    from rlgen.envs.game import GAMES
    from rlgen.errors import ConfigError

    presets = AlphaZeroConfig.PRESETS
    assert set(presets) == set(GAMES)
    keys = set(presets["tictactoe"])
    assert all(set(preset) == keys for preset in presets.values())
    defaults = AlphaZeroConfig()
    plain = to_dict(defaults)  # a section's preset (trainer) names only some of its keys
    assert defaults.env == "tictactoe" and all(
        ({k: plain[key][k] for k in value} if isinstance(value, dict) else plain[key]) == value
        for key, value in presets["tictactoe"].items()
    )
    assert build_config(AlphaZeroConfig, {}, ["env=othello8"]).channels == presets["othello8"]["channels"] == 48
    # workers: 1 in process for tic-tac-toe; the board games' 0 is one process per core.
    assert build_config(AlphaZeroConfig, {}, ["env=connect4"]).workers == 0
    assert worker_processes(0) == max(1, min(os.cpu_count() or 1, 8)) and worker_processes(3) == 3
    with pytest.raises(ConfigError, match="games must be >= 1"):
        build_config(AlphaZeroConfig, {}, ["env=connect4", "games=0"])
    with pytest.raises(ConfigError, match="workers must be >= 0"):
        build_config(AlphaZeroConfig, {}, ["workers=-1"])


def test_checkpoints_from_before_the_shared_replay_buffer_still_load(tmp_path):
    """Checkpoints once held the replay window's arrays at the top of its state; they load
    into the shared ReplayBuffer with the same rows, write position and count, so such a
    run resumes where it stopped."""
    from rlgen.run import build_for_eval

    # A window smaller than one iteration's positions wraps, so the write position is not 0.
    run = train("alphazero", tiny("tictactoe", "steps=1", "trainer.eval_every=0", "replay_window=100"), tmp_path / "r")
    saved = load_checkpoint(run / "checkpoints" / "last.pt")["algorithm"]
    replay = saved["replay"]
    assert replay["size"] == 100 and replay["added"] > 100 and replay["position"] > 0
    old_layout = {**replay["arrays"], "position": replay["position"], "added": replay["added"]}
    algorithm, _, _ = build_for_eval(run, checkpoint="last")
    algorithm.load_state_dict({**saved, "replay": old_layout})
    loaded = algorithm.replay.state_dict()
    assert (loaded["size"], loaded["position"], loaded["added"]) == (100, replay["position"], replay["added"])
    for name, array in replay["arrays"].items():
        assert np.array_equal(loaded["arrays"][name], array), name


@pytest.mark.parametrize("version_counters", [True, False])
def test_search_network_follows_every_weight_update(monkeypatch, version_counters):
    """The evaluator searches with a folded (and maybe bf16) copy of the network; an
    optimizer step or load_state_dict must reach it before the next evaluation, with
    torch's internal version counters and with the public fallback (copies compared)."""
    from rlgen.agents.alphazero import network
    from rlgen.envs.game import make_game

    assert network.TENSOR_VERSIONS  # this torch has them; the fallback is forced below
    monkeypatch.setattr(network, "TENSOR_VERSIONS", version_counters)
    torch.manual_seed(0)
    game = make_game("connect4")
    model = PolicyValueNet(game.board_shape, game.num_actions, 1, 8)
    evaluator = NetworkEvaluator(game, model, torch.device("cpu"))
    states = game.step(game.initial(4), np.array([0, 1, 2, 3]))
    planes = torch.from_numpy(game.observation(states)).float()

    def expected() -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            logits, value = model.eval()(planes)
        model.train()
        return torch.softmax(logits, 1).numpy(), value.numpy()

    before = evaluator(states)
    np.testing.assert_allclose(before[0], expected()[0], atol=1e-5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    logits, value = model(planes)
    (logits[:, 0].sum() + value.sum()).backward()
    optimizer.step()
    after = evaluator(states)
    assert not np.allclose(after[0], before[0], atol=1e-3)
    np.testing.assert_allclose(after[0], expected()[0], atol=1e-5)
    np.testing.assert_allclose(after[1], expected()[1], atol=1e-5)
    model.load_state_dict(PolicyValueNet(game.board_shape, game.num_actions, 1, 8).state_dict())
    np.testing.assert_allclose(evaluator(states)[0], expected()[0], atol=1e-5)


def test_weight_average_is_what_is_evaluated_played_and_resumed(tmp_path):
    """ema_iterations > 0: the checkpoint keeps an average of the weights, load_agent (so
    eval and play) searches with it, and resume carries it on instead of restarting it."""
    run = train("alphazero", tiny("tictactoe", "steps=2", "ema_iterations=2", "trainer.eval_every=0"), tmp_path / "run")
    saved = load_checkpoint(run / "checkpoints" / "last.pt")
    averaged = {k.removeprefix("module."): v for k, v in saved["emas"]["model"].items() if k.startswith("module.")}
    trained = saved["models"]["model"]
    assert int(saved["emas"]["model"]["n_averaged"]) == 2 * 3  # one update per optimizer step
    played = load_agent(run, checkpoint="last").model.state_dict()
    assert all(torch.equal(played[k].cpu(), averaged[k].cpu()) for k in trained)
    assert not all(torch.equal(averaged[k], trained[k]) for k in trained if trained[k].is_floating_point())
    main(["resume", str(run), "--steps", "3"])
    resumed = load_checkpoint(run / "checkpoints" / "last.pt")["emas"]["model"]
    assert int(resumed["n_averaged"]) == 3 * 3  # a restarted average would count 3
    from rlgen.errors import ConfigError

    with pytest.raises(ConfigError, match="ema_iterations must be >= 0"):
        build_config(AlphaZeroConfig, {}, ["env=tictactoe", "ema_iterations=-1"])


def test_parity_plane_tells_the_tower_who_moves(tmp_path):
    """parity_plane: the tower sees a fourth plane, 1 where the second player moves (odd
    stone count), 0 where the first does; self-play workers build the same network."""
    from rlgen.envs.game import make_game

    game = make_game("connect4")
    model = PolicyValueNet(game.board_shape, game.num_actions, 1, 8, parity_plane=True)
    seen: list[torch.Tensor] = []
    model.tower.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0]))
    states = game.initial(3)
    states = game.step(states, np.array([0, 0, 0]))
    states.put(np.array([2]), game.step(states.take(np.array([2])), np.array([3])))
    planes = torch.from_numpy(game.observation(states)).float()  # 1, 1 and 2 stones
    model.eval()(planes)
    assert seen[0].shape[1] == 4
    assert [float(seen[0][i, 3].min()) for i in range(3)] == [1.0, 1.0, 0.0]
    assert [float(seen[0][i, 3].max()) for i in range(3)] == [1.0, 1.0, 0.0]
    run = train(
        "alphazero",
        tiny("connect4", "steps=1", "workers=2", "parity_plane=true", "trainer.eval_every=1"),
        tmp_path / "p",
    )
    assert load_checkpoint(run / "checkpoints" / "last.pt")["models"]["model"]["tower.stem.0.weight"].shape[1] == 4
    assert load_agent(run, checkpoint="last").model.parity_plane


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_value_targets_mix_outcome_and_root_value(tmp_path, weight):
    run = train(
        "alphazero", tiny("tictactoe", "steps=1", "trainer.eval_every=0", f"root_value_target={weight}"), tmp_path / "r"
    )
    targets = np.asarray(load_checkpoint(run / "checkpoints" / "last.pt")["algorithm"]["replay"]["arrays"]["outcome"])
    outcomes = np.isin(targets, [-1.0, 0.0, 1.0])
    if weight == 0.0:  # AlphaZero: the game's result
        assert outcomes.all()
    else:  # the search's values: inside [-1, 1], mostly not a game result
        assert np.abs(targets).max() <= 1.0 and outcomes.mean() < 0.5


@pytest.mark.parametrize("env", ["tictactoe", "connect4", "othello6", "gomoku"])
def test_one_iteration_runs_on_every_game(tmp_path, env):
    run = train("alphazero", tiny(env, "steps=1", "trainer.eval_every=1"), tmp_path / env)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["charts/replay_size"] > 0 and np.isfinite(summary["losses/policy"])
    assert 0.0 <= summary["eval/score"] <= 1.0


def test_sigkill_then_resume_is_exact(tmp_path):
    """Kill -9 mid-training, `rlgen resume`: same weights and replay window as a run
    never stopped."""
    args = ["train", "alphazero", "--env", "connect4", "--steps", "8", "--wandb", "disabled"]
    for item in TINY:
        if not item.startswith(("steps=", "wandb.")):
            args += ["--set", item]
    args += ["--set", "workers=2"]  # self-play in worker processes resumes exactly too
    run_cli(*args, "--run-dir", str(tmp_path / "whole"))
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*RLGEN, *args, "--run-dir", str(killed)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        lines = (killed / "metrics.jsonl").read_text().splitlines() if (killed / "metrics.jsonl").exists() else []
        if any('"step": 3,' in line for line in lines):
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 2  # the self-play workers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(killed / "checkpoints" / "last.pt")["step"] < 8
    time.sleep(3.0)  # the killed learner's workers notice and exit by themselves
    alive = [
        pid
        for pid in children
        if os.path.exists(f"/proc/{pid}") and "zombie" not in Path(f"/proc/{pid}/status").read_text()
    ]
    assert not alive, f"orphaned workers: {alive}"
    run_cli("resume", str(killed))
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = load_checkpoint(killed / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 8
    for key, tensor in a["models"]["model"].items():
        assert torch.equal(tensor, b["models"]["model"][key]), key
    for key in ("planes", "policy", "outcome"):
        assert np.array_equal(a["algorithm"]["replay"]["arrays"][key], b["algorithm"]["replay"]["arrays"][key])
    steps = [
        json.loads(line)["step"]
        for line in (killed / "metrics.jsonl").read_text().splitlines()
        if "losses/policy" in line
    ]
    assert steps == list(range(1, 9))


def test_agent_plays_inside_pettingzoo(tmp_path):
    for env_name, reference in (("tictactoe", tictactoe_v3), ("connect4", connect_four_v3)):
        # solver=false reaches the loaded agent's search (the default is on).
        run = train(
            "alphazero",
            tiny(env_name, "steps=1", *(["solver=false"] if env_name == "connect4" else [])),
            tmp_path / env_name,
        )
        agent = load_agent(run, simulations=16)
        assert agent.mcts.config.solver is (env_name != "connect4")
        checked = LegalMovesOnly(agent)
        table = play_pettingzoo(reference.env(), {"agent": checked, "random": RandomPolicy(0)}, games=4)
        assert sum(table["agent"].values()) == 4 and len(checked.moves) >= 4 * 2, env_name


def test_cli_eval_against_opponents(tmp_path, capsys):
    run = train("alphazero", tiny("tictactoe", "steps=1", "play_simulations=6"), tmp_path / "run")
    for opponent in ("random", "minimax", "mcts:16", "lookahead", str(run)):
        assert main(["eval", str(run), "--opponent", opponent, "--games", "4"]) == 0
        result = json.loads((run / "eval.json").read_text())
        assert result["opponent"] == opponent and result["games"] == 4
        assert result["simulations"] == 6  # the published agent's play_simulations, not eval_simulations (8)
        assert sum(result["total"].values()) == 4
    assert main(["eval", str(run), "--opponent", "alphabeta"]) == 2
    assert "needs a depth" in capsys.readouterr().err
    assert main(["eval", str(run), "--opponent", "random", "--games", "2", "--sims", "3"]) == 0
    assert json.loads((run / "eval.json").read_text())["simulations"] == 3
    assert main(["eval", str(run), "--checkpoint", "last", "--games", "2"]) == 0
    assert main(["eval", str(run), "--sims", "0"]) == 2
    assert "--sims must be >= 1" in capsys.readouterr().err
    assert main(["eval", str(run), "--episodes", "3"]) == 2  # an option this report does not take is refused
    assert "takes no 'episodes' option; it takes: opponent, games, sims" in capsys.readouterr().err
    classifier = tmp_path / "classifier"
    assert main(["train", "classifier", "--steps", "5", "--wandb", "disabled", "--run-dir", str(classifier)]) == 0
    assert main(["play", str(classifier)]) == 2
    assert "has no acting agent" in capsys.readouterr().err
    assert main(["eval", str(classifier), "--sims", "8"]) == 2
    assert "takes no 'sims' option" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_tictactoe_is_optimal_in_every_reachable_position(tmp_path, seed):
    """The default run's published agent (load_agent: best.pt, play_simulations) keeps the
    minimax value in all 4,520 reachable positions with a move to make, either side to
    move, judged by the independent oracle (not the lab's minimax opponent). Its wall-clock
    time is measured in benchmarks/alphazero_tictactoe.py, not here."""
    cfg = build_config(AlphaZeroConfig, {}, ["env=tictactoe", f"seed={seed}", "wandb.mode=disabled"])
    run = train("alphazero", cfg, tmp_path / "ttt")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["step"] == 40  # the default budget, all of it trained
    assert len(oracle.positions()) == 4520
    wrong = oracle.misses(load_agent(run).act_states)
    assert wrong == {"lets_win_go": [], "loses": [], "illegal": []}, {k: v[:5] for k, v in wrong.items()}


def test_play_in_the_terminal_refuses_bad_moves(tmp_path):
    run = train("alphazero", tiny("tictactoe", "steps=1"), tmp_path / "run")
    typed = iter(["zz", "b2", "b2", "", "a1", "c1", "a3", "c3", "b1", "b3", "a2", "c2"])
    shown = []
    from rlgen.agents.play import play_terminal

    outcome = play_terminal(run, human_first=True, simulations=8, read=lambda prompt: next(typed), write=shown.append)
    text = "\n".join(shown)
    assert "refused: 'zz' is not a move" in text
    assert "refused: 'b2' is not legal here" in text and "legal moves:" in text
    assert "agent plays" in text and "expects to score" in text
    assert outcome in (-1, 0, 1, -2)
    # Through the CLI with piped input: a quit ends it cleanly.
    import os

    env = {**os.environ, "WANDB_SILENT": "true"}
    done = subprocess.run(
        [*RLGEN, "play", str(run), "--sims", "8", "--human-first"],
        input="e9\nquit\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "refused: 'e9' is not a move" in done.stdout and "stopped." in done.stdout


def test_gating_resignation_elo_and_example_games(tmp_path):
    cfg = tiny(
        "tictactoe",
        "steps=2",
        "gating=true",
        "gate_games=4",
        "resign_threshold=0.9",
        "resign_check_fraction=0.5",
        "elo_pool=random,lookahead,mcts:8",
        "elo_games=4",
        "trainer.eval_every=1",
    )
    run = train("alphazero", cfg, tmp_path / "run")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [m for m in metrics if "gate/score" in m]
    assert len(train_rows) == 2 and all(0 <= m["gate/score"] <= 1 for m in train_rows)
    assert any(m["selfplay/resigned"] > 0 for m in train_rows)  # a 0.9 threshold resigns often
    assert all(0 <= m["selfplay/false_resign_rate"] <= 1 for m in train_rows)
    evals = [m for m in metrics if "eval/elo" in m]
    assert evals and np.isfinite(evals[-1]["eval/elo"]) and evals[-1]["eval/elo_pool/random"] == 0.0
    assert list((run / "media").glob("example_game_*.txt"))
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    assert "best" in ckpt["models"] and ckpt["algorithm"]["elo_results"]
    pool = {"random", "lookahead", "mcts:8"}
    pool_pairs = [(a, b) for a, b, _, _ in ckpt["algorithm"]["elo_results"] if a in pool]
    assert pool_pairs == [("random", "lookahead"), ("lookahead", "mcts:8")]  # neighbours only, once


@pytest.mark.parametrize("threshold", [0.01, 1.0])
def test_the_gate_replaces_the_best_network_only_on_a_winning_score(tmp_path, threshold):
    """A gate at 0.01 accepts any drawn game, one at 1.0 only a clean sweep: each gate's
    verdict follows its score, and best.pt's network is the trained one exactly when the
    last gate accepted it (else an earlier network)."""
    cfg = tiny("tictactoe", "steps=2", "gating=true", "gate_games=4", f"gate_threshold={threshold}")
    run = train("alphazero", cfg, tmp_path / "run")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    gates = [m for m in metrics if "gate/score" in m]
    assert len(gates) == 2
    assert [m["gate/accepted"] for m in gates] == [float(m["gate/score"] >= threshold) for m in gates]
    assert gates[-1]["gate/accepted"] == (1.0 if threshold < 0.5 else 0.0)  # both branches exercised
    models = load_checkpoint(run / "checkpoints" / "last.pt")["models"]
    same = all(torch.equal(models["best"][key], models["model"][key]) for key in models["model"])
    assert same == bool(gates[-1]["gate/accepted"])


def test_elo_pool_grows_with_earlier_snapshots_and_survives_resume(tmp_path):
    """Each Elo round snapshots the network; the newest `elo_snapshots` play the next
    round, and their results and weights are in the checkpoint."""
    cfg = tiny(
        "tictactoe",
        "steps=3",
        "elo_pool=random,lookahead",
        "elo_games=4",
        "elo_every=1",
        "elo_snapshots=2",
        "trainer.eval_every=1",
    )
    run = train("alphazero", cfg, tmp_path / "run")
    state = load_checkpoint(run / "checkpoints" / "last.pt")["algorithm"]
    played = {(a, b) for a, b, _, _ in state["elo_results"]}
    assert ("random", "lookahead") in played
    assert {("iteration 2", "iteration 1"), ("iteration 3", "iteration 1"), ("iteration 3", "iteration 2")} <= played
    assert [name for name, _ in state["snapshots"]] == ["iteration 2", "iteration 3"]  # the newest two kept
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "eval/elo" in m] == [1, 2, 3]
    main(["resume", str(run), "--steps", "4"])
    state = load_checkpoint(run / "checkpoints" / "last.pt")["algorithm"]
    assert ("iteration 4", "iteration 2") in {(a, b) for a, b, _, _ in state["elo_results"]}


def test_fit_elo_recovers_known_ratings():
    from rlgen.agents.alphazero.arena import fit_elo

    truth = np.array([0.0, 200.0, 400.0])
    results = []
    for i in range(3):
        for j in range(i + 1, 3):
            expected = 1 / (1 + 10 ** ((truth[j] - truth[i]) / 400))
            results.append((i, j, expected, 1000))
    assert np.allclose(fit_elo(results, 3), truth, atol=1.0)


def test_gumbel_root_selection_trains_on_improved_policies(tmp_path):
    run = train("alphazero", tiny("connect4", "steps=1", "root_selection=gumbel", "gumbel_actions=4"), tmp_path / "g")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and np.isfinite(summary["losses/policy"])
    policies = np.asarray(load_checkpoint(run / "checkpoints" / "last.pt")["algorithm"]["replay"]["arrays"]["policy"])
    assert len(policies) == summary["charts/replay_size"]
    assert np.allclose(policies.sum(axis=1), 1.0, atol=1e-4)
    # Improved policies are soft (every legal move keeps mass), unlike 8-simulation visit counts.
    assert (policies > 0).sum(axis=1).mean() > 4
    from rlgen.errors import ConfigError

    with pytest.raises(ConfigError, match="'puct' or 'gumbel'"):
        tiny("tictactoe", "root_selection=sampled")


def test_evaluation_leaves_training_unchanged(tmp_path):
    """Evaluations (matches, Elo rounds, example games) draw from their own generator, so how
    often a run evaluates changes neither its weights nor its replay window."""
    often = train(
        "alphazero", tiny("tictactoe", "trainer.eval_every=1", "elo_pool=random", "elo_every=1"), tmp_path / "often"
    )
    never = train("alphazero", tiny("tictactoe", "trainer.eval_every=0"), tmp_path / "never")
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (often, never))
    assert all(torch.equal(a["models"]["model"][k], b["models"]["model"][k]) for k in a["models"]["model"])
    replay_a, replay_b = a["algorithm"]["replay"]["arrays"], b["algorithm"]["replay"]["arrays"]
    assert replay_a.keys() == replay_b.keys() and all(np.array_equal(replay_a[k], replay_b[k]) for k in replay_a)
    assert a["algorithm"]["rng"] == b["algorithm"]["rng"]
    lines = [json.loads(line) for line in (often / "metrics.jsonl").read_text().splitlines()]
    shares = [m["charts/eval_share"] for m in lines if "charts/eval_share" in m]
    assert len(shares) == 4 and all(0.0 < share < 1.0 for share in shares)
    summary = json.loads((often / "summary.json").read_text())
    assert summary["eval_s"] > 0.0 and 0.0 < summary["eval_share"] < 1.0


def test_connect4_evaluation_scores_moves_against_the_solver(tmp_path, capsys):
    """Every evaluation logs the solver-scored accuracy of the network alone and with search;
    the raw figure is the network's own most probable legal move, checked here from the
    checkpoint; `rlgen eval --opponent solver` scores all committed positions, by phase."""
    from rlgen.envs.connect4_solver import load_positions, solver_accuracy
    from rlgen.envs.game import make_game

    settings = ["steps=1", "trainer.eval_every=1", "solver_positions=60", "ema_iterations=0", "search_precision=fp32"]
    cfg = tiny("connect4", *settings)
    run = train("alphazero", cfg, tmp_path / "c4")
    summary = json.loads((run / "summary.json").read_text())
    for key in ("eval/solver_strict", "eval/solver_wdl", "eval/solver_strict_raw", "eval/solver_wdl_raw"):
        assert 0.0 <= summary[key] <= 1.0, key
    game = make_game("connect4")
    positions = load_positions().take(slice(0, 60))
    model = build_network(game, network_kwargs(cfg))
    model.load_state_dict(load_checkpoint(run / "checkpoints" / "last.pt")["models"]["model"])
    planes = torch.from_numpy(game.observation(positions.states)).float()
    with torch.no_grad():
        logits, _ = model.eval()(planes)
    raw = logits.masked_fill(~torch.from_numpy(game.legal_mask(positions.states)), -1e9).argmax(1).numpy()
    assert summary["eval/solver_strict_raw"] == pytest.approx(solver_accuracy(positions, raw)["strict"])

    assert main(["eval", str(run), "--opponent", "solver:12", "--games", "2", "--sims", "4"]) == 0
    result = json.loads((run / "eval.json").read_text())
    for kind in ("network_alone", "with_search"):
        assert result[kind]["positions"] == 1000 and result[kind]["illegal"] == 0.0
        assert {"strict/early", "wdl/middle", "strict/late"} <= set(result[kind])
    assert result["opponent"] == "solver:12" and sum(result["total"].values()) == 2
    tictactoe = train("alphazero", tiny("tictactoe", "steps=1"), tmp_path / "ttt")
    assert main(["eval", str(tictactoe), "--opponent", "solver", "--games", "2"]) == 2
    assert "plays Connect Four only" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="tictactoe has no solver"):
        train("alphazero", tiny("tictactoe", "steps=1", "solver_positions=10"), tmp_path / "bad")
    with pytest.raises(ConfigError, match="solver_positions must be in 0..1000"):
        tiny("connect4", "solver_positions=5000")
