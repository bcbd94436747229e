"""Data-parallel training under torchrun (2 gloo processes): the same parameters as one
process with the whole batch, batch norm per rank still learns, a group killed with
SIGKILL resumes exactly under torchrun, and what cannot run data-parallel says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch
from conftest import REPO, RLGEN, run_cli

from rlgen.checkpoint import load_checkpoint
from rlgen.distributed import Shard

QUIET = ["--wandb", "disabled", "--set", "trainer.progress=off", "--set", "trainer.final_report=false"]
EXACT = ["--set", "norm=none", "--set", "dropout=0", "--set", "augment=false", "--set", "batch_size=32"]


def torchrun(*args: str, nproc: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_SILENT": "true"}
    proc = subprocess.run(
        [*launcher, "-m", "rlgen.cli", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout
    )
    return proc


def weights(run, group: str = "models") -> dict[str, dict[str, torch.Tensor]]:
    return load_checkpoint(run / "checkpoints" / "last.pt")[group]


def test_two_processes_with_half_batches_end_where_one_with_the_whole_batch_does(tmp_path):
    common = ["train", "classifier", "--data", "digits", "--steps", "12", *QUIET, *EXACT]
    run_cli(*common, "--set", "trainer.threads=1", "--run-dir", str(tmp_path / "one"))
    proc = torchrun(*common, "--run-dir", str(tmp_path / "two"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "data-parallel over 2 processes: 16 of every batch of 32 each" in proc.stdout
    assert proc.stdout.count("run directory:") == 1  # rank 0 alone, also after the group is left
    one, two = weights(tmp_path / "one")["model"], weights(tmp_path / "two")["model"]
    for key, tensor in one.items():
        torch.testing.assert_close(two[key], tensor, rtol=1e-5, atol=1e-6, msg=key)
    assert len(load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")["rank_rng"]) == 2
    logged = {
        name: [json.loads(line)["step"] for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("one", "two")
    }
    assert logged["two"] == logged["one"]  # one writer: no line logged twice


def test_batch_norm_per_rank_still_learns_the_digits(tmp_path):
    """On CPU (gloo) there is no SyncBatchNorm: each rank normalizes its own half-batch."""
    proc = torchrun("train", "classifier", "--data", "digits", "--steps", "300", *QUIET,
                    "--set", "trainer.eval_every=300", "--run-dir", str(tmp_path / "bn"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "bn" / "summary.json").read_text())
    assert summary["dev/accuracy"] >= 0.9, summary["dev/accuracy"]


def test_a_killed_group_resumes_exactly_under_torchrun(tmp_path):
    """SIGKILL every process of a 2-rank cgan run, `rlgen resume --nproc 2`: the same
    generator, discriminator and EMA as a 2-rank run never stopped (each rank's noise RNG
    comes back from last.pt)."""
    args = ["train", "cgan", "--data", "digits", "--steps", "40", *QUIET]
    for item in ("g_channels=8", "d_channels=8", "embed_dim=8", "latent_dim=8", "batch_size=16", "metrics=false",
                 "trainer.log_every=1", "trainer.eval_every=0", "trainer.checkpoint_every=4"):  # fmt: skip
        args += ["--set", item]
    assert torchrun(*args, "--run-dir", str(tmp_path / "whole")).returncode == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*RLGEN, *args, "--nproc", "2", "--run-dir", str(killed)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        metrics = killed / "metrics.jsonl"
        if metrics.exists() and any('"step": 9,' in line for line in metrics.read_text().splitlines()):
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both ranks
    proc.wait()
    assert 8 <= load_checkpoint(killed / "checkpoints" / "last.pt")["step"] < 40
    run_cli("resume", str(killed), "--nproc", "2", env={"OMP_NUM_THREADS": "1"})
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (tmp_path / "whole", killed))
    assert a["step"] == b["step"] == 40
    for group in ("models", "emas"):
        for name, tensors in a[group].items():
            for key, tensor in tensors.items():
                assert torch.equal(tensor, b[group][name][key]), f"{group}/{name}/{key}"


def test_what_cannot_run_data_parallel_says_so(tmp_path):
    proc = torchrun(
        "train", "qlearning", "--env", "tictactoe", "--steps", "10", *QUIET, "--run-dir", str(tmp_path / "q")
    )
    assert (
        proc.returncode != 0 and "torchrun data parallelism is for algorithms that learn from a dataset" in proc.stderr
    )
    proc = torchrun("train", "classifier", "--data", "digits", "--steps", "2", *QUIET, "--set", "batch_size=33",
                    "--run-dir", str(tmp_path / "odd"))  # fmt: skip
    assert proc.returncode != 0 and "set batch_size to a multiple of 2" in proc.stderr
    assert Shard(0, 2).split(torch.arange(6)).tolist() == [0, 1, 2]
    assert Shard(1, 2).split(torch.arange(6)).tolist() == [3, 4, 5]
