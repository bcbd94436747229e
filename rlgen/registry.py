"""Names the CLI and the Python API resolve: algorithms, datasets, environments.

Algorithms are registered as 'module:Class' strings and imported on first use, so the
core never imports the packages built on it (agents, generative) until asked to.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rlgen.errors import unknown_name

if TYPE_CHECKING:
    from rlgen.algorithm import Algorithm

ALGOS: dict[str, str | type[Algorithm]] = {
    "classifier": "rlgen.classifier:Classifier",
    "alphazero": "rlgen.agents.alphazero:AlphaZero",
    "dqn": "rlgen.agents.dqn:DQN",
    "qlearning": "rlgen.agents.qlearning:QLearning",
    "ppo": "rlgen.agents.ppo:PPO",
    "a2c": "rlgen.agents.a2c:A2C",
    "reinforce": "rlgen.agents.reinforce:Reinforce",
    "sac": "rlgen.agents.sac:SAC",
    "td3": "rlgen.agents.td3:TD3",
    "bandit": "rlgen.agents.bandits:Bandit",
    "sb3:PPO": "rlgen.agents.sb3:SB3PPO",
    "sb3:A2C": "rlgen.agents.sb3:SB3A2C",
    "sb3:DQN": "rlgen.agents.sb3:SB3DQN",
    "sb3:SAC": "rlgen.agents.sb3:SB3SAC",
    "sb3:TD3": "rlgen.agents.sb3:SB3TD3",
    "sb3:MaskablePPO": "rlgen.agents.sb3:SB3MaskablePPO",
    "pix2pix": "rlgen.generative.pix2pix:Pix2Pix",
    "gan": "rlgen.generative.gan:GAN",
    "cgan": "rlgen.generative.gan:CGAN",
    "vae": "rlgen.generative.vae:VAE",
    "cvae": "rlgen.generative.vae:CVAE",
}


def register_algo(name: str, target: str | type[Algorithm]) -> None:
    """Register an Algorithm class (or a lazy 'module:Class' path) under `name`."""
    ALGOS[name] = target


def algo_names() -> list[str]:
    return sorted(ALGOS)


def get_algo(name: str) -> type[Algorithm]:
    """The Algorithm class registered as `name`; unknown names list the choices."""
    if name not in ALGOS and name.startswith("sb3:"):
        raise unknown_name("stable-baselines3 algorithm", name, [n for n in ALGOS if n.startswith("sb3:")])
    if name not in ALGOS:
        raise unknown_name("algorithm", name, list(ALGOS))
    target = ALGOS[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
        ALGOS[name] = target
    return target


def dataset_catalog() -> dict[str, str]:
    """Dataset name -> one-line description, then the prefixed forms (npz:PATH, ...)."""
    from rlgen.data import DATASET_FORMS, DATASETS

    return {**{name: desc for name, (_, desc) in DATASETS.items()}, **DATASET_FORMS}


def env_catalog() -> dict[str, str]:
    """Environment name -> one-line description: rlgen's own and gymnasium's registered ids."""
    catalog: dict[str, str] = {}
    try:
        envs = importlib.import_module("rlgen.envs")
    except ImportError:
        envs = None
    if envs is not None and hasattr(envs, "catalog"):
        catalog.update(envs.catalog())
    import gymnasium

    for env_id in gymnasium.envs.registry:
        if env_id.startswith("rlgen/") and env_id not in catalog:
            catalog[env_id] = "gymnasium env registered by rlgen"
    return catalog
