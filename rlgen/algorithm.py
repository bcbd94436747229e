"""The Algorithm interface every trainable thing in the lab implements.

One algorithm = one module: its config dataclass (a RunConfig subclass) at the top, then
the model, then the loss / update, then this glue. The Trainer owns the loop, the
optimizers, precision, logging and checkpoints; the algorithm says what one step does.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rlgen.config import RunConfig
from rlgen.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

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
    tune_space: ClassVar[dict[str, str]] = {}
    """`rlgen tune`'s default search space, 'key' -> 'LOW:HIGH[:log][:int]' or 'a,b,c' (as
    `--param` takes them); empty: `optim.lr` (a decade either side) and `optim.weight_decay`,
    log-uniform."""

    def __init__(self, config: RunConfig, trainer: Trainer) -> None:
        self.config = config
        self.trainer = trainer
        self.steps_per_call = 1
        """How many units of `--steps` one `train_step` call advances."""
        self._releases: list[weakref.finalize] = []

    def release_on_close(self, release: Callable[[], Any]) -> None:
        """Have `close` call `release` (it shuts worker processes, Ray actors, env
        subprocesses down); it also runs when this object is collected unclosed."""
        self._releases.append(weakref.finalize(self, release))

    def close(self) -> None:
        """Release what `release_on_close` registered, newest first (a second call does
        nothing). Runs end with it, so a process that trains twice, as a test or a sweep does,
        has the first run's workers and their CPUs back before the second run asks for them."""
        for finalizer in reversed(self._releases):
            finalizer()

    def train_step(self) -> dict[str, float]:
        """Do one unit of work; return scalar metrics to log (averaged between logs)."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Periodic evaluation; metrics named like 'dev/loss' or 'eval/return'."""
        return {}

    def submit_evaluation(self) -> bool:
        """Start this step's periodic evaluation beside training and return True (its
        metrics come back through `finished_evaluations`); False (the default): the
        Trainer calls `evaluate` and waits for it."""
        return False

    def finished_evaluations(self, wait: bool = False) -> list[tuple[int, dict[str, float], float]]:
        """Evaluations started by `submit_evaluation` that have ended, oldest first: (step
        of the evaluated weights, metrics, seconds it took). `wait`: block until all end."""
        return []

    def report(self, **options: Any) -> dict[str, Any]:
        """Full evaluation for `rlgen eval` and the end of training (e.g. test metrics)."""
        return self.evaluate()

    def agent(self, simulations: int | None = None) -> Any:
        """The trained acting agent that `rlgen.agents.load_agent`, `rlgen play` and the
        algorithm's own evaluation use: `act(observation, action_mask=None) -> action`.
        `simulations` overrides a search agent's budget (None: the config's). Algorithms
        that train no acting agent (classifiers, generative models) keep this default."""
        raise ConfigError(
            f"the run in '{self.trainer.run_dir}' trained '{self.name}', which has no acting agent; "
            "load_agent / rlgen play need a game agent's run (e.g. rlgen train alphazero)"
        )

    def after_fit(self, run_dir: Path) -> dict[str, Any]:
        """Extra work once training and the final report are done (e.g. cross-validation
        runs); returns values to add to summary.json (default: nothing)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Extra state to checkpoint beyond models/optimizers (replay buffers, data order)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
