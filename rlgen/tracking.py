"""Run tracking: one Tracker writes the console, metrics.jsonl, summary.json, media and W&B.

Every algorithm logs through it. Metric names are grouped by a prefix (`train/`, `eval/`,
`charts/`, `losses/`, `test/`). W&B mode 'auto' is online only when credentials exist;
'offline' and 'disabled' never touch the network ('disabled' writes nothing for W&B).
"""

from __future__ import annotations

import json
import math
import netrc
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.checkpoint import atomic_write_bytes
from rlgen.config import WandbConfig
from rlgen.errors import ConfigError

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def wandb_credentials_present() -> bool:
    """True when an API key is in the environment or ~/.netrc has a W&B host entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        hosts = netrc.netrc().hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def resolve_wandb_mode(mode: str) -> str:
    """'auto' -> online with credentials, else offline; WANDB_MODE=disabled/offline is honoured."""
    if mode not in ("auto", "online", "offline", "disabled"):
        raise ConfigError(f"unknown W&B mode '{mode}'; choices: auto, online, offline, disabled")
    env_mode = os.environ.get("WANDB_MODE", "").lower()
    if mode == "auto":
        if env_mode in ("offline", "disabled", "dryrun"):
            return "disabled" if env_mode == "disabled" else "offline"
        return "online" if wandb_credentials_present() else "offline"
    return mode


def wandb_mode_reason(mode: str) -> str:
    """Why `resolve_wandb_mode(mode)` chose what it did, for the line a run starts with."""
    env_mode = os.environ.get("WANDB_MODE", "").lower()
    if mode != "auto":
        return f"as set (--wandb {mode} or wandb.mode={mode})"
    if env_mode in ("offline", "disabled", "dryrun"):
        return f"WANDB_MODE={env_mode} in the environment"
    if wandb_credentials_present():
        return "W&B credentials found"
    return "no W&B credentials (WANDB_API_KEY or `wandb login`); upload later with wandb sync"


def _new_run_id() -> str:
    import secrets
    import string

    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if hasattr(value, "item") and getattr(value, "numel", lambda: 2)() == 1:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Inf; keep it visible
    return value


class Tracker:
    """Console + metrics.jsonl + summary.json + media/ + W&B for one run directory."""

    def __init__(
        self,
        run_dir: str | Path,
        wandb_cfg: WandbConfig | None = None,
        config: dict[str, Any] | None = None,
        console: Any = None,
        resume_step: int | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.media_dir = self.run_dir / "media"
        self.metrics_path = self.run_dir / METRICS_FILE
        self.summary_path = self.run_dir / SUMMARY_FILE
        self.cfg = wandb_cfg or WandbConfig(mode="disabled")
        self.mode = resolve_wandb_mode(self.cfg.mode)
        self.console = console
        self.latest: dict[str, Any] = {}
        self.summary: dict[str, Any] = self._read_summary()
        if resume_step is not None:
            self._truncate_metrics(resume_step)
        elif self.metrics_path.exists():
            self.metrics_path.unlink()
        self._metrics_file = self.metrics_path.open("a")
        self.wandb_run = None
        if self.mode != "disabled":
            self._init_wandb(config or {})

    # ------------------------------------------------------------------ setup

    def _read_summary(self) -> dict[str, Any]:
        if self.summary_path.exists():
            try:
                return json.loads(self.summary_path.read_text())
            except json.JSONDecodeError:
                return {}
        return {}

    def _truncate_metrics(self, step: int) -> None:
        """Drop lines logged after the checkpoint being resumed (they will be logged again)."""
        if not self.metrics_path.exists():
            return
        kept = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if record.get("step", 0) <= step:
                kept.append(line)
        text = "".join(k + "\n" for k in kept)
        atomic_write_bytes(self.metrics_path, lambda handle: handle.write(text.encode()))

    def _init_wandb(self, config: dict[str, Any]) -> None:
        import wandb

        id_file = self.run_dir / "wandb" / "run_id"
        run_id = id_file.read_text().strip() if id_file.exists() else _new_run_id()
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(run_id)
        # console="off": rlgen already writes its own console; capture would wrap stdout.
        settings = wandb.Settings(silent=True, console="off")
        self.wandb_run = wandb.init(
            project=self.cfg.project or "rlgen",
            entity=self.cfg.entity or None,
            group=self.cfg.group or None,
            tags=list(self.cfg.tags) or None,
            name=self.cfg.name or self.run_dir.name,
            config=config,
            dir=str(self.run_dir),
            mode=self.mode,
            id=run_id,
            resume="allow",
            settings=settings,
            reinit="create_new",
        )

    # ------------------------------------------------------------------ logging

    def log(self, metrics: dict[str, Any], step: int) -> None:
        """Append one record to metrics.jsonl and W&B; remember the latest values."""
        record = {"step": int(step), "time": time.time()}
        record.update({k: _jsonable(v) for k, v in metrics.items()})
        self._metrics_file.write(json.dumps(record) + "\n")
        self._metrics_file.flush()
        self.latest.update({k: record[k] for k in metrics})
        if self.wandb_run is not None:
            self.wandb_run.log({k: v for k, v in metrics.items()}, step=int(step))

    def print(self, text: str) -> None:
        """A line on the console."""
        if self.console is not None:
            self.console.print(text)
        else:
            print(text, flush=True)

    def update_summary(self, values: dict[str, Any], write: bool = True) -> None:
        """Merge `values` into summary.json (written atomically) and the W&B summary."""
        self.summary.update({k: _jsonable(v) for k, v in values.items()})
        if write:
            self.write_summary()
        if self.wandb_run is not None:
            for key, value in values.items():
                self.wandb_run.summary[key] = value

    def write_summary(self) -> None:
        text = json.dumps(self.summary, indent=2, default=str)
        atomic_write_bytes(self.summary_path, lambda handle: handle.write(text.encode()))

    # ------------------------------------------------------------------ media

    def log_image(self, name: str, image: Any, step: int, caption: str | None = None) -> Path:
        """Save a PNG under media/ and log it to W&B. `image` is a matplotlib figure,
        a PIL image, or an array/tensor [H, W], [H, W, C] or [C, H, W] in [0, 1]."""
        from PIL import Image

        path = self.media_dir / f"{name.replace('/', '_')}_{step:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if hasattr(image, "savefig"):
            image.savefig(path, dpi=100, bbox_inches="tight")
        else:
            pil = image if isinstance(image, Image.Image) else Image.fromarray(to_uint8_image(image))
            pil.save(path)
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log({name: wandb.Image(str(path), caption=caption)}, step=int(step))
        return path

    def log_video(self, name: str, frames: Sequence[Any], step: int, fps: int = 15) -> Path:
        """Save frames ([H, W, 3] uint8 or [0, 1] floats) as a GIF under media/ and log to W&B."""
        from PIL import Image

        if len(frames) == 0:
            raise ValueError("log_video needs at least one frame")
        images = [Image.fromarray(to_uint8_image(f)) for f in frames]
        path = self.media_dir / f"{name.replace('/', '_')}_{step:08d}.gif"
        path.parent.mkdir(parents=True, exist_ok=True)
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log({name: wandb.Video(str(path), format="gif")}, step=int(step))
        return path

    def log_artifact(
        self, path: str | Path, name: str, kind: str = "model", aliases: Sequence[str] = ("latest",)
    ) -> None:
        """Upload a file as a W&B artifact (queued for sync when offline)."""
        if self.wandb_run is None:
            return
        import wandb

        artifact = wandb.Artifact(name=name, type=kind)
        artifact.add_file(str(path))
        self.wandb_run.log_artifact(artifact, aliases=list(aliases))

    def close(self, exit_code: int = 0) -> None:
        """Flush files and finish the W&B run."""
        if not self._metrics_file.closed:
            self._metrics_file.close()
        if self.wandb_run is not None:
            self.wandb_run.finish(exit_code=exit_code)
            self.wandb_run = None


def to_uint8_image(image: Any) -> np.ndarray:
    """Array/tensor [H, W], [H, W, C] or [C, H, W] (floats in [0, 1] or uint8) -> uint8 HWC."""
    array = image.detach().cpu().float().numpy() if hasattr(image, "detach") else np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.transpose(array, (1, 2, 0))
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    return array
