"""Files in a run directory get the mode the user's umask gives, atomic writes included."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rlgen.checkpoint import atomic_write_bytes
from rlgen.config import build_config
from rlgen.registry import get_algo
from rlgen.run import evaluate, train


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set a umask for one test and restore the caller's afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_atomic_write_follows_the_umask(tmp_path, umask, mask):
    umask(mask)
    path = tmp_path / "file.bin"
    atomic_write_bytes(path, lambda handle: handle.write(b"x"))
    assert _mode(path) == 0o666 & ~mask
    assert path.read_bytes() == b"x"
    assert not list(tmp_path.glob(".*.tmp"))


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "shared.json"
    path.write_text("{}")
    path.chmod(0o664)
    atomic_write_bytes(path, lambda handle: handle.write(b"[]"))
    assert _mode(path) == 0o664
    assert path.read_text() == "[]"


def test_checkpoints_summary_and_eval_are_as_readable_as_the_rest(tmp_path, umask):
    umask(0o022)
    config = build_config(
        get_algo("toy").Config, {}, ["steps=20", "trainer.eval_every=10", "trainer.checkpoint_every=10"]
    )
    run_dir = train("toy", config, tmp_path / "run")
    evaluate(run_dir)
    files = [p for p in Path(run_dir).rglob("*") if p.is_file()]
    names = {p.relative_to(run_dir).as_posix() for p in files}
    assert {"checkpoints/last.pt", "checkpoints/best.pt", "summary.json", "eval.json", "config.yaml"} <= names
    assert {p.relative_to(run_dir).as_posix(): oct(_mode(p)) for p in files} == {n: oct(0o644) for n in names}
