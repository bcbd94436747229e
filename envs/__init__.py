"""rlgen.envs: environments and opponents (bandits, board games, robotics adapters).

Depends on the core only for seeding and config, never on agents.
"""

from __future__ import annotations


def catalog() -> dict[str, str]:
    """Environment name -> one-line description, for `rlgen list envs`."""
    return {}
