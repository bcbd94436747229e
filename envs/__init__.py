"""rlgen.envs: environments and opponents — bandits, board games on a batched numpy
core, PettingZoo and gymnasium adapters, robotics wrappers.

Importing this package registers the gymnasium ids `rlgen/...-v0`. Depends on the core
only for seeding and config, never on agents.
"""

from __future__ import annotations

from typing import Any

from rlgen.envs.game import GAMES, Game, GameState, IllegalMoveError, make_game


def pettingzoo_env(name: str, render_mode: str | None = None, illegal: str = "terminate", **options: Any) -> Any:
    """PettingZoo AEC env of a board game (see rlgen.envs.aec)."""
    from rlgen.envs.aec import pettingzoo_env as _make

    return _make(name, render_mode=render_mode, illegal=illegal, **options)


def catalog() -> dict[str, str]:
    """Environment name -> one-line description, for `rlgen list envs`."""
    entries = {name: f"game core: {desc}" for name, desc in GAMES.items()}
    return entries


__all__ = ["Game", "GameState", "IllegalMoveError", "catalog", "make_game", "pettingzoo_env"]
