"""Datasets of the generative package: `animal` silhouettes and procedural `shapes`.

Both are registered lazily in the core's `rlgen.data.DATASETS`, so `load_dataset("shapes")`
works without importing this module first.

`shapes` draws one anti-aliased shape per RGB image from five factors (shape, colour,
size, position, background), with a caption that says them all and an outline-only
twin of every image (`extras["outline"]`) for outline-to-filled translation. The caption
grammar, defined once here, is

    a [SIZE] [COLOUR] (SHAPE | shape) [at the POSITION] [on a BACKGROUND background]

e.g. "a small red circle at the top left on a black background"; `caption_to_attributes`
reads full or partial captions ("a large blue square") back into factor values.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import math
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from rlgen.data import ImageDataset
from rlgen.errors import ConfigError, MissingExtraError

# ----------------------------------------------------------------------------- animal

ANIMAL_INSTALL = "pip install --no-deps animal-mnist==0.4"
"""animal-mnist's metadata requires TensorFlow, which rlgen never imports, hence --no-deps."""
ANIMAL_CLASSES = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]
"""Label order of the package's arrays (alphabetical, as its description lists them)."""


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: the package's data files are pickles."""

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, any version
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are expected")


def animal() -> ImageDataset:
    """animal-mnist's 10,000 28x28 silhouettes (1,000 per class), read from its gzipped arrays."""
    spec = importlib.util.find_spec("animal_mnist")  # finds the folder without running its TF imports
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"the 'animal' dataset needs the animal-mnist package; install it with: {ANIMAL_INSTALL}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "Animal_MNIST"
    arrays = []
    for name in ("animal_data_version_3.gz", "animal_label_version_3.gz"):
        try:
            with gzip.open(folder / name, "rb") as handle:
                arrays.append(_ArrayUnpickler(handle).load())
        except (OSError, pickle.UnpicklingError, EOFError) as exc:
            raise MissingExtraError(
                f"the 'animal' dataset could not read {folder / name} ({exc}); "
                f"reinstall the expected version with: {ANIMAL_INSTALL}"
            ) from exc
    images, labels = arrays
    if images.shape != (10_000, 28, 28) or labels.shape != (10_000,):
        raise MissingExtraError(
            f"animal-mnist's arrays have shapes {images.shape} and {labels.shape}, not (10000, 28, 28) "
            f"and (10000,); install the expected version with: {ANIMAL_INSTALL}"
        )
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return ImageDataset("animal", x, torch.from_numpy(labels.astype(np.int64)), list(ANIMAL_CLASSES))


# ----------------------------------------------------------------------------- shapes: factors

SHAPES = ["circle", "square", "triangle", "diamond", "cross"]
COLOURS = {
    "red": (0.92, 0.12, 0.12),
    "green": (0.10, 0.78, 0.18),
    "blue": (0.18, 0.35, 1.00),
    "yellow": (0.98, 0.88, 0.10),
    "magenta": (0.88, 0.18, 0.90),
    "cyan": (0.10, 0.85, 0.90),
}
SIZES = ["small", "large"]
POSITIONS = [
    "top left",
    "top",
    "top right",
    "left",
    "centre",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
]  # row-major over a 3x3 grid
BACKGROUNDS = {"black": (0.0, 0.0, 0.0), "grey": (0.42, 0.42, 0.42), "white": (0.95, 0.95, 0.95)}
FACTORS: dict[str, list[str]] = {
    "shape": SHAPES,
    "colour": list(COLOURS),
    "size": SIZES,
    "position": POSITIONS,
    "background": list(BACKGROUNDS),
}
"""Factor -> value names, in the order of the dataset's attribute columns."""

_HALF_EXTENT = {"small": 0.13, "large": 0.22}  # half the shape's width, as a fraction of the image
_GRID = (0.25, 0.5, 0.75)  # centres of the 3x3 position cells, as fractions of the image
_JITTER = 0.05  # largest shift of a centre from its cell centre, as a fraction of the image
_SCALE_JITTER = 0.08  # largest relative change of the size


# ----------------------------------------------------------------------------- shapes: drawing


def _box(x: np.ndarray, y: np.ndarray, half_w: np.ndarray, half_h: np.ndarray) -> np.ndarray:
    """Signed distance to an axis-aligned box centred at 0 (negative inside)."""
    qx, qy = np.abs(x) - half_w, np.abs(y) - half_h
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0)


def _triangle(x: np.ndarray, y: np.ndarray, half_side: np.ndarray) -> np.ndarray:
    """Signed distance to an upward equilateral triangle centred on its bounding box
    (y grows downwards, as in images)."""
    k = math.sqrt(3.0)
    y = half_side / (2 * k) - y  # y up, and the box centre (not the centroid) at 0
    px, py = np.abs(x) - half_side, y + half_side / k
    fold = px + k * py > 0  # reflect points beyond the slanted edge onto its side
    px, py = np.where(fold, (px - k * py) / 2, px), np.where(fold, (-k * px - py) / 2, py)
    px = px - np.clip(px, -2 * half_side, 0)
    return -np.hypot(px, py) * np.sign(py)


