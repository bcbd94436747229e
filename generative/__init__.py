"""rlgen.generative: GANs, conditional GANs, pix2pix, VAEs and conditional VAEs on the
shared core, with offline metrics from a per-dataset reference classifier."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Generator


def load_generator(run_dir: str | Path, checkpoint: str = "best", device: str | None = None) -> Generator:
    """The trained generator of a run: `sample(n, condition=None) -> Tensor[n, C, H, W]` in [0, 1]."""
    from .base import load_generator as _load

    return _load(run_dir, checkpoint=checkpoint, device=device)


__all__ = ["load_generator"]
