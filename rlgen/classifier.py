"""Reference task: a supervised CNN image classifier trained through the shared core.

It exercises the toolbox the lab promises (splits, k-fold cross-validation, dropout,
batch norm, weight decay, early stopping on dev loss, augmentation, per-class metrics,
a bias/variance report) and is the feature network the generative metrics reuse.

    rlgen train classifier --data digits
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rlgen.algorithm import Algorithm
from rlgen.augment import random_affine
from rlgen.config import OptimConfig, RunConfig, TrainerConfig
from rlgen.data import BatchIterator, ImageDataset, kfold_indices, load_dataset, split_indices
from rlgen.errors import ConfigError
from rlgen.nets import CNN, count_parameters

# ----------------------------------------------------------------------------- config


@dataclass
class ClassifierConfig(RunConfig):
    """Supervised image classification. `--steps` counts optimizer steps."""

    data: str = "digits"
    """Dataset name (`rlgen list datasets`)."""
    steps: int = 1500
    """Optimizer steps."""
    batch_size: int = 64
    """Mini-batch size."""
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    """Train / dev / test fractions (stratified, fixed by `split_seed`)."""
    split_seed: int = 0
    """Seed of the data split, kept apart from `seed` so runs with other seeds share a test set."""
    cv_folds: int = 0
    """k-fold cross-validation over train+dev after the main run (0 = off, else k >= 2)."""
    cv_fold: int = -1
    """Internal: which fold is the dev set in a cross-validation child run (-1 = none)."""
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    """Conv channels per stage (each stage: two 3x3 convs and a 2x2 max-pool)."""
    hidden: list[int] = field(default_factory=lambda: [128])
    """Widths of the fully connected layers before the output."""
    activation: str = "relu"
    """relu, leaky_relu, tanh, sigmoid, gelu, elu, silu."""
    norm: str = "batch"
    """batch, layer, spectral or none."""
    dropout: float = 0.3
    """Dropout before and inside the fully connected head."""
    init: str = "kaiming"
    """default, xavier (glorot), kaiming or orthogonal."""
    augment: bool = True
    """Random small shifts and rotations of training images."""
    max_shift: float = 0.1
    """Largest shift, as a fraction of the image size."""
    max_degrees: float = 10.0
    """Largest rotation in degrees."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing."""
    bayes_error: float = 0.0
    """Estimate of the best achievable error (e.g. human level) for the bias/variance report."""
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(name="adamw", lr=3e-3, weight_decay=5e-4, schedule="cosine", warmup_steps=100)
    )
    """Optimizer."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(log_every=20, eval_every=100, checkpoint_every=200, early_stop_patience=8)
    )
    """Trainer plumbing (monitor defaults to dev/loss)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.cv_folds == 1 or self.cv_folds < 0:
            raise ConfigError(f"cv_folds must be 0 (off) or >= 2, got {self.cv_folds}")


# ----------------------------------------------------------------------------- data


@dataclass
class Splits:
    train: ImageDataset
    dev: ImageDataset
    test: ImageDataset


def make_splits(cfg: ClassifierConfig) -> Splits:
    """Stratified train/dev/test split; in a CV child run, fold `cv_fold` of train+dev is dev."""
    data = load_dataset(cfg.data)
    train_idx, dev_idx, test_idx = split_indices(data.y, cfg.split, cfg.split_seed)
    if cfg.cv_fold >= 0:
        pool = np.concatenate([train_idx, dev_idx])
        folds = kfold_indices(data.y[pool], max(cfg.cv_folds, 2), cfg.split_seed)
        if cfg.cv_fold >= len(folds):
            raise ConfigError(f"cv_fold {cfg.cv_fold} out of range for {len(folds)} folds")
        dev_idx = pool[folds[cfg.cv_fold]]
        train_idx = pool[np.concatenate([f for i, f in enumerate(folds) if i != cfg.cv_fold])]
    if len(dev_idx) == 0 or len(test_idx) == 0:
        raise ConfigError(f"split {cfg.split} leaves an empty dev or test set for {len(data)} examples")
    return Splits(data.subset(train_idx), data.subset(dev_idx), data.subset(test_idx))


# ----------------------------------------------------------------------------- metrics


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, confusion matrix and per-class precision / recall / F1 (scikit-learn)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": float(f1.mean()),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "per_class": {
            cls: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for cls, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
        },
    }


def bias_variance(train_err: float, dev_err: float, test_err: float, bayes_err: float) -> dict[str, Any]:
    """The train/dev/test error gaps and what they suggest doing next."""
    avoidable_bias = train_err - bayes_err
    variance = dev_err - train_err
    mismatch = test_err - dev_err
    if avoidable_bias > max(variance, 0.01):
        advice = "high bias: train longer, use a bigger model, or lower regularization"
    elif variance > 0.01:
        advice = "high variance: more data or augmentation, more regularization (dropout, weight decay)"
    else:
        advice = "bias and variance both small"
    if mismatch > 0.02:
        advice += "; test error well above dev error: the dev set may be overfit by model selection"
    return {
        "train_error": train_err,
        "dev_error": dev_err,
        "test_error": test_err,
        "bayes_error": bayes_err,
        "avoidable_bias": avoidable_bias,
        "variance": variance,
        "dev_test_gap": mismatch,
        "diagnosis": advice,
    }


# ----------------------------------------------------------------------------- algorithm


