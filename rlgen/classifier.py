"""Reference task: a supervised CNN image classifier trained through the shared core.

It exercises the toolbox the lab promises (splits, k-fold cross-validation, dropout,
batch norm, weight decay, early stopping on dev loss, augmentation, per-class metrics,
a bias/variance report) and is the feature network the generative metrics reuse.

Two targets: the class label (one softmax), or, on datasets with attribute factors
(`shapes`: shape, colour, size, ...), every factor at once: one network whose logits are
split into one softmax per factor, trained on the mean cross-entropy over factors.

    rlgen train classifier --data digits
    rlgen train classifier --data shapes --set target=attributes
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from rlgen.algorithm import Algorithm
from rlgen.augment import random_affine
from rlgen.config import OptimConfig, RunConfig, TrainerConfig
from rlgen.data import BatchIterator, ImageDataset, Splits, load_dataset, make_splits
from rlgen.errors import ConfigError
from rlgen.nets import CNN, count_parameters

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

# ----------------------------------------------------------------------------- config


@dataclass
class ClassifierConfig(RunConfig):
    """Supervised image classification. `--steps` counts optimizer steps."""

    data: str = "digits"
    """Dataset name (`rlgen list datasets`)."""
    target: Literal["label", "attributes"] = "label"
    """What to predict: the class label, or every attribute factor of the dataset (one softmax per factor)."""
    steps: int = 1500
    """Optimizer steps."""
    batch_size: int = 64
    """Mini-batch size."""
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    """Train / dev / test fractions (stratified, fixed by `split_seed`); generative reference classifiers use
    `rlgen.data.GENERATIVE_SPLIT`."""
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
        default_factory=lambda: OptimConfig(
            name="adamw", lr=3e-3, weight_decay=5e-4, schedule="cosine", warmup_steps=100
        )
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
        if self.target not in ("label", "attributes"):
            raise ConfigError(f"target must be 'label' or 'attributes', got {self.target!r}")


# ----------------------------------------------------------------------------- data


def load_splits(cfg: ClassifierConfig) -> Splits:
    """The config's dataset split by `make_splits` (`split`, `split_seed`, and in a CV child
    run fold `cv_fold` of train+dev as dev), after checking it has what `target` predicts."""
    data = load_dataset(cfg.data)
    if cfg.target == "attributes" and (not data.factors or data.attributes is None):
        raise ConfigError(
            f"target 'attributes' needs a dataset with attribute factors, and '{cfg.data}' has none; "
            "use target=label, or a dataset with attributes such as 'shapes'"
        )
    return make_splits(data, cfg.split_seed, cfg.split, cv_folds=cfg.cv_folds, cv_fold=cfg.cv_fold)


# ----------------------------------------------------------------------------- targets


def targets(data: ImageDataset, target: str) -> torch.Tensor:
    """long [N] labels, or long [N, F] attribute value indices."""
    if target == "attributes":
        assert data.attributes is not None  # load_splits checked
        return data.attributes.long()
    return data.y


def split_logits(logits: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, ...]:
    """One [N, size] block of logits per factor."""
    return torch.split(logits, sizes, dim=-1)


def decode(logits: torch.Tensor, sizes: list[int] | None) -> torch.Tensor:
    """Predicted labels [N] (sizes None), or attribute value indices [N, F]."""
    if sizes is None:
        return logits.argmax(-1)
    return torch.stack([block.argmax(-1) for block in split_logits(logits, sizes)], dim=-1)


def target_loss(
    logits: torch.Tensor, target: torch.Tensor, sizes: list[int] | None, smoothing: float = 0.0
) -> torch.Tensor:
    """Cross-entropy on the label, or the mean of the per-factor cross-entropies."""
    logits = logits.float()
    if sizes is None:
        return F.cross_entropy(logits, target, label_smoothing=smoothing)
    losses = [
        F.cross_entropy(block, target[:, i], label_smoothing=smoothing)
        for i, block in enumerate(split_logits(logits, sizes))
    ]
    return torch.stack(losses).mean()


# ----------------------------------------------------------------------------- metrics


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, confusion matrix and per-class precision / recall / F1 (scikit-learn)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
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

    def __init__(self, config: ClassifierConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        self.splits = load_splits(config)
        self.classes = self.splits.train.classes or [str(i) for i in range(self.splits.train.num_classes)]
        self.factors: dict[str, list[str]] = dict(self.splits.train.factors) if config.target == "attributes" else {}
        # Logit block sizes, one per factor; None in label mode.
        self.sizes: list[int] | None = [len(v) for v in self.factors.values()] if self.factors else None
        device = trainer.device
        self.train_x = self.splits.train.x.to(device)
        self.train_y = targets(self.splits.train, config.target).to(device)
        outputs = sum(self.sizes) if self.sizes else len(self.classes)
        network = CNN(
            self.splits.train.image_shape,
            outputs,
            config.channels,
            config.hidden,
            config.activation,
            config.norm,
            config.dropout,
            config.init,
        )
        self.model = trainer.add_model("model", network)
        trainer.add_optimizer("main", ["model"], config.optim)
        if trainer.tcfg.ema_decay > 0:
            trainer.add_ema("model")
        self.batches = BatchIterator(len(self.train_x), config.batch_size, seed=config.seed, shard=trainer.shard)
        trainer.tracker.update_summary({"model/parameters": count_parameters(network)}, write=False)

    # -- training

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return target_loss(logits, target, self.sizes, self.config.label_smoothing)

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
        metrics["train/accuracy"] = float((decode(logits.detach(), self.sizes) == y).float().mean())
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

    def _split_metrics(self, data: ImageDataset) -> tuple[float, dict[str, float], np.ndarray]:
        """Loss, accuracies ('' = overall, else per factor) and predictions on one split."""
        logits = self.predict(data.x)
        target = targets(data, self.config.target).to(logits.device)
        loss = float(target_loss(logits, target, self.sizes))
        pred = decode(logits, self.sizes)
        correct = (pred == target).float()
        if self.sizes is None:
            accuracy = {"": float(correct.mean())}
        else:
            per_factor = correct.mean(0).tolist()
            # Overall = mean over factors, so every factor weighs the same whatever its size.
            accuracy = {
                "": float(np.mean(per_factor)),
                **{f"/{name}": a for name, a in zip(self.factors, per_factor, strict=True)},
            }
        return loss, accuracy, pred.cpu().numpy()

    def evaluate(self) -> dict[str, float]:
        loss, accuracy, _ = self._split_metrics(self.splits.dev)
        return {"dev/loss": loss, **{f"dev/accuracy{key}": value for key, value in accuracy.items()}}

    def report(self, **options: Any) -> dict[str, Any]:
        """Train/dev/test accuracy and loss, per-class metrics on test, bias/variance."""
        results: dict[str, Any] = {}
        errors = {}
        for split in ("train", "dev", "test"):
            data = getattr(self.splits, split)
            loss, accuracy, pred = self._split_metrics(data)
            # 'train_eval/' (eval mode, no augmentation) keeps apart from the running 'train/' metrics.
            prefix = "train_eval" if split == "train" else split
            results[f"{prefix}/loss"] = loss
            results.update({f"{prefix}/accuracy{key}": value for key, value in accuracy.items()})
            errors[split] = 1.0 - accuracy[""]
            if split == "test":
                true = targets(data, self.config.target).numpy()
                if self.sizes is None:
                    results["test/report"] = classification_report(true, pred, self.classes)
                else:
                    for i, (name, values) in enumerate(self.factors.items()):
                        results[f"test/report/{name}"] = classification_report(true[:, i], pred[:, i], values)
        results["bias_variance"] = bias_variance(
            errors["train"], errors["dev"], errors["test"], self.config.bayes_error
        )
        results["data"] = {
            "name": self.config.data,
            "target": self.config.target,
            "train": len(self.splits.train),
            "dev": len(self.splits.dev),
            "test": len(self.splits.test),
        }
        if self.sizes is None:
            self._confusion_plot(results["test/report"]["confusion_matrix"], self.classes, "test/confusion_matrix")
        else:
            for name, values in self.factors.items():
                matrix = results[f"test/report/{name}"]["confusion_matrix"]
                self._confusion_plot(matrix, values, f"test/confusion_matrix/{name}")
        return results

    def _confusion_plot(self, matrix: list[list[int]], names: list[str], key: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(np.asarray(matrix), cmap="Blues")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(len(names)), names, rotation=90 if max(map(len, names)) > 2 else 0)
        ax.set_yticks(range(len(names)), names)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                if count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
        ax.set_title(
            f"{self.config.data}: test confusion matrix" + (f" ({key.rsplit('/', 1)[1]})" if key.count("/") > 1 else "")
        )
        self.trainer.tracker.log_image(key, fig, self.trainer.step)
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
