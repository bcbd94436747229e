"""Offline sample metrics in a reference classifier's feature space.

No Inception or VGG weights exist here, so each dataset gets its own judge: the core's
CNN classifier (`rlgen.classifier`), trained once on the dataset's fixed generative
train/dev split (`rlgen.data.GENERATIVE_SPLIT`; it never sees the test split) and cached
as a normal run directory under `$RLGEN_CACHE/reference/<dataset>/` (default
`~/.cache/rlgen`). On datasets with attribute factors it predicts every factor.

- `frechet_distance`: the Frechet distance between Gaussians fitted to two feature
  sets ("FID" with a domain classifier instead of Inception).
- `precision_recall`: improved precision and recall (Kynkaanniemi et al., 2019), k-NN
  balls in feature space: precision = share of fakes inside the real manifold, recall =
  share of reals inside the fake manifold.
- `conditional_accuracy`: how often the classifier reads back the requested label or
  attributes.
- `evaluate_samples`: all of them for one set of samples, with the reference numbers
  they should be read against (real-vs-real distance, the classifier's own accuracy).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlgen.checkpoint import atomic_write_bytes
from rlgen.classifier import Classifier, ClassifierConfig, decode
from rlgen.config import WandbConfig, apply_override, to_dict
from rlgen.data import GENERATIVE_SPLIT, GENERATIVE_SPLIT_SEED, load_dataset, make_splits
from rlgen.errors import ConfigError, RlgenError
from rlgen.seeding import get_rng_state, set_rng_state

REFERENCE_EPOCHS = 27
"""Training length in passes over the train split, rounded up to 100 steps and clamped
to REFERENCE_STEPS: 1,500 steps for mnist5k (99.0% test accuracy), 3,000 for the 7,000
training images of animal (97.9%; 1,500 steps leave it at 96.7%) and shapes (100% on
every factor; 1,500 steps leave shape at 99.2%)."""
REFERENCE_STEPS = (1500, 4000)
"""Fewest and most optimizer steps of a reference classifier."""
ArrayLike = torch.Tensor | np.ndarray

# ----------------------------------------------------------------------------- metrics


def _matrix(feats: ArrayLike, name: str) -> np.ndarray:
    """Features as a float64 [N, D] array."""
    if isinstance(feats, torch.Tensor):
        feats = feats.detach().cpu().double().numpy()
    array = np.asarray(feats, dtype=np.float64)
    if array.ndim != 2:
        raise ConfigError(f"{name} must be a feature matrix [N, D], got shape {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise ConfigError(f"{name} contains NaN or Inf values")
    return array


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_from_stats(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(A) + tr(B) - 2 tr((A B)^1/2) for Gaussians N(mu_a, A), N(mu_b, B).

    tr((A B)^1/2) is computed as tr((A^1/2 B A^1/2)^1/2): the same eigenvalues, but of a
    symmetric PSD matrix, so no complex square root and no imaginary residue to discard.
    """
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    cov_a, cov_b = np.atleast_2d(np.asarray(cov_a, np.float64)), np.atleast_2d(np.asarray(cov_b, np.float64))
    if mu_a.shape != mu_b.shape or cov_a.shape != cov_b.shape or cov_a.shape != (mu_a.size, mu_a.size):
        raise ConfigError(
            f"Gaussian statistics do not match: means {mu_a.shape} and {mu_b.shape}, "
            f"covariances {cov_a.shape} and {cov_b.shape} (expected [D] and [D, D])"
        )
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    distance = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(distance, 0.0)  # rounding can leave -1e-12 for identical statistics


