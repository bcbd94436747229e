"""rlgen.agents: RL agents built from the core's networks and Trainer."""
