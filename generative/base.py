"""What every generative model shares: data splits, conditions, sample grids, offline
metrics, and the `Generator` that `load_generator` / `rlgen sample` hand out.

A model subclasses `GenerativeAlgorithm`, builds its networks in `__init__` (after
calling the base), and implements `train_step` and `decode(z, condition)`.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from rlgen.algorithm import Algorithm
from rlgen.config import RunConfig
from rlgen.data import GENERATIVE_SPLIT_SEED, BatchIterator, load_dataset, make_splits
from rlgen.errors import ConfigError

from .conditions import ConditionSpec, load_condition_image

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from rlgen.trainer import Trainer


@dataclass
class GenerativeConfig(RunConfig):
    """Fields every generative model has."""

    data: str = "mnist5k"
    """Dataset (`rlgen list datasets`), e.g. mnist5k, animal, shapes, npz:PATH, idx:DIR, folder:DIR."""
    condition: str = "none"
    """none, label, attributes, caption, image, or auto (the richest the data has)."""
    batch_size: int = 64
    """Images per optimizer step."""
    split_seed: int = GENERATIVE_SPLIT_SEED
    """Seed of the train/dev/test split (`rlgen.data.GENERATIVE_SPLIT`; the reference classifier uses the default)."""
    grid_columns: int = 8
    """Samples per condition row in the logged sample grids."""
    eval_samples: int = 500
    """Generated images per periodic evaluation (0 = grids only, no metrics)."""
    metric_samples: int = 1000
    """Generated images for the final metrics (`rlgen eval`)."""
    metrics: bool = True
    """Compute reference-classifier metrics (the classifier is trained once per dataset and cached)."""


class GenerativeAlgorithm(Algorithm):
    """Base of gan, cgan, vae, cvae and pix2pix."""

    input_kind = "data"
    default_monitor = "metrics/frechet"
    conditional = False
    """Whether the model needs a condition (cgan, cvae) — 'none' is refused then."""

    def __init__(self, config: GenerativeConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        self.config: GenerativeConfig = config
        self.data = load_dataset(config.data)
        self.splits = make_splits(self.data, config.split_seed)
        kind = config.condition
        if self.conditional and kind == "none":
            raise ConfigError(f"'{self.name}' is conditional: set condition to label, attributes, caption or auto")
        if not self.conditional and kind not in ("none", "image"):
            raise ConfigError(f"'{self.name}' is unconditional; use the conditional variant for condition='{kind}'")
        self.spec = ConditionSpec.from_dataset(self.splits.train, kind)
        self.image_shape = self.splits.train.image_shape
        self.train_x = self.splits.train.x.to(trainer.device)
        self.batches = BatchIterator(len(self.train_x), config.batch_size, seed=config.seed, shard=trainer.shard)
        self._reference: Any = None

    # -- data

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next training images (device) and their conditions (device, or None)."""
        index = self.batches.next_index()
        condition = self.spec.batch(self.splits.train, index)
        x = self.train_x[index.to(self.train_x.device)]
        return x, None if condition is None else condition.to(self.trainer.device)

    # -- sampling (subclasses implement decode)

    latent_dim: int = 0

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """Latents [N, latent_dim] (+ conditions) -> images [N, C, H, W] in [0, 1], eval mode."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(self, z: torch.Tensor, condition: torch.Tensor | None, batch_size: int = 500) -> torch.Tensor:
        """`decode` in batches on the device; returns CPU float images in [0, 1]."""
        out = []
        device = self.trainer.device
        for start in range(0, len(z), batch_size):
            cond = None if condition is None else condition[start : start + batch_size].to(device)
            with self.trainer.autocast():
                out.append(self.decode(z[start : start + batch_size].to(device), cond).float().clamp(0, 1).cpu())
        return torch.cat(out)

    def latents(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)

    def sample(self, n: int, condition: Any = None, seed: int | None = None) -> torch.Tensor:
        """n images for one condition (typed by a user, or already a tensor); a conditional
        model without a condition gets random conditions from the test split."""
        generator = torch.Generator().manual_seed(seed if seed is not None else self.config.seed)
        cond = self._conditions(n, condition, generator)
        return self.generate(self.latents(n, generator), cond)

    def _conditions(self, n: int, condition: Any, generator: torch.Generator) -> torch.Tensor | None:
        if self.spec.kind == "none":
            if condition is not None:
                self.spec.parse(condition)  # raises: the model is unconditional
            return None
        if condition is None:
            index = torch.randint(len(self.splits.test), (n,), generator=generator)
            return self.spec.batch(self.splits.test, index)
        if isinstance(condition, torch.Tensor):
            cond = condition
        elif self.spec.kind == "image":
            cond = load_condition_image(condition, self.image_shape)
        else:
            cond = self.spec.parse(condition)
        return cond.expand(n, *cond.shape[1:]) if len(cond) == 1 else cond

    def grid(self, seed: int | None = None, columns: int | None = None) -> tuple[torch.Tensor, list[str]]:
        """Images [rows * columns, C, H, W]: one row per grid condition, the same noise per column."""
        columns = columns or self.config.grid_columns
        generator = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        rows, names = self.spec.grid()
        z = self.latents(columns, generator)
        if rows is None:  # unconditional: several rows of fresh noise
            count = max(1, 64 // columns)
            return self.generate(self.latents(count * columns, generator), None), [""] * count
        z = z.repeat(len(rows), 1)
        cond = rows.repeat_interleave(columns, dim=0)
        return self.generate(z, cond), names

    def interpolate(
        self, steps: int = 8, rows: int = 4, condition: Any = None, seed: int | None = None
    ) -> torch.Tensor:
        """Rows of images along great-circle paths between two random latents."""
        generator = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        start, end = self.latents(rows, generator), self.latents(rows, generator)
        t = torch.linspace(0, 1, steps).view(1, steps, 1)
        z = slerp(start.unsqueeze(1), end.unsqueeze(1), t).reshape(rows * steps, -1)
        cond = self._conditions(rows, condition, generator)
        if cond is not None:
            cond = cond.repeat_interleave(steps, dim=0)
        return self.generate(z, cond)

    # -- evaluation

    def log_grid(self) -> None:
        images, names = self.grid()
        labelled = any(names)
        caption = "rows: " + "; ".join(names) if labelled else None
        image = grid_image(images, self.config.grid_columns, row_labels=names if labelled else None)
        self.trainer.tracker.log_image("samples/grid", image, self.trainer.step, caption)

    def reference(self) -> Any:
        """The dataset's cached reference classifier (trained on first use)."""
        if self._reference is None:
            from .metrics import reference_classifier

            self._reference = reference_classifier(self.config.data, device=str(self.trainer.device))
        return self._reference

    def metric_conditions(self, n: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Conditions for n metric samples (those of the test split, cycled) and what the
        reference classifier should read back from them (labels or attribute rows)."""
        if self.spec.kind == "none":
            return None, None
        index = torch.arange(n) % len(self.splits.test)
        requested = self.splits.test.y[index] if self.spec.kind == "label" else self.splits.test.attributes[index]
        return self.spec.batch(self.splits.test, index), requested

    def sample_metrics(self, n: int) -> dict[str, float]:
        """Reference-classifier metrics of n samples against the test split."""
        from .metrics import evaluate_samples

        generator = torch.Generator().manual_seed(1234)
        cond, requested = self.metric_conditions(n)
        fake = self.generate(self.latents(n, generator), cond)
        return evaluate_samples(
            self.reference(), fake, requested, real_test=self.splits.test.x, real_train=self.splits.train.x, n=n
        )

    def evaluate(self) -> dict[str, float]:
        self.log_grid()
        if not self.config.metrics or self.config.eval_samples <= 0:
            return {}
        return self.sample_metrics(self.config.eval_samples)

    def report(self, **options: Any) -> dict[str, Any]:
        self.log_grid()
        if not self.config.metrics:
            return {}
        return self.sample_metrics(self.config.metric_samples)

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "batches" in state:
            self.batches.load_state_dict(state["batches"])


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Gaussian latents keep their norm along the path)."""
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True) + 1e-8)
    omega = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    sin = torch.sin(omega)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin


