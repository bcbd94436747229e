"""Generative metrics: Frechet distance, precision/recall, conditional accuracy, and the
cached reference classifier (label and attributes modes)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rlgen.classifier import ClassifierConfig, load_splits
from rlgen.data import DATASETS, ImageDataset, load_dataset, make_splits, register_dataset
from rlgen.errors import ConfigError, UnknownNameError
from rlgen.generative.metrics import (
    _resolve,
    conditional_accuracy,
    evaluate_samples,
    frechet_distance,
    frechet_from_stats,
    precision_recall,
    reference_classifier,
    reference_config,
    reference_defaults,
)

# Few steps: enough for digits to be far above chance, short enough for the fast suite.
QUICK = ["steps=60", "optim.warmup_steps=10", "trainer.eval_every=30", "trainer.checkpoint_every=30"]

# ----------------------------------------------------------------------------- Frechet distance


def test_frechet_matches_closed_forms():
    # Commuting (diagonal) covariances: |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    expected = 1.0 + 9.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_from_stats(mu_a, np.diag(a), mu_b, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    # Non-commuting 2x2: tr sqrt(AB) = sqrt(tr(AB) + 2 sqrt(det A det B)).
    A = np.array([[2.0, 0.9], [0.9, 1.0]])
    B = np.array([[1.0, -0.7], [-0.7, 3.0]])
    assert not np.allclose(A @ B, B @ A)
    trace_sqrt = math.sqrt(np.trace(A @ B) + 2 * math.sqrt(np.linalg.det(A) * np.linalg.det(B)))
    expected = np.trace(A) + np.trace(B) - 2 * trace_sqrt
    assert frechet_from_stats(np.zeros(2), A, np.zeros(2), B) == pytest.approx(expected, rel=1e-10)
    assert frechet_from_stats(np.zeros(2), B, np.zeros(2), A) == pytest.approx(expected, rel=1e-10)
    assert frechet_from_stats(mu_a, np.diag(a), mu_a, np.diag(a)) == pytest.approx(0.0, abs=1e-10)


def test_frechet_of_samples_estimates_the_gaussian_distance():
    rng = np.random.default_rng(0)
    A = np.array([[2.0, 0.9], [0.9, 1.0]])
    B = np.array([[1.0, -0.7], [-0.7, 3.0]])
    mu_b = np.array([1.0, -2.0])
    x = rng.multivariate_normal(np.zeros(2), A, size=100_000)
    y = rng.multivariate_normal(mu_b, B, size=100_000)
    exact = frechet_from_stats(np.zeros(2), A, mu_b, B)
    assert frechet_distance(torch.from_numpy(x).float(), y) == pytest.approx(exact, rel=0.03)
    # Singular covariances (fewer samples than dimensions) stay finite and non-negative.
    few = rng.normal(size=(5, 20))
    assert frechet_distance(few, few) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(few, few + 1.0) == pytest.approx(20.0, rel=1e-6)


def test_frechet_rejects_mismatched_features():
    with pytest.raises(ConfigError, match="width"):
        frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ConfigError, match=r"\[N, D\]"):
        frechet_distance(np.zeros(10), np.zeros(10))


# ----------------------------------------------------------------------------- precision / recall


def test_precision_recall_cases():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(400, 8, generator=gen)
    same = precision_recall(real, real.clone(), k=3)
    assert same == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(real, torch.randn(400, 8, generator=gen) + 100.0, k=3)
    assert far == {"precision": 0.0, "recall": 0.0}

    # Real data has two well separated modes; fakes from both score high on both, fakes
    # from only one (mode collapse) keep their precision but lose half the recall.
    def two_modes(n: int) -> torch.Tensor:
        return torch.cat([torch.randn(n, 4, generator=gen), torch.randn(n, 4, generator=gen) + 20.0])

    modes = two_modes(300)
    both = precision_recall(modes, two_modes(300), k=3)
    collapsed = precision_recall(modes, torch.randn(300, 4, generator=gen), k=3)
    assert both["precision"] > 0.9 and both["recall"] > 0.85
    assert collapsed["precision"] > 0.9
    assert collapsed["recall"] < 0.55
    with pytest.raises(ConfigError, match="more than 3 points"):
        precision_recall(real[:3], real, k=3)


# ----------------------------------------------------------------------------- conditional accuracy


def test_conditional_accuracy_labels_and_attributes():
    assert conditional_accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4])) == {"accuracy": 0.75}
    pred = torch.tensor([[0, 1], [1, 1], [2, 0], [0, 0]])
    asked = torch.tensor([[0, 1], [1, 0], [2, -1], [1, -1]])  # -1: any value of that factor
    result = conditional_accuracy(pred, asked, ["shape", "colour"])
    assert result["shape"] == pytest.approx(3 / 4)
    assert result["colour"] == pytest.approx(1 / 2)
    assert result["accuracy"] == pytest.approx(2 / 4)  # rows 0 and 2 have every asked factor right
    with pytest.raises(ConfigError, match="same shape"):
        conditional_accuracy(torch.zeros(4, 2), torch.zeros(4))


# ----------------------------------------------------------------------------- reference classifier


@pytest.fixture(scope="module")
def digits_ref(tmp_path_factory):
    return reference_classifier("digits", cache_dir=tmp_path_factory.mktemp("cache"), overrides=QUICK)


def test_reference_classifier_and_generative_models_share_one_split():
    """The reference classifier trains on the generative train split (a generative model's
    at the default split_seed), so it never sees the test images samples are scored against."""
    reference = load_splits(reference_config("digits", "label"))
    generative = make_splits(load_dataset("digits"))
    for ours, theirs in zip(reference, generative, strict=True):
        assert torch.equal(ours.x, theirs.x) and torch.equal(ours.y, theirs.y)


def test_reference_classifier_is_cached_and_leaves_global_rng_alone(digits_ref):
    assert digits_ref.run_dir.parent.name == "reference" and digits_ref.run_dir.name == "digits"
    assert digits_ref.target == "label" and digits_ref.classes == [str(i) for i in range(10)]
    # What the config took from the data is kept beside the run: a cached call skips loading it.
    defaults = json.loads((digits_ref.run_dir.parent / "digits.json").read_text())
    assert defaults == {"dataset": "digits", "target": "label", "steps": 1500}
    assert digits_ref.algorithm.config.steps == 60  # the test's override wins
    # Trained on the generative split: 70% train, 20% test, and never on the test images.
    assert len(digits_ref.train_images) == pytest.approx(0.7 * 1797, abs=10)
    assert len(digits_ref.test_images) == pytest.approx(0.2 * 1797, abs=10)
    assert digits_ref.test_accuracy["accuracy"] > 0.6  # 60 steps; chance is 0.1
    checkpoint = digits_ref.run_dir / "checkpoints" / "last.pt"
    before = checkpoint.stat().st_mtime_ns
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    again = reference_classifier("digits", cache_dir=digits_ref.run_dir.parents[1], overrides=QUICK)
    assert torch.equal(torch.rand(3), expected)  # the caller's RNG stream is untouched
    assert checkpoint.stat().st_mtime_ns == before  # reused, not retrained
    x = digits_ref.test_images[:50]
    assert torch.equal(again.features(x), digits_ref.features(x))
    assert again.features(x).shape == (50, 128)
    assert again.predict(x).shape == (50,)


def test_reference_classifier_rejects_wrong_images(digits_ref):
    with pytest.raises(ConfigError, match=r"\[N, 1, 8, 8\].*got shape \[3, 1, 28, 28\]"):
        digits_ref.features(torch.rand(3, 1, 28, 28))
    with pytest.raises(ConfigError, match=r"\[0, 1\].*\(x \+ 1\) / 2"):
        digits_ref.predict(torch.rand(3, 1, 8, 8) * 2 - 1)


def test_evaluate_samples_tells_real_images_from_noise(digits_ref):
    train_y = digits_ref.algorithm.splits.train.y
    real = evaluate_samples(digits_ref, digits_ref.train_images[:300], train_y[:300], n=300)
    noise = evaluate_samples(digits_ref, torch.rand(300, 1, 8, 8), train_y[:300], n=300)
    assert real["metrics/frechet"] == pytest.approx(real["metrics/frechet_real"], rel=0.5)
    assert noise["metrics/frechet"] > 5 * noise["metrics/frechet_real"]
    assert noise["metrics/frechet_ratio"] > 5 > 2 > real["metrics/frechet_ratio"]
    # Precision alone cannot tell: noise maps near some real digits in this feature space.
    assert real["metrics/precision"] > 0.8
    assert real["metrics/recall"] > 0.6 > 0.3 > noise["metrics/recall"]
    assert real["metrics/conditional_accuracy"] > 0.6 > 0.3 > noise["metrics/conditional_accuracy"]
    assert real["metrics/reference_test_accuracy"] == digits_ref.test_accuracy["accuracy"]
    assert all(key.startswith("metrics/") for key in real)
    with pytest.raises(ConfigError, match=r"labels \[N\]"):
        evaluate_samples(digits_ref, digits_ref.train_images[:20], torch.zeros(20, 2), n=20)


def test_corrupted_reference_checkpoint_is_retrained(tmp_path, capsys):
    overrides = ["steps=20", "optim.warmup_steps=5", "trainer.eval_every=10", "trainer.checkpoint_every=10"]
    ref = reference_classifier("digits", cache_dir=tmp_path, overrides=overrides)
    for checkpoint in (ref.run_dir / "checkpoints").glob("*.pt"):
        checkpoint.write_bytes(b"not a checkpoint")
    capsys.readouterr()
    again = reference_classifier("digits", cache_dir=tmp_path, overrides=overrides)
    assert "unreadable" in capsys.readouterr().err
    assert again.run_dir == ref.run_dir
    assert again.predict(again.test_images).shape == (len(again.test_images),)
    # Another config (here: more steps) is another classifier, trained again in place.
    longer = reference_classifier("digits", cache_dir=tmp_path, overrides=[*overrides[1:], "steps=30"])
    assert "another" in capsys.readouterr().err
    assert longer.algorithm.config.steps == 30


def test_path_datasets_are_keyed_by_their_files(tmp_path):
    path = tmp_path / "my data.npz"
    np.savez(path, x=np.zeros((4, 1, 8, 8), np.float32))
    name, key = _resolve(f"npz:{path}")
    assert name == f"npz:{path.resolve()}"
    assert key.startswith("npz-my_data-") and "/" not in key
    assert _resolve(f"npz:{path}")[1] == key
    np.savez(path, x=np.zeros((5, 1, 8, 8), np.float32))
    assert _resolve(f"npz:{path}")[1] != key  # edited data -> another cache entry
    assert _resolve("mnist5k") == ("mnist5k", "mnist5k")


# ----------------------------------------------------------------------------- attributes mode


def _toy_attributes() -> ImageDataset:
    """A 4x4 square of one colour (red/green/blue) in one of four corners of an 8x8 image."""
    gen = torch.Generator().manual_seed(0)
    n = 480
    colour = torch.arange(n) % 3
    corner = torch.randint(0, 4, (n,), generator=gen)
    x = 0.1 * torch.rand(n, 3, 8, 8, generator=gen)
    for i in range(n):
        top, left = 4 * (int(corner[i]) // 2), 4 * (int(corner[i]) % 2)
        x[i, int(colour[i]), top : top + 4, left : left + 4] = 0.9
    factors = {"colour": ["red", "green", "blue"], "corner": ["top left", "top right", "bottom left", "bottom right"]}
    return ImageDataset(
        "toy_attributes", x, colour.clone(), ["red", "green", "blue"], factors, torch.stack([colour, corner], 1)
    )


@pytest.fixture
def toy_attributes():
    register_dataset("toy_attributes", _toy_attributes, "test-only coloured squares with two factors")
    yield "toy_attributes"
    DATASETS.pop("toy_attributes", None)


def test_attributes_reference_classifier_learns_every_factor(toy_attributes, tmp_path):
    assert reference_defaults(toy_attributes)["target"] == "attributes"
    ref = reference_classifier(toy_attributes, cache_dir=tmp_path, overrides=QUICK)
    assert ref.target == "attributes" and list(ref.factors) == ["colour", "corner"]
    assert not ref.algorithm.config.augment  # shifts would change the 'corner' to read
    assert ref.test_accuracy["colour"] >= 0.95 and ref.test_accuracy["corner"] >= 0.95
    written = json.loads((ref.run_dir / "summary.json").read_text())
    assert {"dev/accuracy", "dev/accuracy/colour", "dev/accuracy/corner", "test/accuracy/corner"} <= set(written)
    assert written["dev/accuracy"] == pytest.approx(
        (written["dev/accuracy/colour"] + written["dev/accuracy/corner"]) / 2
    )
    report = json.loads((ref.run_dir / "eval.json").read_text())
    assert list(report["test/report/corner"]["per_class"]) == ["top left", "top right", "bottom left", "bottom right"]
    assert list((ref.run_dir / "media").glob("test_confusion_matrix_corner_*.png"))
    test = ref.algorithm.splits.test
    assert ref.predict(test.x).shape == (len(test), 2)
    # Samples asked for other attributes than they show are caught, per factor.
    wrong_corner = test.attributes.clone()
    wrong_corner[:, 1] = (wrong_corner[:, 1] + 1) % 4
    result = evaluate_samples(ref, test.x, wrong_corner, n=len(test))
    assert result["metrics/conditional_accuracy/colour"] >= 0.95
    assert result["metrics/conditional_accuracy/corner"] <= 0.05
    assert result["metrics/conditional_accuracy"] <= 0.05
    assert result["metrics/reference_test_accuracy/corner"] == ref.test_accuracy["corner"]
    # Label-conditioned samples are scored on the factor that equals the label (colour).
    by_label = evaluate_samples(ref, test.x, test.y, n=len(test))
    assert by_label["metrics/conditional_accuracy"] >= 0.95


def test_attributes_target_needs_a_dataset_with_attributes(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown dataset 'mnist6k'.*Did you mean 'mnist5k'"):
        reference_classifier("mnist6k", cache_dir=tmp_path)
    assert not (tmp_path / "reference" / "mnist6k").exists()
    with pytest.raises(ConfigError, match="'digits' has none"):
        load_splits(ClassifierConfig(data="digits", target="attributes"))
    with pytest.raises(ConfigError, match="target must be"):
        ClassifierConfig(target="caption")