def frechet_distance(feats_a: ArrayLike, feats_b: ArrayLike) -> float:
    """Frechet distance between Gaussians fitted (mean, unbiased covariance) to two feature sets."""
    a, b = _matrix(feats_a, "feats_a"), _matrix(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"feature sets differ in width: {a.shape[1]} vs {b.shape[1]}")
    if len(a) < 2 or len(b) < 2:
        raise ConfigError(f"the Frechet distance needs at least 2 samples per set, got {len(a)} and {len(b)}")
    return frechet_from_stats(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def _pairwise(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> Iterator[tuple[int, torch.Tensor]]:
    """Euclidean distances from row chunks of `a` to all of `b`."""
    for start in range(0, len(a), chunk):
        yield start, torch.cdist(a[start : start + chunk], b)


def _knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each point to its k-th nearest other point."""
    radii = torch.empty(len(feats), dtype=feats.dtype)
    for start, dist in _pairwise(feats, feats):
        radii[start : start + len(dist)] = dist.kthvalue(k + 1, dim=1).values  # +1: the point itself
    return radii


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Whether each point lies in at least one ball (centre, radius)."""
    inside = torch.empty(len(points), dtype=torch.bool)
    for start, dist in _pairwise(points, centres):
        inside[start : start + len(dist)] = (dist <= radii.unsqueeze(0)).any(dim=1)
    return inside


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3) -> dict[str, float]:
    """Improved precision and recall with k-NN balls (Kynkaanniemi et al., 2019).

    precision: share of fake points within the k-NN radius of some real point (fidelity);
    recall: share of real points within the k-NN radius of some fake point (coverage).
    """
    r = torch.from_numpy(_matrix(real, "real"))
    f = torch.from_numpy(_matrix(fake, "fake"))
    if r.shape[1] != f.shape[1]:
        raise ConfigError(f"feature sets differ in width: real {r.shape[1]} vs fake {f.shape[1]}")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    if len(r) <= k or len(f) <= k:
        raise ConfigError(
            f"precision/recall with k={k} needs more than {k} points per set, got {len(r)} real and {len(f)} fake"
        )
    precision = _inside(f, r, _knn_radii(r, k)).double().mean()
    recall = _inside(r, f, _knn_radii(f, k)).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def conditional_accuracy(pred: ArrayLike, requested: ArrayLike, factors: list[str] | None = None) -> dict[str, float]:
    """Agreement of predictions with the requested conditions.

    Labels [N]: {"accuracy"}. Attribute rows [N, F]: one entry per factor (named by
    `factors`, else by index) plus "accuracy" = share of rows with every factor right.
    A requested value < 0 means "any value" and is not scored (captions that leave a
    factor open); a factor never requested gets no entry.
    """
    pred_t, req_t = torch.as_tensor(pred).long().cpu(), torch.as_tensor(requested).long().cpu()
    if pred_t.shape != req_t.shape or pred_t.dim() not in (1, 2):
        raise ConfigError(
            f"predictions {tuple(pred_t.shape)} and requested conditions {tuple(req_t.shape)} must have the "
            "same shape: labels [N] or attribute rows [N, F]"
        )
    if len(req_t) == 0:
        raise ConfigError("conditional_accuracy needs at least one sample")
    if req_t.dim() == 1:
        return {"accuracy": float((pred_t == req_t).double().mean())}
    names = factors if factors is not None else [str(i) for i in range(req_t.shape[1])]
    if len(names) != req_t.shape[1]:
        raise ConfigError(f"{req_t.shape[1]} attribute columns but {len(names)} factor names {names}")
    asked = req_t >= 0
    right = (pred_t == req_t) | ~asked
    results: dict[str, float] = {}
    scored = asked.any(dim=1)
    if scored.any():
        results["accuracy"] = float(right[scored].all(dim=1).double().mean())
    for i, name in enumerate(names):
        if asked[:, i].any():
            results[name] = float(right[asked[:, i], i].double().mean())
    return results


# ----------------------------------------------------------------------------- reference classifier


class ReferenceClassifier:
    """A trained reference classifier of one dataset, read-only: features, predictions,
    its test accuracy on real data, and the dataset's real train / test images."""

    def __init__(self, algorithm: Classifier, run_dir: Path) -> None:
        self.algorithm = algorithm
        self.run_dir = run_dir
        self.dataset: str = algorithm.config.data
        self.target: str = algorithm.config.target
        self.classes: list[str] = list(algorithm.classes)
        self.factors: dict[str, list[str]] = dict(algorithm.factors)
        self.image_shape: tuple[int, int, int] = algorithm.splits.train.image_shape
        self.device = algorithm.trainer.device
        self.model = algorithm.eval_model()
        self.model.eval()
        self._test_accuracy: dict[str, float] | None = None
        self._real_features: dict[str, torch.Tensor] = {}

    @property
    def train_images(self) -> torch.Tensor:
        """The real images the classifier trained on (the generative train split)."""
        return self.algorithm.splits.train.x

    @property
    def test_images(self) -> torch.Tensor:
        """The held-out real test images (the generative test split)."""
        return self.algorithm.splits.test.x

    @property
    def label_factor(self) -> int | None:
        """In attributes mode, the factor that always equals the class label (if one does),
        so label-conditioned samples can be scored too."""
        train = self.algorithm.splits.train
        if self.target != "attributes" or train.attributes is None:
            return None
        for i in range(train.attributes.shape[1]):
            if torch.equal(train.attributes[:, i], train.y):
                return i
        return None

    def check_images(self, x: torch.Tensor) -> torch.Tensor:
        """float images [N, C, H, W] of the dataset's shape with values in [0, 1]."""
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            expected = "[N, " + ", ".join(map(str, self.image_shape)) + "]"
            raise ConfigError(
                f"reference classifier of '{self.dataset}' takes images {expected} (N, C, H, W), "
                f"got shape {list(x.shape)}"
            )
        x = x.float()
        if not bool(torch.isfinite(x).all()):
            raise ConfigError("images contain NaN or Inf values")
        if len(x) and (float(x.min()) < -1e-3 or float(x.max()) > 1.0 + 1e-3):
            raise ConfigError(
                f"images must have values in [0, 1], got [{float(x.min()):.3g}, {float(x.max()):.3g}]; "
                "map tanh outputs with (x + 1) / 2, and 0-255 pixels with x / 255"
            )
        return x

    @torch.no_grad()
    def _forward(self, x: torch.Tensor, features: bool, batch_size: int) -> torch.Tensor:
        x = self.check_images(x)
        out = []
        # float32 on purpose (no autocast): features feed covariance estimates.
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size].to(self.device)
            out.append((self.model.features(batch) if features else self.model(batch)).float().cpu())
        return torch.cat(out) if out else torch.empty(0)

    def features(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Penultimate-layer activations [N, D] (eval mode, no grad), on the CPU."""
        return self._forward(x, True, batch_size)

    def real_features(self, x: torch.Tensor) -> torch.Tensor:
        """`features` of a set of real images, remembered by content: periodic evaluations
        pass the same real sets again and again."""
        x = self.check_images(x)
        key = f"{tuple(x.shape)}:{hashlib.blake2b(x.contiguous().cpu().numpy().tobytes(), digest_size=16).hexdigest()}"
        if key not in self._real_features:
            if len(self._real_features) >= 8:
                self._real_features.pop(next(iter(self._real_features)))
            self._real_features[key] = self.features(x)
        return self._real_features[key]

    def predict(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Labels long [N] (label mode) or attribute value indices long [N, F] (attributes mode)."""
        return decode(self._forward(x, False, batch_size), self.algorithm.sizes)

    @property
    def test_accuracy(self) -> dict[str, float]:
        """Accuracy on the real test split: 'accuracy' (mean over factors in attributes mode) and per factor."""
        if self._test_accuracy is None:
            test = self.algorithm.splits.test
            pred = self.predict(test.x)
            if self.target == "attributes":
                assert test.attributes is not None
                per_factor = (pred == test.attributes).double().mean(0).tolist()
                self._test_accuracy = {
                    "accuracy": float(np.mean(per_factor)),
                    **dict(zip(self.factors, per_factor, strict=True)),
                }
            else:
                self._test_accuracy = {"accuracy": float((pred == test.y).double().mean())}
        return self._test_accuracy

    def __repr__(self) -> str:
        return f"ReferenceClassifier({self.dataset!r}, target={self.target!r}, run_dir='{self.run_dir}')"


def default_cache_dir() -> Path:
    """$RLGEN_CACHE, else ~/.cache/rlgen."""
    return Path(os.environ.get("RLGEN_CACHE") or Path.home() / ".cache" / "rlgen").expanduser()


def _fingerprint(path: Path) -> str:
    """Hash of a file's or folder's resolved path and every file's size and mtime, so
    edited user data gets a fresh reference classifier."""
    digest = hashlib.sha1(str(path).encode())
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(path.parent)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def _resolve(dataset: str) -> tuple[str, str]:
    """(dataset name for the run config, cache key). Path datasets (npz:PATH, idx:DIR,
    folder:DIR) get an absolute path and a key with a hash of the files."""
    kind, sep, rest = dataset.partition(":")
    if sep and rest and Path(rest).expanduser().exists():
        path = Path(rest).expanduser().resolve()
        name = f"{kind}:{path}"
        key = f"{kind}-{path.stem}-{_fingerprint(path)}"
    else:
        name, key = dataset, dataset
    return name, re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_") or "dataset"


def reference_defaults(dataset: str) -> dict[str, Any]:
    """What the reference config takes from the data (loads it; an unknown name fails
    here): 'target' ('attributes' when the dataset has factors, else 'label') and 'steps'."""
    data = load_dataset(dataset)
    target = "attributes" if data.factors and data.attributes is not None else "label"
    train = len(make_splits(data, GENERATIVE_SPLIT_SEED, GENERATIVE_SPLIT).train)
    steps = math.ceil(REFERENCE_EPOCHS * train / ClassifierConfig().batch_size / 100) * 100
    low, high = REFERENCE_STEPS
    return {"target": target, "steps": min(max(steps, low), high)}


def reference_config(
    dataset: str,
    target: str,
    steps: int = REFERENCE_STEPS[0],
    device: str = "cpu",
    overrides: Sequence[str] = (),
) -> ClassifierConfig:
    """The reference classifier's config: the core classifier's defaults on the generative
    split, then `overrides` ('key=value', as `--set` takes them).

    Augmentation (small shifts and rotations) is off when predicting attributes: a shift
    can change a 'position' attribute the classifier must read exactly.
    """
    default = ClassifierConfig()
    config = ClassifierConfig(
        data=dataset,
        target=target,
        steps=steps,
        split=GENERATIVE_SPLIT,
        split_seed=GENERATIVE_SPLIT_SEED,
        device=device,
        augment=target == "label",
        trainer=replace(default.trainer, progress="off"),
        wandb=WandbConfig(mode="disabled"),
    )
    for assignment in overrides:
        apply_override(config, assignment)
    return config


@contextmanager
def _keep_rng() -> Iterator[None]:
    """Leave the caller's global RNG streams as they were: building a Trainer reseeds
    everything, and a reference classifier is often built inside another run."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock file, so two processes never train the same cache entry at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): no cross-process lock
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _comparable(config: Any) -> dict[str, Any]:
    """Config fields that decide the trained weights (the device does not)."""
    values = to_dict(config)
    values.pop("device", None)
    return values


def _note(message: str) -> None:
    print(f"rlgen: {message}", file=sys.stderr, flush=True)


def _defaults(dataset: str, path: Path, fresh: bool) -> dict[str, Any]:
    """`reference_defaults`, remembered in `path` beside the cache entry so a cached
    classifier opens without loading its dataset once more (unless `fresh`)."""
    if not fresh:
        try:
            saved = json.loads(path.read_text())
            if saved.get("dataset") == dataset and {"target", "steps"} <= set(saved):
                return saved
        except (OSError, ValueError):
            pass
    values = {"dataset": dataset, **reference_defaults(dataset)}
    text = json.dumps(values, indent=2)
    atomic_write_bytes(path, lambda handle: handle.write(text.encode()))
    return values


def _open(run_dir: Path, device: str) -> ReferenceClassifier:
    from rlgen.run import build_for_eval

    algorithm, _, _ = build_for_eval(run_dir, checkpoint="best", device=device)
    return ReferenceClassifier(algorithm, run_dir)


def reference_classifier(
    dataset: str,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    retrain: bool = False,
    overrides: Sequence[str] = (),
) -> ReferenceClassifier:
    """The dataset's reference classifier, trained on first use and cached.

    Cached under `cache_dir/reference/<dataset>/` (default cache: $RLGEN_CACHE or
    ~/.cache/rlgen) as a normal run directory (`rlgen eval` works on it), with what
    the config took from the data in `<dataset>.json` beside it. A missing,
    unfinished, unreadable or differently configured cache entry is (re)trained;
    `retrain=True` always trains afresh. Datasets with attribute factors get an
    attributes-mode classifier, the others a label classifier. `overrides` change the
    classifier config ('steps=200'); a cache entry trained with other ones is retrained.
    """
    from rlgen.run import read_config, resume_or_train

    name, key = _resolve(dataset)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    run_dir = root / "reference" / key
    defaults_path = root / "reference" / f"{key}.json"
    with _keep_rng(), _locked(root / "reference" / f"{key}.lock"):
        if retrain and run_dir.exists():
            shutil.rmtree(run_dir)
        defaults = _defaults(name, defaults_path, fresh=retrain)
        config = reference_config(name, defaults["target"], defaults["steps"], device, overrides)
        if run_dir.exists():
            try:
                stale = _comparable(read_config(run_dir)[1]) != _comparable(config)
            except (RlgenError, OSError, ValueError):
                stale = True
            if stale:
                _note(f"reference classifier in {run_dir} has another or an unreadable config; training it again")
                shutil.rmtree(run_dir)
        cached = run_dir.exists()
        if not cached:
            _note(f"training the reference classifier for '{dataset}' into {run_dir} (once; cached)")
        try:
            resume_or_train("classifier", config, run_dir)
            return _open(run_dir, device)
        except (RlgenError, OSError, ValueError, RuntimeError, EOFError) as exc:
            if not cached:
                raise  # a fresh run failed: bad data or config, not a bad cache entry
            _note(f"reference classifier in {run_dir} is unreadable ({type(exc).__name__}: {exc}); training it again")
        shutil.rmtree(run_dir)
        defaults = _defaults(name, defaults_path, fresh=True)
        config = reference_config(name, defaults["target"], defaults["steps"], device, overrides)
        resume_or_train("classifier", config, run_dir)
        return _open(run_dir, device)


# ----------------------------------------------------------------------------- all metrics for one sample set


REAL_DRAWS = 5
"""Most disjoint draws of n real training images averaged into `metrics/frechet_real`."""


def _draws(count: int, n: int, most: int, seed: int) -> list[torch.Tensor]:
    """Up to `most` disjoint index sets of size n (one set of all `count` when n >= count)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    if count <= n:
        return [order]
    return [order[i * n : (i + 1) * n] for i in range(max(1, min(most, count // n)))]


def evaluate_samples(
    ref: ReferenceClassifier,
    fake_images: torch.Tensor,
    fake_conditions: ArrayLike | None = None,
    real_test: torch.Tensor | None = None,
    real_train: torch.Tensor | None = None,
    n: int = 1000,
    k: int = 3,
) -> dict[str, float]:
    """Reference-classifier metrics of generated images against real test images.

    Uses the first n fakes and n real test images (a fixed random subset when there are
    more); `frechet_real` is the mean over up to REAL_DRAWS disjoint draws of n real
    training images. `fake_conditions` are what each fake was asked to show: labels [N]
    or attribute rows [N, F] (-1 = any value). Returns, under `metrics/`:
    frechet (fakes vs test), frechet_real (real train vs test: the scale to read
    frechet against), frechet_ratio, precision, recall, conditional_accuracy (+ per
    factor), reference_test_accuracy (+ per factor) and samples.
    """
    if n < 2:
        raise ConfigError(f"n must be >= 2 samples, got {n}")
    fake = ref.check_images(fake_images)[:n]
    real_test = ref.test_images if real_test is None else real_test
    real_train = ref.train_images if real_train is None else real_train
    test_feats = ref.real_features(real_test)[_draws(len(real_test), n, 1, seed=0)[0]]
    train_feats = ref.real_features(real_train)
    fake_feats = ref.features(fake)
    frechet = frechet_distance(fake_feats, test_feats)
    # The distance of 1,000 vs 1,000 real images varies by ~20% with the draw; averaging
    # disjoint draws of the training set steadies the scale the floors compare to.
    frechet_real = float(
        np.mean(
            [
                frechet_distance(train_feats[index], test_feats)
                for index in _draws(len(real_train), n, REAL_DRAWS, seed=1)
            ]
        )
    )
    results: dict[str, float] = {
        "metrics/frechet": frechet,
        "metrics/frechet_real": frechet_real,
        "metrics/frechet_ratio": frechet / frechet_real if frechet_real > 0 else float("inf"),
        **{f"metrics/{key}": value for key, value in precision_recall(test_feats, fake_feats, k).items()},
        "metrics/samples": float(len(fake)),
    }
    if fake_conditions is not None:
        requested = torch.as_tensor(fake_conditions).long()[: len(fake)]
        if len(requested) != len(fake):
            raise ConfigError(f"{len(fake)} samples but {len(requested)} conditions")
        pred = ref.predict(fake)
        factors: list[str] | None = list(ref.factors) if ref.target == "attributes" else None
        if ref.target == "attributes" and requested.dim() == 1:
            column = ref.label_factor
            if column is None:
                raise ConfigError(
                    f"the reference classifier of '{ref.dataset}' reads attributes {list(ref.factors)}, and no "
                    "factor equals the class label; give the requested conditions as attribute rows [N, F]"
                )
            pred, factors = pred[:, column], None
        elif ref.target == "label" and requested.dim() != 1:
            raise ConfigError(
                f"the reference classifier of '{ref.dataset}' reads class labels; give the requested "
                f"conditions as labels [N], got shape {list(requested.shape)}"
            )
        accuracy = conditional_accuracy(pred, requested, factors)
        results.update(
            {
                f"metrics/conditional_accuracy{'' if key == 'accuracy' else '/' + key}": value
                for key, value in accuracy.items()
            }
        )
    reference = ref.test_accuracy
    results.update(
        {
            f"metrics/reference_test_accuracy{'' if key == 'accuracy' else '/' + key}": value
            for key, value in reference.items()
        }
    )
    return results


__all__ = [
    "ReferenceClassifier",
    "conditional_accuracy",
    "default_cache_dir",
    "evaluate_samples",
    "frechet_distance",
    "frechet_from_stats",
    "precision_recall",
    "reference_classifier",
    "reference_config",
]
