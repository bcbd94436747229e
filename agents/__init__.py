"""rlgen.agents: reinforcement-learning agents built on the core's networks, Trainer and
replay buffer, trained with `rlgen train ALGO` and loaded with `load_agent(RUN)`.

Where each part lives:

    alphazero/      self-play AlphaZero: config, network, batched search, self-play
                    workers, arena and Elo (its own package docstring maps it)
    dqn.py          DQN (replay, target network, double / dueling, n-step, masks)
    onpolicy.py     what REINFORCE, A2C and PPO share: config, actor-critic, rollouts, GAE
    reinforce.py    REINFORCE with a learned baseline
    a2c.py          A2C
    ppo.py          PPO
    offpolicy.py    what SAC and TD3 share: config, twin critics, goal observations,
                    hindsight replay (HER), collection, evaluation with success rates
    sac.py          SAC (squashed-Gaussian policy, learned entropy coefficient)
    td3.py          TD3 (target policy smoothing, delayed actor)
    qlearning.py    tabular Q-learning (self-play on the games, gymnasium's toy-text envs)
    bandits.py      multi-armed bandit learners on the bandit simulator
    sb3.py          stable-baselines3 / sb3-contrib algorithms as rlgen runs
    play.py         `rlgen play RUN`: a human against any run that learned a board game
    gym_support.py  what the gymnasium agents share: env config section, envs by id,
                    episode statistics, env state for exact resume, greedy evaluation, `Agent`
    _fast/          internal: hand-written twins of readable pieces (PPO and TD losses with
                    their gradients, numpy acting), each held equal to its reference by a test

A new RL algorithm is one module like dqn.py or ppo.py (config dataclass with PRESETS,
model, loss, loop glue on `rlgen.Algorithm`), registered in `rlgen.registry.ALGOS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_agent(
    run_dir: str | Path, checkpoint: str = "best", simulations: int | None = None, device: str | None = None
) -> Any:
    """The trained agent of a run (`Algorithm.agent`): `agent.act(observation, action_mask=None)
    -> action`, with PettingZoo classic observations for game agents."""
    from rlgen.run import build_for_eval

    algorithm, _, _ = build_for_eval(run_dir, checkpoint=checkpoint, device=device)
    return algorithm.agent(simulations)  # a ConfigError naming the run where it trained no agent


__all__ = ["load_agent"]
