"""Run tracking: metrics.jsonl, summary.json, media, and W&B offline / disabled modes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import IN_CI, REPO, run_cli

import rlgen
from rlgen.config import WandbConfig
from rlgen.tracking import Tracker, resolve_wandb_mode

TINY = [
    "--steps",
    "20",
    "--set",
    "trainer.eval_every=10",
    "--set",
    "trainer.log_every=5",
    "--set",
    "trainer.checkpoint_every=10",
]


def test_auto_mode_is_offline_without_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    assert resolve_wandb_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_wandb_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode("auto") == "disabled"
    assert resolve_wandb_mode("offline") == "offline"


def _inspect(run_dir):
    offline = next((run_dir / "wandb").glob("offline-run-*"))
    wandb_cli = shutil.which("wandb", path=str(REPO / ".venv" / "bin")) or shutil.which("wandb")
    out = subprocess.run(
        [wandb_cli, "leet", "inspect", "--summary", "--json", str(offline)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return json.loads(out)


def test_offline_run_reads_back_config_and_values(tmp_path):
    run = tmp_path / "run"
    run_cli(
        "train",
        "classifier",
        "--data",
        "digits",
        "--wandb",
        "offline",
        "--wandb-project",
        "proj",
        "--wandb-group",
        "grp",
        "--tags",
        "a,b",
        "--run-dir",
        str(run),
        "--set",
        "wandb.log_checkpoints=true",
        *TINY,
    )
    record = _inspect(run)
    assert record["project"] == "proj"
    assert record["config"]["algo"] == "classifier"
    assert record["config"]["optim"]["name"] == "adamw"
    assert record["config"]["steps"] == 20
    assert sorted(record["tags"]) == ["a", "b"]
    summary = json.loads((run / "summary.json").read_text())
    assert record["summary"]["test/accuracy"] == pytest.approx(summary["test/accuracy"])
    last_logged = [
        json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "train/loss" in line
    ][-1]
    assert record["summary"]["train/loss"] == pytest.approx(summary["train/loss"])
    assert last_logged["step"] == 20
    assert record["state"] == "finished"
    offline = next((run / "wandb").glob("offline-run-*"))
    wandb_cli = shutil.which("wandb", path=str(REPO / ".venv" / "bin")) or shutil.which("wandb")
    records = subprocess.run(
        [wandb_cli, "leet", "inspect", "--json", str(offline)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert '"type":"artifact"' in records.replace(" ", "")  # checkpoints queued as artifacts


def test_disabled_writes_nothing_for_wandb(tmp_path):
    run = tmp_path / "run"
    run_cli("train", "classifier", "--wandb", "disabled", "--run-dir", str(run), *TINY)
    assert not (run / "wandb").exists()
    assert (run / "metrics.jsonl").exists()


def test_offline_and_disabled_need_no_network(tmp_path):
    """Inside a network namespace with no interfaces up, offline and disabled runs finish."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        why = "no util-linux unshare" if probe is None else probe.stderr.decode().strip()
        message = f"a network namespace is needed to cut the network: {why}"
        if IN_CI:  # CI's machine has them: the no-network guarantee is checked there
            pytest.fail(message)
        pytest.skip(message)
    for mode in ("offline", "disabled"):
        run = tmp_path / mode
        proc = subprocess.run(
            [
                "unshare",
                "-rn",
                sys.executable,
                "-m",
                "rlgen.cli",
                "train",
                "classifier",
                "--wandb",
                mode,
                "--run-dir",
                str(run),
                *TINY,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    assert list((tmp_path / "offline" / "wandb").glob("offline-run-*/*.wandb"))


def test_tracker_media_and_run_loading(tmp_path):
    tracker = Tracker(tmp_path, WandbConfig(mode="disabled"))
    tracker.log({"train/loss": 1.5, "charts/x": np.float32(2.0)}, step=3)
    image = tracker.log_image("samples/grid", np.random.rand(3, 16, 16), step=3)
    video = tracker.log_video("rollout", [np.random.rand(8, 8, 3) for _ in range(4)], step=3)
    tracker.update_summary({"best": 0.5})
    tracker.close()
    assert image.suffix == ".png" and image.exists()
    assert video.suffix == ".gif" and video.exists()
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["charts/x"] == 2.0
    assert json.loads((tmp_path / "summary.json").read_text())["best"] == 0.5


def test_load_run_reads_a_run_directory(tmp_path):
    run = tmp_path / "run"
    run_cli("train", "classifier", "--wandb", "disabled", "--run-dir", str(run), *TINY)
    loaded = rlgen.load_run(run)
    assert loaded.algo == "classifier"
    assert loaded.config.steps == 20
    assert loaded.summary["step"] == 20
    assert set(loaded.checkpoints) == {"best", "last"}
    assert [s for s, _ in loaded.metric("train/loss")] == [5, 10, 15, 20]
