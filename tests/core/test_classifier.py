"""The reference classifier: learning floors, splits, cross-validation, reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlgen.classifier import ClassifierConfig, bias_variance, load_splits
from rlgen.config import build_config
from rlgen.data import BatchIterator, split_indices
from rlgen.run import resume_or_train, train


def test_splits_are_disjoint_stratified_and_fixed_by_split_seed():
    labels = torch.arange(10).repeat(50)
    a = split_indices(labels, (0.7, 0.15, 0.15), seed=0)
    b = split_indices(labels, (0.7, 0.15, 0.15), seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    joined = np.concatenate(a)
    assert len(joined) == 500 and len(set(joined.tolist())) == 500
    for part, ratio in zip(a, (0.7, 0.15, 0.15), strict=True):
        counts = np.bincount(labels.numpy()[part], minlength=10)
        assert np.all(np.abs(counts - 50 * ratio) <= 1)


def test_cv_fold_splits_cover_train_and_dev_without_touching_test():
    cfg = build_config(ClassifierConfig, {}, ["cv_folds=3"])
    base = load_splits(cfg)
    test_x = base.test.x
    devs = []
    for fold in range(3):
        cfg.cv_fold = fold
        splits = load_splits(cfg)
        assert torch.equal(splits.test.x, test_x)
        assert len(splits.train) + len(splits.dev) == len(base.train) + len(base.dev)
        devs.append(splits.dev.x.flatten(1))
    all_dev = torch.cat(devs)
    assert len(torch.unique(all_dev, dim=0)) == len(
        torch.unique(torch.cat([base.train.x, base.dev.x]).flatten(1), dim=0)
    )


def test_batch_iterator_resumes_the_same_order():
    a = BatchIterator(100, 32, seed=1)
    for _ in range(5):
        a.next_index()
    state = a.state_dict()
    expected = [a.next_index() for _ in range(7)]
    b = BatchIterator(100, 32, seed=99)
    b.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(expected, [b.next_index() for _ in range(7)], strict=True))


def test_bias_variance_diagnosis():
    assert "high bias" in bias_variance(0.2, 0.21, 0.21, 0.0)["diagnosis"]
    assert "high variance" in bias_variance(0.01, 0.1, 0.1, 0.0)["diagnosis"]
    report = bias_variance(0.01, 0.015, 0.02, 0.005)
    assert report["avoidable_bias"] == pytest.approx(0.005)
    assert report["variance"] == pytest.approx(0.005)


def test_digits_floor_97_percent(tmp_path):
    """The default config reaches >= 97% test accuracy on digits (CPU, one thread)."""
    cfg = build_config(ClassifierConfig, {}, ["wandb.mode=disabled", "trainer.progress=off"])
    run = train("classifier", cfg, tmp_path / "digits")
    summary = json.loads((run / "summary.json").read_text())
    report = json.loads((run / "eval.json").read_text())
    assert summary["test/accuracy"] >= 0.97, summary
    assert report["test/report"]["macro_f1"] >= 0.96
    assert summary["elapsed_s"] < 120


def test_cross_validation_reports_each_fold(tmp_path):
    cfg = build_config(
        ClassifierConfig,
        {},
        ["cv_folds=2", "steps=40", "wandb.mode=disabled", "trainer.progress=off", "trainer.eval_every=20"],
    )
    run = train("classifier", cfg, tmp_path / "cv")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["cv/folds"] == 2
    per_fold = summary["cv/dev_accuracy_per_fold"]
    assert len(per_fold) == 2 and all(accuracy > 0.3 for accuracy in per_fold)  # chance: 0.1
    assert summary["cv/dev_accuracy_mean"] == pytest.approx(sum(per_fold) / 2)
    fold = run / "cv" / "fold-0"
    before = (fold / "checkpoints" / "last.pt").stat().st_mtime_ns
    again = resume_or_train("classifier", cfg, fold)  # a finished fold is not trained again
    assert (fold / "checkpoints" / "last.pt").stat().st_mtime_ns == before
    assert again["step"] == 40


@pytest.mark.slow
def test_mnist5k_floor_96_percent(tmp_path):
    cfg = build_config(ClassifierConfig, {}, ["data=mnist5k", "wandb.mode=disabled", "trainer.progress=off"])
    run = train("classifier", cfg, tmp_path / "mnist")
    assert json.loads((run / "summary.json").read_text())["test/accuracy"] >= 0.96