def make_grid(images: torch.Tensor, columns: int, pad: int = 1) -> torch.Tensor:
    """Images [N, C, H, W] -> one image [C, rows*(H+pad)+pad, columns*(W+pad)+pad]."""
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    grid = torch.ones(c, rows * (h + pad) + pad, columns * (w + pad) + pad) * 0.5
    for i in range(n):
        r, col = divmod(i, columns)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = (
            images[i]
        )
    return grid


class Generator:
    """A trained generative model ready to sample: `sample(n, condition=None)` returns
    images [n, C, H, W] in [0, 1]; `accepts` says which conditions it takes."""

    def __init__(self, algorithm: GenerativeAlgorithm) -> None:
        self.algorithm = algorithm
        self.spec = algorithm.spec
        self.image_shape = algorithm.image_shape

    @property
    def condition_kind(self) -> str:
        return self.spec.kind

    @property
    def accepts(self) -> str:
        return self.spec.accepts()

    def sample(self, n: int, condition: Any = None, seed: int | None = None) -> torch.Tensor:
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        return self.algorithm.sample(n, condition, seed)

    def grid(self, seed: int | None = None, columns: int | None = None) -> tuple[torch.Tensor, list[str]]:
        """One row per condition (class, attribute value, caption) with shared noise per column."""
        return self.algorithm.grid(seed, columns)

    def interpolate(
        self, steps: int = 8, rows: int = 4, condition: Any = None, seed: int | None = None
    ) -> torch.Tensor:
        return self.algorithm.interpolate(steps, rows, condition, seed)


