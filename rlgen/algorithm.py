"""The Algorithm interface every trainable thing in the lab implements.

One algorithm = one module: its config dataclass (a RunConfig subclass) at the top, then
the model, then the loss / update, then this glue. The Trainer owns the loop, the
optimizers, precision, logging and checkpoints; the algorithm says what one step does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rlgen.config import RunConfig

if TYPE_CHECKING:
    from rlgen.trainer import Trainer


class Algorithm:
    """Subclass, set the class attributes, and implement `train_step` (and `evaluate`)."""

    name: ClassVar[str] = ""
    """Registry name, as typed after `rlgen train`."""
    Config: ClassVar[type[RunConfig]] = RunConfig
    """The algorithm's config dataclass."""
    unit: ClassVar[str] = "optimizer steps"
    """What `--steps` counts for this algorithm."""
    input_kind: ClassVar[str] = "data"
    """Which CLI option names the input: 'data' (--data) or 'env' (--env)."""
    description: ClassVar[str] = ""
    """One line for `rlgen list algos`."""
    default_monitor: ClassVar[str] = ""
    """Eval metric used for best.pt / early stopping when the config leaves it empty."""

    def __init__(self, config: RunConfig, trainer: Trainer) -> None:
        self.config = config
        self.trainer = trainer
        self.steps_per_call = 1
        """How many units of `--steps` one `train_step` call advances."""

    def train_step(self) -> dict[str, float]:
        """Do one unit of work; return scalar metrics to log (averaged between logs)."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Periodic evaluation; metrics named like 'dev/loss' or 'eval/return'."""
        return {}

    def report(self, **options: Any) -> dict[str, Any]:
        """Full evaluation for `rlgen eval` and the end of training (e.g. test metrics)."""
        return self.evaluate()

    def state_dict(self) -> dict[str, Any]:
        """Extra state to checkpoint beyond models/optimizers (replay buffers, data order)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