def _signed_distance(shape: str, x: np.ndarray, y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Distance in pixels to the border of `shape` whose half-width is `s`; the scale of each
    shape is set so that the five have similar areas at one size."""
    if shape == "circle":
        return np.hypot(x, y) - s
    if shape == "square":
        return _box(x, y, 0.88 * s, 0.88 * s)
    if shape == "triangle":
        return _triangle(x, y, 1.08 * s)
    if shape == "diamond":
        h = 1.12 * s / math.sqrt(2.0)
        return _box((x + y) / math.sqrt(2.0), (x - y) / math.sqrt(2.0), h, h)
    if shape == "cross":
        return np.minimum(_box(x, y, s, 0.4 * s), _box(x, y, 0.4 * s, s))
    raise ConfigError(f"unknown shape '{shape}'; choices: {', '.join(SHAPES)}")


def render_shapes(
    attributes: np.ndarray | torch.Tensor, size: int = 32, seed: int = 0, chunk: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one image per attribute row ([N, 5] value indices in `FACTORS` order).

    Returns (filled, outline), each float32 [N, 3, size, size] in [0, 1]. Shapes are drawn
    from signed distances with one pixel of anti-aliasing; `seed` drives the small jitter
    of position and size, so equal rows and seeds give identical pictures.
    """
    attributes = np.asarray(attributes, dtype=np.int64)
    if attributes.ndim != 2 or attributes.shape[1] != len(FACTORS):
        raise ConfigError(f"shape attributes must be [N, {len(FACTORS)}] ({list(FACTORS)}), got {attributes.shape}")
    for column, (factor, values) in enumerate(FACTORS.items()):
        bad = (attributes[:, column] < 0) | (attributes[:, column] >= len(values))
        if bad.any():
            raise ConfigError(
                f"{factor} index {int(attributes[bad, column][0])} out of range 0..{len(values) - 1} ({values})"
            )
    if size < 8:
        raise ConfigError(f"shapes need size >= 8 pixels, got {size}")
    n = len(attributes)
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-1.0, 1.0, size=(n, 3))
    shape_i, colour_i, size_i, position_i, background_i = attributes.T
    half = np.array([_HALF_EXTENT[v] for v in SIZES])[size_i] * size * (1 + _SCALE_JITTER * jitter[:, 2])
    grid = np.array(_GRID)
    cx = grid[position_i % 3] * size + _JITTER * size * jitter[:, 0]
    cy = grid[position_i // 3] * size + _JITTER * size * jitter[:, 1]
    margin = half + 0.75  # keep the whole shape inside the picture
    cx, cy = np.clip(cx, margin, size - margin), np.clip(cy, margin, size - margin)
    colours = np.array(list(COLOURS.values()), dtype=np.float32)[colour_i]
    backgrounds = np.array(list(BACKGROUNDS.values()), dtype=np.float32)[background_i]
    line = float(np.clip(size / 32, 1.0, 2.0))  # outline width in pixels

    filled_t, outline_t = torch.empty(n, 3, size, size), torch.empty(n, 3, size, size)
    filled, outline = filled_t.numpy(), outline_t.numpy()  # numpy views written in place
    pixels = np.arange(size, dtype=np.float32) + 0.5  # pixel centres
    for start in range(0, n, chunk):
        for index, shape in enumerate(SHAPES):
            members = start + np.flatnonzero(shape_i[start : start + chunk] == index)
            if not len(members):
                continue
            x = pixels[None, None, :] - cx[members, None, None].astype(np.float32)  # [m, 1, W]
            y = pixels[None, :, None] - cy[members, None, None].astype(np.float32)  # [m, H, 1]
            distance = _signed_distance(shape, x, y, half[members, None, None].astype(np.float32))
            # Coverage of a one-pixel box filter, approximated from the distance to the border;
            # the outline is the shape minus the shape shrunk by the line width, so it keeps
            # the filled shape's outer edge.
            fill = np.clip(0.5 - distance, 0.0, 1.0)[:, None]
            ring = fill - np.clip(0.5 - distance - line, 0.0, 1.0)[:, None]
            background = backgrounds[members, :, None, None]
            contrast = colours[members, :, None, None] - background
            filled[members] = background + contrast * fill
            outline[members] = background + contrast * ring
    return filled_t, outline_t


def _positive(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"shapes option {name} must be an integer >= {low}, got {value!r}")
    return value


def shapes(size: int = 32, n: int = 10_000, seed: int = 0) -> ImageDataset:
    """`n` random shape pictures of `size` x `size`, deterministic per `seed`: attributes,
    captions, y = shape index, and the outline-only twins in extras["outline"]."""
    size, n = _positive("size", size, 8), _positive("n", n, 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"shapes option seed must be an integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    attributes = np.stack([rng.integers(0, len(values), size=n) for values in FACTORS.values()], axis=1)
    filled, outline = render_shapes(attributes, size, seed=int(rng.integers(2**31)))
    captions = [attributes_to_caption(dict(zip(FACTORS, row, strict=True))) for row in attributes.tolist()]
    attributes_t = torch.from_numpy(attributes)
    name = "shapes" if size == 32 else f"shapes{size}"
    return ImageDataset(
        name,
        filled,
        attributes_t[:, 0].clone(),
        list(SHAPES),
        {k: list(v) for k, v in FACTORS.items()},
        attributes_t,
        captions,
        {"outline": outline},
    )


def shapes64(n: int = 10_000, seed: int = 0) -> ImageDataset:
    """`shapes` at 64 x 64."""
    return shapes(64, n, seed)


# ----------------------------------------------------------------------------- shapes: captions

_ALIASES = {"center": "centre", "middle": "centre", "gray": "grey", "big": "large"}
_FILLER = {"a", "an", "the"}


def _value_name(factor: str, value: str | int) -> str:
    values = FACTORS[factor]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 <= value < len(values):
            raise ConfigError(f"{factor} index {value} out of range 0..{len(values) - 1} ({', '.join(values)})")
        return values[int(value)]
    if value not in values:
        raise ConfigError(f"unknown {factor} '{value}'; choices: {', '.join(values)}")
    return str(value)


def attributes_to_caption(attributes: Mapping[str, str | int] | Sequence[int] | torch.Tensor) -> str:
    """The caption of some or all factors, given as {factor: value name or index} or as one
    index per factor in `FACTORS` order: "a large blue square at the top on a grey background"."""
    if isinstance(attributes, Mapping):
        unknown = [k for k in attributes if k not in FACTORS]
        if unknown:
            raise ConfigError(f"unknown shapes factor {unknown[0]!r}; factors: {', '.join(FACTORS)}")
        chosen = {factor: _value_name(factor, value) for factor, value in attributes.items()}
    else:
        row = [int(v) for v in (attributes.tolist() if isinstance(attributes, torch.Tensor) else attributes)]
        if len(row) != len(FACTORS):
            raise ConfigError(f"expected {len(FACTORS)} attribute indices ({', '.join(FACTORS)}), got {len(row)}")
        chosen = {factor: _value_name(factor, v) for factor, v in zip(FACTORS, row, strict=True)}
    words = ["a"] + [chosen[f] for f in ("size", "colour") if f in chosen] + [chosen.get("shape", "shape")]
    if "position" in chosen:
        words += ["at the", chosen["position"]]
    if "background" in chosen:
        words += ["on a", chosen["background"], "background"]
    return " ".join(words)


def _known_words() -> str:
    return "; ".join(f"{factor}: {', '.join(values)}" for factor, values in FACTORS.items())


def caption_to_attributes(text: str) -> dict[str, str]:
    """The factor values a caption names, {factor: value name}; factors it leaves out are
    absent ("a large blue square" -> size, colour, shape). Unknown words are errors that
    list the known ones."""
    words = [_ALIASES.get(w, w) for w in text.lower().replace(",", " ").replace(".", " ").split()]
    if not words:
        raise ConfigError(f"empty caption; write e.g. '{attributes_to_caption([0, 0, 0, 0, 0])}'")
    # Split into the subject, "at ..." (position) and "on ... background" clauses.
    clauses: dict[str, list[str]] = {"subject": []}
    current = "subject"
    for word in words:
        if word in ("at", "on"):
            current = "position" if word == "at" else "background"
            if current in clauses:
                raise ConfigError(f"caption {text!r} has more than one '{word}' clause")
            clauses[current] = []
        elif word not in _FILLER:
            clauses[current].append(word)
    found: dict[str, str] = {}
    for word in clauses["subject"]:
        factor = next((f for f in ("size", "colour", "shape") if word in FACTORS[f]), None)
        if factor is None and word == "shape":
            continue
        if factor is None:
            hint = f" ('{word}' is a background: write '... on a {word} background')" if word in BACKGROUNDS else ""
            raise ConfigError(f"unknown word '{word}' in caption {text!r}{hint}; known words: {_known_words()}")
        if factor in found:
            raise ConfigError(f"caption {text!r} names the {factor} twice ('{found[factor]}' and '{word}')")
        found[factor] = word
    if "position" in clauses:
        position = " ".join(clauses["position"])
        if position not in POSITIONS:
            raise ConfigError(f"unknown position '{position}' in caption {text!r}; positions: {', '.join(POSITIONS)}")
        found["position"] = position
    if "background" in clauses:
        background = " ".join(w for w in clauses["background"] if w != "background")
        if background not in BACKGROUNDS:
            raise ConfigError(
                f"unknown background '{background}' in caption {text!r}; backgrounds: {', '.join(BACKGROUNDS)}"
            )
        found["background"] = background
    if not found:
        raise ConfigError(f"caption {text!r} names no factor; known words: {_known_words()}")
    return {factor: found[factor] for factor in FACTORS if factor in found}