class Classifier(Algorithm):
    """CNN classifier: cross-entropy, augmentation, dev-loss early stopping."""

    name = "classifier"
    Config = ClassifierConfig
    unit = "optimizer steps"
    input_kind = "data"
    description = "supervised CNN image classifier (reference task; feature net for generative metrics)"
    default_monitor = "dev/loss"

    def __init__(self, config: ClassifierConfig, trainer: Any) -> None:
        super().__init__(config, trainer)
        self.splits = make_splits(config)
        self.classes = self.splits.train.classes or [str(i) for i in range(self.splits.train.num_classes)]
        device = trainer.device
        self.train_x = self.splits.train.x.to(device)
        self.train_y = self.splits.train.y.to(device)
        network = CNN(
            self.splits.train.image_shape, len(self.classes), config.channels, config.hidden,
            config.activation, config.norm, config.dropout, config.init,
        )
        self.model = trainer.add_model("model", network)
        trainer.add_optimizer("main", ["model"], config.optim)
        if trainer.tcfg.ema_decay > 0:
            trainer.add_ema("model")
        self.batches = BatchIterator(len(self.train_x), config.batch_size, seed=config.seed)
        trainer.tracker.update_summary({"model/parameters": count_parameters(network)}, write=False)

    # -- training

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels, label_smoothing=self.config.label_smoothing)

    def train_step(self) -> dict[str, float]:
        index = self.batches.next_index().to(self.train_x.device)
        x, y = self.train_x[index], self.train_y[index]
        if self.config.augment:
            x = random_affine(x, self.batches.generator, self.config.max_shift, self.config.max_degrees)
        self.model.train()
        with self.trainer.autocast():
            logits = self.model(x)
        loss = self.loss(logits, y)
        metrics = self.trainer.optimize({"xent": loss})
        metrics["train/loss"] = float(loss.detach())
        metrics["train/accuracy"] = float((logits.argmax(-1) == y).float().mean())
        metrics["charts/epoch"] = float(self.batches.epoch)
        return metrics

    # -- evaluation

    def eval_model(self) -> torch.nn.Module:
        """The EMA model when one is kept, else the trained model."""
        return self.trainer.emas.get("model", self.model)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Logits for images [N, C, H, W] in [0, 1]."""
        model = self.eval_model()
        model.eval()
        out = []
        for start in range(0, len(x), batch_size):
            with self.trainer.autocast():
                out.append(model(x[start : start + batch_size].to(self.trainer.device)).float())
        return torch.cat(out)

    def _split_metrics(self, data: ImageDataset) -> tuple[float, float, np.ndarray]:
        logits = self.predict(data.x)
        labels = data.y.to(logits.device)
        loss = float(F.cross_entropy(logits, labels))
        pred = logits.argmax(-1)
        return loss, float((pred == labels).float().mean()), pred.cpu().numpy()

    def evaluate(self) -> dict[str, float]:
        loss, acc, _ = self._split_metrics(self.splits.dev)
        return {"dev/loss": loss, "dev/accuracy": acc}

    def report(self, **options: Any) -> dict[str, Any]:
        """Train/dev/test accuracy and loss, per-class metrics on test, bias/variance."""
        results: dict[str, Any] = {}
        errors = {}
        for split in ("train", "dev", "test"):
            data = getattr(self.splits, split)
            loss, acc, pred = self._split_metrics(data)
            # 'train_eval/' (eval mode, no augmentation) keeps apart from the running 'train/' metrics.
            prefix = "train_eval" if split == "train" else split
            results[f"{prefix}/loss"], results[f"{prefix}/accuracy"] = loss, acc
            errors[split] = 1.0 - acc
            if split == "test":
                results["test/report"] = classification_report(data.y.numpy(), pred, self.classes)
        results["bias_variance"] = bias_variance(errors["train"], errors["dev"], errors["test"], self.config.bayes_error)
        results["data"] = {
            "name": self.config.data,
            "train": len(self.splits.train), "dev": len(self.splits.dev), "test": len(self.splits.test),
        }
        self._confusion_plot(results["test/report"]["confusion_matrix"])
        return results

    def _confusion_plot(self, matrix: list[list[int]]) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(np.asarray(matrix), cmap="Blues")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(len(self.classes)), self.classes)
        ax.set_yticks(range(len(self.classes)), self.classes)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                if count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
        ax.set_title(f"{self.config.data}: test confusion matrix")
        self.trainer.tracker.log_image("test/confusion_matrix", fig, self.trainer.step)
        plt.close(fig)

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "batches" in state:
            self.batches.load_state_dict(state["batches"])

    # -- cross-validation

    def after_fit(self, run_dir: Path) -> dict[str, Any]:
        """k-fold cross-validation over train+dev when cv_folds >= 2: one child run per
        fold under run_dir/cv/, each a normal resumable run; returns the mean and spread."""
        if self.config.cv_folds < 2 or self.config.cv_fold >= 0:  # off, or this is a fold's child run
            return {}
        from dataclasses import replace

        from rlgen.run import resume_or_train

        scores = []
        for fold in range(self.config.cv_folds):
            child = replace(self.config, cv_folds=self.config.cv_folds, cv_fold=fold)
            child.trainer = replace(self.config.trainer, progress="off")
            child.wandb = replace(self.config.wandb, group=self.config.wandb.group or run_dir.name)
            summary = resume_or_train("classifier", child, run_dir / "cv" / f"fold-{fold}")
            scores.append(float(summary.get("dev/accuracy", float("nan"))))
        return {
            "cv/folds": self.config.cv_folds,
            "cv/dev_accuracy_mean": float(np.mean(scores)),
            "cv/dev_accuracy_std": float(np.std(scores)),
            "cv/dev_accuracy_per_fold": scores,
        }
