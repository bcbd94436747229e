"""`rlgen tune`: Optuna search where every trial is a normal run directory."""

from __future__ import annotations

import json

import pytest

from rlgen.cli import main
from rlgen.config import load_yaml
from rlgen.errors import ConfigError
from rlgen.tune import parse_param


@pytest.mark.parametrize("sampler", ["random", "tpe", "gp"])
def test_tune_runs_trials_as_run_directories(tmp_path, sampler, capsys):
    study = tmp_path / "study"
    code = main(
        [
            "tune",
            "classifier",
            "--data",
            "digits",
            "--trials",
            "2",
            "--sampler",
            sampler,
            "--steps",
            "20",
            "--wandb",
            "disabled",
            "--run-dir",
            str(study),
            "--set",
            "trainer.eval_every=10",
            "--param",
            "optim.lr=1e-4:1e-2:log",
            "--param",
            "dropout=0.0:0.5",
            "--param",
            "optim.name=adam,sgd",
        ]
    )
    assert code == 0
    result = json.loads((study / "tune.json").read_text())
    assert len(result["trials"]) == 2 and result["monitor"] == "dev/loss" and result["direction"] == "minimize"
    assert result["best_value"] == min(t["value"] for t in result["trials"])
    for trial in result["trials"]:
        assert 1e-4 <= trial["optim.lr"] <= 1e-2
        run = study / f"trial-{trial['trial']:03d}"
        config = load_yaml(run / "config.yaml")  # what the trial's run really trained with
        assert config["optim"]["lr"] == trial["optim.lr"] and config["optim"]["name"] == trial["optim.name"]
        assert config["dropout"] == trial["dropout"]
        assert trial["value"] == json.loads((run / "summary.json").read_text())["best/value"]
    assert "rlgen tune classifier" in capsys.readouterr().out


def test_default_space_is_log_uniform_rates_and_penalties(tmp_path):
    study = tmp_path / "study"
    assert (
        main(
            [
                "tune",
                "classifier",
                "--trials",
                "1",
                "--sampler",
                "random",
                "--steps",
                "10",
                "--wandb",
                "disabled",
                "--run-dir",
                str(study),
                "--set",
                "trainer.eval_every=10",
            ]
        )
        == 0
    )
    trial = json.loads((study / "tune.json").read_text())["trials"][0]
    assert {"optim.lr", "optim.weight_decay"} <= set(trial)


def test_bad_param_specs():
    assert parse_param("optim.lr=1e-4:1e-2:log").log
    assert parse_param("channels=a,b").choices == ("a", "b")
    for spec, says in (
        ("optim.lr", "must look like KEY=LOW:HIGH"),
        ("optim.lr=1:0", "need LOW < HIGH"),
        ("optim.lr=0:1:log", "LOW > 0 for :log"),
        ("x=a", "at least two choices"),
        ("optim.lr=1:2:cubic", "optional :log and/or :int"),
    ):
        with pytest.raises(ConfigError, match=says):
            parse_param(spec)


def test_unknown_param_key_fails_before_any_trial(tmp_path, capsys):
    assert (
        main(
            [
                "tune",
                "classifier",
                "--trials",
                "1",
                "--wandb",
                "disabled",
                "--run-dir",
                str(tmp_path / "s"),
                "--param",
                "optim.lrate=1e-4:1e-2",
            ]
        )
        == 2
    )
    assert "Did you mean 'optim.lr'" in capsys.readouterr().err
    assert not list((tmp_path / "s").glob("trial-*"))
