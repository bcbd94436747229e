"""rlgen.agents: RL agents built from the core's networks and Trainer (AlphaZero self-play,
batched MCTS, matches against opponents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_agent(
    run_dir: str | Path, checkpoint: str = "best", simulations: int | None = None, device: str | None = None
) -> Any:
    """The trained agent of a run: `agent.act(observation, action_mask=None) -> action`,
    with PettingZoo classic observations for game agents."""
    from rlgen.errors import ConfigError
    from rlgen.run import build_for_eval

    algorithm, _, _ = build_for_eval(run_dir, checkpoint=checkpoint, device=device)
    if not hasattr(algorithm, "agent"):
        raise ConfigError(
            f"the run in '{run_dir}' trained '{algorithm.name}', which has no acting agent; "
            "load_agent / rlgen play need a game agent's run (e.g. rlgen train alphazero)"
        )
    return algorithm.agent(simulations)


__all__ = ["load_agent"]
