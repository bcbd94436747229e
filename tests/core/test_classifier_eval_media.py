"""`rlgen eval` on a classifier names its confusion matrix after the evaluated checkpoint's step."""

from __future__ import annotations

from rlgen.checkpoint import load_checkpoint
from rlgen.classifier import ClassifierConfig
from rlgen.cli import main
from rlgen.config import build_config
from rlgen.run import train


def test_eval_names_the_confusion_matrix_after_the_checkpoint_step(tmp_path):
    overrides = ["steps=30", "wandb.mode=disabled", "trainer.progress=off", "trainer.eval_every=10"]
    run = train("classifier", build_config(ClassifierConfig, {}, overrides), tmp_path / "run")
    media = run / "media"
    for old in media.glob("test_confusion_matrix_*.png"):
        old.unlink()  # keep only what the evaluation writes
    assert main(["eval", str(run)]) == 0
    best_step = int(load_checkpoint(run / "checkpoints" / "best.pt")["step"])
    assert best_step > 0
    assert [p.name for p in media.glob("test_confusion_matrix_*.png")] == [f"test_confusion_matrix_{best_step:08d}.png"]