def load_generator(run_dir: str | Path, checkpoint: str = "best", device: str | None = None) -> Generator:
    """The trained generator of a run (EMA weights where the model keeps them)."""
    from rlgen.run import build_for_eval

    algorithm, _, _ = build_for_eval(run_dir, checkpoint=checkpoint, device=device)
    if not isinstance(algorithm, GenerativeAlgorithm):
        raise ConfigError(
            f"the run in '{run_dir}' trained '{algorithm.name}', not a generative model "
            "(gan, cgan, vae, cvae, pix2pix); load_generator / rlgen sample need one"
        )
    return Generator(algorithm)


ROW_LABEL_MIN_PX = 24
"""A labelled grid is scaled up (nearest neighbour) until each row is at least this tall."""
ROW_LABEL_CHARS = 30
"""Characters per line of a row label (wrapped at spaces, longer words broken)."""
ROW_LABEL_LINES = 2
"""Lines per row label; a longer label is cut with an ellipsis (the full text goes to the terminal / caption)."""
_LABEL_GAP = 4
_LABEL_LINE_SPACING = 2


def grid_image(images: torch.Tensor, columns: int = 8, row_labels: list[str] | None = None, pad: int = 1) -> PILImage:
    """Images [N, C, H, W] in [0, 1] -> one PIL grid; with `row_labels` (one per row), each
    row's label is drawn in a white left margin and the grid is scaled up so the text fits."""
    from PIL import Image

    from rlgen.tracking import to_uint8_image

    grid = Image.fromarray(to_uint8_image(make_grid(images, columns, pad)))
    if row_labels is None:
        return grid
    rows = math.ceil(len(images) / columns)
    if len(row_labels) != rows:
        raise ValueError(
            f"row_labels has {len(row_labels)} labels for a grid of {rows} rows "
            f"({len(images)} images, {columns} columns); give one label per row"
        )
    return _label_rows(grid, [_wrap_label(label) for label in row_labels], images.shape[-2], pad)


def _wrap_label(label: str) -> str:
    lines = textwrap.wrap(label, width=ROW_LABEL_CHARS, max_lines=ROW_LABEL_LINES, placeholder="...")
    return "\n".join(lines)


def _label_rows(grid: PILImage, labels: list[str], tile_height: int, pad: int) -> PILImage:
    from PIL import Image, ImageColor, ImageDraw, ImageFont

    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = [measure.multiline_textbbox((0, 0), text, font=font, spacing=_LABEL_LINE_SPACING) for text in labels]
    text_height = max(bottom - top for _, top, _, bottom in boxes)
    text_width = max(right for _, _, right, _ in boxes)
    scale = max(1, math.ceil(max(ROW_LABEL_MIN_PX, text_height + 2) / tile_height))
    scaled = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
    margin = text_width + 2 * _LABEL_GAP
    canvas = Image.new(scaled.mode, (margin + scaled.width, scaled.height), ImageColor.getcolor("white", scaled.mode))
    canvas.paste(scaled, (margin, 0))
    draw = ImageDraw.Draw(canvas)
    ink = ImageColor.getcolor("black", scaled.mode)
    for row, (text, (_, top, _, bottom)) in enumerate(zip(labels, boxes, strict=True)):
        row_top = (pad + row * (tile_height + pad)) * scale
        y = row_top + (tile_height * scale - (bottom - top)) // 2 - top  # centred on the row's images
        draw.multiline_text((_LABEL_GAP, y), text, fill=ink, font=font, spacing=_LABEL_LINE_SPACING)
    return canvas


def save_images(images: torch.Tensor, path: str | Path, columns: int = 8, row_labels: list[str] | None = None) -> Path:
    """Write images [N, C, H, W] in [0, 1] as one PNG grid; `row_labels` (one per row) are
    drawn in a left margin (see `grid_image`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(images, columns, row_labels).save(path)
    return path
