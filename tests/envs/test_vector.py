"""The natively vectorized CartPole behaves as gymnasium's CartPole-v1 in a same-step
autoreset SyncVectorEnv: same physics, rewards, termination and time limit."""

import gymnasium as gym
import numpy as np

from rlgen.agents.gym_support import final_observations, make_vec_env
from rlgen.envs.vector import SameStepCartPole


def test_cartpole_matches_gymnasium_step_for_step_and_resets_in_the_same_step():
    n = 6
    vec = make_vec_env("CartPole-v1", n)
    assert isinstance(vec, SameStepCartPole)
    obs, _ = vec.reset(seed=3)
    singles = [gym.make("CartPole-v1") for _ in range(n)]
    for i, env in enumerate(singles):
        env.reset(seed=i)
        env.unwrapped.state = obs[i].astype(np.float64)
    vec.steps[2] = 497  # one sub-env close to the 500-step limit: truncation must match too
    singles[2]._elapsed_steps = 497
    rng = np.random.default_rng(0)
    ended = {"terminated": 0, "truncated": 0}
    for _ in range(300):
        actions = rng.integers(0, 2, n)
        obs, reward, terminated, truncated, info = vec.step(actions)
        done = terminated | truncated
        final = final_observations(obs, done, info)
        for i, env in enumerate(singles):
            o, r, te, tr, _ = env.step(int(actions[i]))
            np.testing.assert_allclose(final[i], o, rtol=1e-6, atol=1e-6)
            assert (r, te, tr) == (reward[i], terminated[i], truncated[i])
            if te or tr:
                ended["terminated" if te else "truncated"] += 1
                assert np.all(np.abs(obs[i]) <= 0.05)  # the next episode starts in this step
                env.reset()
                env.unwrapped.state = obs[i].astype(np.float64)
            else:
                np.testing.assert_array_equal(obs[i], final[i])
    assert ended["terminated"] > 0 and ended["truncated"] == 1


def test_other_envs_unsupported_kwargs_and_few_envs_use_sync_vector_envs():
    assert isinstance(make_vec_env("MountainCar-v0", 8), gym.vector.SyncVectorEnv)
    assert isinstance(make_vec_env("CartPole-v1", 8, {"sutton_barto_reward": True}), SameStepCartPole)
    assert isinstance(make_vec_env("CartPole-v1", 8, {"render_mode": "rgb_array"}), gym.vector.SyncVectorEnv)
    assert isinstance(make_vec_env("CartPole-v1", 2), gym.vector.SyncVectorEnv)  # cheaper below 5 sub-envs
