"""Atomic checkpoint files and loading that fails with a clear message.

A checkpoint is written to a temporary file in the same folder, flushed to disk and then
renamed over the old one, so a crash mid-write never replaces a good checkpoint with a
half-written one. Loading uses torch's `weights_only` unpickler (no code runs from a
checkpoint file); numpy arrays are stored as tensors under a marker to stay loadable.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlgen.errors import CheckpointError

FORMAT = "rlgen-checkpoint"
VERSION = 1
_NDARRAY = "__ndarray__"


def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {_NDARRAY: torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        encoded = [_encode(v) for v in obj]
        return tuple(encoded) if isinstance(obj, tuple) else encoded
    return obj


def _decode(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_NDARRAY}:
            return obj[_NDARRAY].numpy()
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        decoded = [_decode(v) for v in obj]
        return tuple(decoded) if isinstance(obj, tuple) else decoded
    return obj


def _new_file_mode(path: Path) -> int:
    """The mode a plain `open(path, "w")` would leave: the existing file's, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        pass
    umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | Path, write: Any) -> None:
    """Call `write(file)` on a temp file beside `path`, fsync it, then rename it into place.
    The file gets the mode an ordinary write would give it (mkstemp's 0600 would make
    checkpoints unreadable to a teammate or a serving process under another user)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _new_file_mode(path))
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Write `payload` atomically as an rlgen checkpoint."""
    data = {"format": FORMAT, "version": VERSION, **_encode(payload)}
    atomic_write_bytes(path, lambda handle: torch.save(data, handle))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load an rlgen checkpoint, or raise CheckpointError saying what is wrong and what to do."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    size = path.stat().st_size
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged zip/pickle
        raise CheckpointError(
            f"checkpoint '{path}' ({size} bytes) is truncated or corrupted and cannot be read "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}). "
            "Resume from another copy (checkpoints/best.pt, or a backup), or start a new run."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is a torch file but not an rlgen checkpoint (no '{FORMAT}' marker)")
    if data.get("version", 0) > VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {data['version']}, newer than this rlgen "
            f"understands ({VERSION}); upgrade rlgen"
        )
    return _decode(data)
