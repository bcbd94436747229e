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


def _register() -> None:
    import gymnasium

    from rlgen.envs.gym_games import GYM_IDS

    if "rlgen/Bandit-v0" not in gymnasium.registry:
        gymnasium.register("rlgen/Bandit-v0", entry_point="rlgen.envs.bandit:BanditEnv")
    for env_id, game in GYM_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point="rlgen.envs.gym_games:GameEnv", kwargs={"game": game})


_register()


def make_env(env_id: str, **options: Any) -> Any:
    """A MuJoCo / Fetch task with rlgen's wrappers (see rlgen.envs.robotics.make_env)."""
    from rlgen.envs.robotics import make_env as _make

    return _make(env_id, **options)


def catalog() -> dict[str, str]:
    """Environment name -> one-line description, for `rlgen list envs`."""
    from rlgen.envs.gym_games import GYM_IDS
    from rlgen.envs.opponents import OPPONENTS
    from rlgen.envs.robotics import DESCRIPTIONS

    entries = {"rlgen/Bandit-v0": "k-armed bandit (Bernoulli or Gaussian, optional drift); info has regret"}
    entries.update({env_id: f"gymnasium: {GAMES[game]}, vs an opponent" for env_id, game in GYM_IDS.items()})
    entries.update({name: f"game core / PettingZoo AEC: {desc}" for name, desc in GAMES.items()})
    entries.update({f"opponent {name}": desc for name, desc in OPPONENTS.items()})
    entries.update({env_id: f"{desc} (rlgen.envs.make_env; extra: robotics)" for env_id, desc in DESCRIPTIONS.items()})
    return entries


__all__ = ["Game", "GameState", "IllegalMoveError", "catalog", "make_env", "make_game", "pettingzoo_env"]
