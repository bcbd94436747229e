"""Resume is exact after SIGKILL: train N steps in one go, or train, kill -9 mid-run and
`rlgen resume` to N; the final parameters are identical and every step is logged once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import torch
from conftest import REPO, RLGEN, run_cli

from rlgen.checkpoint import load_checkpoint

ARGS = [
    "train",
    "classifier",
    "--data",
    "digits",
    "--steps",
    "400",
    "--seed",
    "7",
    "--wandb",
    "disabled",
    "--set",
    "trainer.log_every=1",
    "--set",
    "trainer.eval_every=25",
    "--set",
    "trainer.checkpoint_every=50",
    "--set",
    "trainer.ema_decay=0.99",
    "--set",
    "trainer.early_stop_patience=0",
]


def logged_steps(run, writing=False):
    """Steps with a training loss in metrics.jsonl; `writing`: the run is still appending,
    so a last line read half-written is skipped (afterwards every line must parse)."""
    steps = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if writing:
                continue
            raise
        if "train/loss" in record:
            steps.append(record["step"])
    return steps


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole"
    run_cli(*ARGS, "--run-dir", str(whole))

    killed = tmp_path / "killed"
    env = {**os.environ, "WANDB_SILENT": "true", "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [*RLGEN, *ARGS, "--run-dir", str(killed)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    ckpt = killed / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        # Kill after the second checkpoint, some steps past it, so work is lost and redone.
        if ckpt.exists() and max(logged_steps(killed, writing=True), default=0) >= 130:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stopped_at = load_checkpoint(ckpt)["step"]
    assert 0 < stopped_at < 400
    assert max(logged_steps(killed, writing=True)) > stopped_at  # steps after the checkpoint were lost

    run_cli("resume", str(killed))

    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(killed / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 400
    for name, tensor in a["models"]["model"].items():
        assert torch.equal(tensor, b["models"]["model"][name]), name
    for name, tensor in a["emas"]["model"].items():
        assert torch.equal(tensor, b["emas"]["model"][name]), name
    steps = logged_steps(killed)
    assert steps == list(range(1, 401)), "metrics.jsonl must have every step exactly once"
    whole_lines = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    killed_lines = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    strip = lambda r: {k: v for k, v in r.items() if k not in ("time",) and not k.startswith("charts/")}  # noqa: E731
    assert [strip(r) for r in whole_lines] == [strip(r) for r in killed_lines]
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["step"] == 400


def test_ctrl_c_finishes_the_step_checkpoints_and_resumes(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "WANDB_SILENT": "true", "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [*RLGEN, *ARGS, "--run-dir", str(run)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (run / "metrics.jsonl").exists() and max(logged_steps(run, writing=True), default=0) >= 70:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"].startswith("stopped: interrupted by Ctrl-C")
    saved = load_checkpoint(run / "checkpoints" / "last.pt")["step"]
    assert saved == summary["step"] == max(logged_steps(run))  # checkpointed right where it stopped
    assert 70 <= saved < 400
    run_cli("resume", str(run))
    assert logged_steps(run) == list(range(1, 401))
