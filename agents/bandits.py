"""Multi-armed bandit algorithms, each run on R independent problems at once.

    rlgen train bandit --env rlgen/Bandit-v0 --set agent=thompson_beta|kl_ucb|ucb1|... [--steps T]

`--steps` counts time steps: at every step each of the `runs` copies of the agent pulls
one arm of its own problem (a `BanditSimulator`, arrays of R runs x k arms), so one
training run is a whole experiment and its result is a distribution of cumulative
regret over the runs. Agents: epsilon-greedy (constant or decreasing epsilon), UCB1,
KL-UCB, Thompson sampling (Beta-Bernoulli and Gaussian) and the gradient bandit.

Logged: mean and 5/25/50/75/95% quantiles of the cumulative (expected) regret, average
reward and % of pulls on an optimal arm; a regret-curve plot with the Lai-Robbins lower
bound (when every run has the same stationary problem). Checkpoints carry the agents'
arrays, the simulator and every RNG, so `rlgen resume` continues exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rlgen.agents.gym_support import masked_argmax
from rlgen.algorithm import Algorithm
from rlgen.config import RunConfig, TrainerConfig
from rlgen.envs.bandit import REWARDS, BanditSimulator
from rlgen.errors import ConfigError, unknown_name

ENV_ID = "rlgen/Bandit-v0"
AGENTS = ("epsilon_greedy", "epsilon_decreasing", "ucb1", "kl_ucb", "thompson_beta", "thompson_gaussian", "gradient")
PROBLEM_KEYS = ("k", "reward", "means", "sigma", "drift")
QUANTILES = (5, 25, 50, 75, 95)

# ----------------------------------------------------------------------------- config


@dataclass
class BanditConfig(RunConfig):
    """Bandit experiment: one agent on `runs` independent problems. `--steps` counts time steps."""

    env: str = ENV_ID
    """Environment: rlgen/Bandit-v0 (simulated as arrays by rlgen.envs.bandit.BanditSimulator)."""
    agent: str = "thompson_beta"
    """epsilon_greedy, epsilon_decreasing, ucb1, kl_ucb, thompson_beta, thompson_gaussian or gradient."""
    runs: int = 1000
    """Independent runs (problems and agents) stepped together."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """The problem, as BanditEnv takes it: k, reward (bernoulli | gaussian), means (k values
    shared by every run; omitted = drawn per run from the seed), sigma, drift."""
    steps: int = 10_000
    """Horizon: time steps, every run advancing together."""
    chunk: int = 100
    """Time steps per training call (the Trainer's loop runs once per chunk)."""
    epsilon: float = 0.1
    """epsilon_greedy: probability of pulling a uniformly random arm."""
    epsilon_c: float = 10.0
    """epsilon_decreasing: epsilon_t = min(1, epsilon_c * k / t)."""
    ucb_c: float = 2.0
    """ucb1: index mean + scale * sqrt(ucb_c * ln t / n), scale 1 on Bernoulli, sigma on Gaussian
    (2: the original UCB1; 0.5: the Hoeffding width sqrt(ln t / 2n), tighter for [0, 1] rewards)."""
    kl_c: float = 0.0
    """kl_ucb: exploration level ln t + kl_c * ln ln t (0 is best in practice; 3 in the proof)."""
    prior_alpha: float = 1.0
    """thompson_beta: Beta prior alpha (successes + 1 with the uniform prior)."""
    prior_beta: float = 1.0
    """thompson_beta: Beta prior beta."""
    prior_mean: float = 0.0
    """thompson_gaussian: prior mean of every arm."""
    prior_std: float = 1.0
    """thompson_gaussian: prior standard deviation of every arm."""
    noise_std: float = 0.0
    """thompson_gaussian: reward noise it assumes (0 = the problem's: sigma, or 0.5 on Bernoulli)."""
    step_size: float = 0.1
    """gradient: step size of the preference update."""
    baseline: bool = True
    """gradient: subtract the running average reward from each reward."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(log_every=100, eval_every=2500, checkpoint_every=1000)
    )
    """Trainer plumbing (log, plot and checkpoint cadence in time steps)."""

    def __post_init__(self) -> None:
        if self.env != ENV_ID:
            raise unknown_name("bandit environment", self.env, [ENV_ID])
        if self.agent not in AGENTS:
            raise unknown_name("bandit agent", self.agent, list(AGENTS))
        for key in ("runs", "chunk"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ConfigError(f"epsilon must be in [0, 1], got {self.epsilon}")
        for key in ("epsilon_c", "ucb_c", "prior_alpha", "prior_beta", "prior_std", "step_size"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be > 0, got {getattr(self, key)}")
        for key in ("kl_c", "noise_std"):
            if not getattr(self, key) >= 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        # The problem is written out in full (k, reward, means, sigma, drift) so config.yaml is
        # complete. A `--set env_kwargs.X=...` lands on that full dict after construction, so the
        # values filled in here are filled in afresh on the next check instead of being kept as
        # if given: new means then set k again, as when they are given up front.
        filled = getattr(self, "_filled_problem", {})
        given = {key: value for key, value in self.env_kwargs.items() if key not in filled or value != filled[key]}
        self.env_kwargs = problem_kwargs(given)
        self._filled_problem = {key: value for key, value in self.env_kwargs.items() if key not in given}
        if self.agent == "thompson_beta" and self.env_kwargs["reward"] != "bernoulli":
            raise ConfigError(
                "agent thompson_beta needs Bernoulli rewards (a Beta posterior over a success rate), but "
                "env_kwargs.reward is gaussian; use thompson_gaussian, kl_ucb or ucb1 on Gaussian problems"
            )


def problem_kwargs(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The full BanditSimulator problem from `env_kwargs`, checked: k comes from means when
    only means are given; bad keys or values raise ConfigError."""
    for key in env_kwargs:
        if key == "horizon":
            raise ConfigError("env_kwargs.horizon is not used here: --steps sets the horizon of a bandit run")
        if key not in PROBLEM_KEYS:
            raise unknown_name("bandit env_kwargs key", key, list(PROBLEM_KEYS))
    problem: dict[str, Any] = {"k": 10, "reward": "bernoulli", "means": None, "sigma": 1.0, "drift": 0.0, **env_kwargs}
    if problem["reward"] not in REWARDS:
        raise unknown_name("bandit reward (env_kwargs.reward)", str(problem["reward"]), list(REWARDS))
    if problem["means"] is not None:
        means = np.asarray(problem["means"], dtype=object)
        if means.ndim != 1 or not all(isinstance(m, (int, float)) and not isinstance(m, bool) for m in means):
            raise ConfigError(f"env_kwargs.means must be a list of k numbers (one per arm), got {problem['means']!r}")
        problem["means"] = [float(m) for m in means]
        if "k" not in env_kwargs:
            problem["k"] = len(problem["means"])
    try:
        BanditSimulator(1, **problem)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"env_kwargs {env_kwargs} do not make a bandit problem: {exc}") from None
    return problem


# ----------------------------------------------------------------------------- agents


def argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax, ties broken uniformly at random (a fixed order would favour low arms)."""
    noise = rng.random(values.shape)
    return np.where(values == values.max(axis=1, keepdims=True), noise, -1.0).argmax(axis=1)


def bernoulli_kl(p: np.ndarray | float, q: np.ndarray | float) -> np.ndarray:
    """KL(Bernoulli(p) || Bernoulli(q)), with 0 ln 0 = 0 (infinite when q is 0 or 1 and p is not)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / q), 0.0)
        b = np.where(p < 1, (1 - p) * np.log((1 - p) / (1 - q)), 0.0)
    return a + b


def kl_ucb_index(
    means: np.ndarray, counts: np.ndarray, level: float, tol: float = 1e-6, max_iter: int = 50
) -> np.ndarray:
    """Largest q in [p, 1] with n * KL(p, q) <= level, for every (p, n) of the arrays at once.

    Newton's method on x = logit(q), where KL(p, sigmoid(x)) = p ln p + (1-p) ln(1-p) +
    (1-p) x + ln(1 + e^-x) is convex, increasing right of logit(p), with slope tending to
    1 - p: started right of the root, Newton converges monotonically and quadratically.
    (In q, the log barrier at q = 1 makes Newton crawl.) It stops once no step moves x by
    more than `tol`; quadratic convergence leaves q exact to about tol^2.
    """
    p = np.clip(np.asarray(means, dtype=np.float64), 0.0, 1.0)
    budget = level / np.maximum(counts, 1)
    solve = (p < 1.0 - 1e-12) & (budget > 0)  # else the index is 1 (p = 1) or p (no budget)
    trivial = np.where(budget > 0, 1.0, p)
    p, budget = np.where(solve, p, 0.5), np.where(solve, budget, 1.0)  # finite stand-ins
    with np.errstate(divide="ignore", invalid="ignore"):
        neg_entropy = np.where(p > 0, p * np.log(p), 0.0) + (1 - p) * np.log1p(-p)
    # Start right of the root, from lower bounds on KL(p, q) for q > p: integrating dKL/dq =
    # (q-p) / (q (1-q)) gives KL >= (q-p)^2 / (2 v), v = max of t (1-t) on [p, q]: 1/4
    # (Pinsker), or p (1-p) when p >= 1/2. And in x, ln(1 + e^-x) > 0 gives x_linear.
    upper = p + np.sqrt(np.where(p >= 0.5, 2 * p * (1 - p), 0.5) * budget)
    x = (budget - neg_entropy) / (1 - p)
    inside = upper < 1
    u = np.where(inside, upper, 0.5)
    x = np.where(inside, np.minimum(x, np.log(u) - np.log1p(-u)), x)
    c = neg_entropy - budget
    for _ in range(max_iter):
        e = np.exp(-x)
        q = 1 / (1 + e)
        step = (c + (1 - p) * x + np.log1p(e)) / (q - p)  # (KL - budget) / its slope in x
        x -= step
        if np.abs(step).max(initial=0.0) <= tol:
            break
    return np.where(solve, 1 / (1 + np.exp(-x)), trivial)


class Learner:
    """One bandit algorithm run R times at once: per-run, per-arm pull counts and reward
    sums ([R, k] arrays). Subclasses say how arms are chosen (and what else they learn)."""

    arrays: ClassVar[tuple[str, ...]] = ("counts", "sums")
    """The arrays that make up the learner's state (checkpointed)."""

    def __init__(
        self, runs: int, k: int, cfg: BanditConfig, bernoulli: bool, sigma: float, rng: np.random.Generator
    ) -> None:
        self.k, self.cfg, self.bernoulli, self.rng = k, cfg, bernoulli, rng
        # Reward noise: sigma on Gaussian problems; 1/2 bounds a Bernoulli's (sub-Gaussian) noise.
        self.noise = 0.5 if bernoulli else sigma
        self.rows = np.arange(runs)
        self.counts = np.zeros((runs, k))
        self.sums = np.zeros((runs, k))

    def choose(self, t: int) -> np.ndarray:
        """The arm every run pulls at time step t (1-based)."""
        raise NotImplementedError

    def update(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        self.counts[self.rows, arms] += 1
        self.sums[self.rows, arms] += rewards

    def means(self) -> np.ndarray:
        return self.sums / np.maximum(self.counts, 1)

    def estimates(self) -> np.ndarray:
        """What each run believes each arm is worth (never-pulled arms: -inf)."""
        return np.where(self.counts > 0, self.means(), -np.inf)

    def untried_first(self, index: np.ndarray) -> np.ndarray:
        """Index with never-pulled arms at +inf, so each arm is pulled once before any repeats."""
        return argmax_random_ties(np.where(self.counts > 0, index, np.inf), self.rng)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name).copy() for name in self.arrays}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name in self.arrays:
            value = np.asarray(state[name], dtype=np.float64)
            if value.shape != getattr(self, name).shape:
                raise ValueError(
                    f"learner array '{name}' has shape {value.shape}, this run needs {getattr(self, name).shape}"
                )
            setattr(self, name, value.copy())


class EpsilonGreedy(Learner):
    """Pull a uniformly random arm with probability epsilon, else the best sample mean."""

    def epsilon(self, t: int) -> float:
        return self.cfg.epsilon

    def choose(self, t: int) -> np.ndarray:
        greedy = self.untried_first(self.means())
        explore = self.rng.random(len(self.rows)) < self.epsilon(t)
        return np.where(explore, self.rng.integers(0, self.k, len(self.rows)), greedy)


class EpsilonDecreasing(EpsilonGreedy):
    """Epsilon-greedy with epsilon_t = min(1, c k / t) (epsilon_n-greedy from the UCB1 paper,
    its c / d^2 folded into one constant): logarithmic regret when c is large enough for
    the problem's gaps."""

    def epsilon(self, t: int) -> float:
        return min(1.0, self.cfg.epsilon_c * self.k / t)


class UCB1(Learner):
    """Optimism: pull the arm with the highest mean + scale * sqrt(c ln t / n)."""

    def choose(self, t: int) -> np.ndarray:
        scale = 1.0 if self.bernoulli else self.noise  # rewards in [0, 1] need no scale
        bonus = scale * np.sqrt(self.cfg.ucb_c * math.log(t) / np.maximum(self.counts, 1))
        return self.untried_first(self.means() + bonus)


class KLUCB(Learner):
    """The largest mean q still plausible after n pulls: n KL(mean, q) <= ln t + c ln ln t.
    Bernoulli KL on Bernoulli problems (solved numerically); Gaussian KL, in closed form
    mean + sigma sqrt(2 level / n), on Gaussian ones."""

    def choose(self, t: int) -> np.ndarray:
        log_t = math.log(t)
        level = log_t + self.cfg.kl_c * math.log(max(log_t, 1.0))
        if self.bernoulli:
            index = kl_ucb_index(self.means(), self.counts, level)
        else:
            index = self.means() + self.noise * np.sqrt(2 * level / np.maximum(self.counts, 1))
        return self.untried_first(index)


class ThompsonBeta(Learner):
    """Pull the arm whose draw from its Beta(alpha + successes, beta + failures) posterior
    is highest (Bernoulli rewards)."""

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        return self.cfg.prior_alpha + self.sums, self.cfg.prior_beta + self.counts - self.sums

    def choose(self, t: int) -> np.ndarray:
        a, b = self.posterior()
        return self.rng.beta(a, b).argmax(axis=1)

    def estimates(self) -> np.ndarray:
        a, b = self.posterior()
        return a / (a + b)


class ThompsonGaussian(Learner):
    """Pull the arm whose draw from its Gaussian posterior (Gaussian prior, known noise)
    is highest."""

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of every arm's mean."""
        noise_var = (self.cfg.noise_std or self.noise) ** 2
        prior_precision = 1.0 / self.cfg.prior_std**2
        precision = prior_precision + self.counts / noise_var
        mean = (self.cfg.prior_mean * prior_precision + self.sums / noise_var) / precision
        return mean, 1.0 / np.sqrt(precision)

    def choose(self, t: int) -> np.ndarray:
        mean, std = self.posterior()
        return (mean + std * self.rng.standard_normal(mean.shape)).argmax(axis=1)

    def estimates(self) -> np.ndarray:
        return self.posterior()[0]


class Gradient(Learner):
    """Softmax over learned preferences H; after reward r for arm a, every preference moves
    by step_size * (r - baseline) * (1[a] - pi), a stochastic gradient of the expected
    reward. The baseline is the running average reward."""

    arrays = ("counts", "sums", "preferences", "avg_reward")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.preferences = np.zeros_like(self.counts)
        self.avg_reward = np.zeros(len(self.rows))

    def policy(self) -> np.ndarray:
        z = np.exp(self.preferences - self.preferences.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def choose(self, t: int) -> np.ndarray:
        cdf = np.cumsum(self.policy(), axis=1)
        u = self.rng.random(len(self.rows)) * cdf[:, -1]
        return np.minimum((cdf < u[:, None]).sum(axis=1), self.k - 1)

    def update(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        pi = self.policy()
        super().update(arms, rewards)
        advantage = self.cfg.step_size * (rewards - self.avg_reward)
        self.preferences -= advantage[:, None] * pi
        self.preferences[self.rows, arms] += advantage
        if self.cfg.baseline:
            self.avg_reward += (rewards - self.avg_reward) / self.counts.sum(axis=1)

    def estimates(self) -> np.ndarray:
        return self.preferences


LEARNERS: dict[str, type[Learner]] = {
    "epsilon_greedy": EpsilonGreedy,
    "epsilon_decreasing": EpsilonDecreasing,
    "ucb1": UCB1,
    "kl_ucb": KLUCB,
    "thompson_beta": ThompsonBeta,
    "thompson_gaussian": ThompsonGaussian,
    "gradient": Gradient,
}


class BanditActor:
    """The acting agent `load_agent` returns: `act(observation, action_mask=None)` pulls the
    arm that run 0's learner believes best now (highest estimated mean; highest preference
    for the gradient agent). A bandit has one state, so the observation is ignored."""

    def __init__(self, estimates: np.ndarray) -> None:
        self.estimates = np.asarray(estimates, dtype=np.float64)

    def act(self, observation: Any = 0, action_mask: np.ndarray | None = None) -> int:
        # Never-pulled arms are estimated at -inf; when only those are allowed, the first one is pulled.
        return masked_argmax(self.estimates, action_mask, what="arm")


# ----------------------------------------------------------------------------- experiment


def lai_robbins_constant(means: np.ndarray, reward: str, sigma: float) -> float:
    """C in the Lai-Robbins lower bound C ln t on the expected regret of a consistent
    policy: sum over suboptimal arms of gap / KL(arm, best)."""
    best = means.max()
    worse = means[means < best]
    if reward == "bernoulli":
        kl = bernoulli_kl(worse, best)
        return float(np.sum(np.where(np.isfinite(kl), (best - worse) / kl, 0.0)))
    return float(np.sum(2 * sigma**2 / (best - worse)))


class Experiment:
    """R runs of one learner on R simulated problems, stepped together, with each run's
    cumulative regret (kept by the simulator), reward and optimal pulls, and the regret
    quantiles over time for the plot. Everything is checkpointed (and loaded for `rlgen eval`)."""

    def __init__(self, cfg: BanditConfig) -> None:
        problem = problem_kwargs(cfg.env_kwargs)
        self.problem = problem
        # The problems and the simulator's random numbers depend on the seed only, so agents
        # compared with one seed face the same problems; agents draw from a separate stream.
        self.sim = BanditSimulator(cfg.runs, seed=cfg.seed, **problem)
        self.rng = np.random.default_rng([cfg.seed, 1])
        bernoulli = problem["reward"] == "bernoulli"
        self.learner = LEARNERS[cfg.agent](cfg.runs, problem["k"], cfg, bernoulli, problem["sigma"], self.rng)
        self.reward_sum = np.zeros(cfg.runs)
        self.optimal_pulls = np.zeros(cfg.runs)
        self.history = self.regret_row()[None]

    def step(self) -> tuple[float, float]:
        """One time step in every run; returns (mean reward, fraction of optimal pulls)."""
        sim = self.sim
        arms = self.learner.choose(sim.t + 1)
        chosen = sim.means[self.learner.rows, arms]
        optimal = chosen >= sim.means.max(axis=1)  # measured before drift moves the means
        rewards = sim.pull(arms)
        self.learner.update(arms, rewards)
        self.reward_sum += rewards
        self.optimal_pulls += optimal
        return float(rewards.mean()), float(optimal.mean())

    def regret_row(self) -> np.ndarray:
        """[t, mean, 5%, 25%, 50%, 75%, 95%] of the cumulative regret over runs."""
        return np.array([self.sim.t, self.sim.regret.mean(), *np.percentile(self.sim.regret, QUANTILES)])

    def record(self) -> None:
        self.history = np.vstack([self.history, self.regret_row()])

    def regret_stats(self, prefix: str) -> dict[str, float]:
        row = self.regret_row()
        stats = {f"{prefix}mean": float(row[1])}
        stats.update({f"{prefix}p{q:02d}": float(v) for q, v in zip(QUANTILES, row[2:], strict=True)})
        return stats

    def best_identified(self) -> float:
        """Fraction of runs whose believed-best arm is an optimal arm."""
        believed = self.learner.estimates().argmax(axis=1)
        chosen = self.sim.means[self.learner.rows, believed]
        return float((chosen >= self.sim.means.max(axis=1)).mean())

    def bound_constant(self) -> float | None:
        """Lai-Robbins constant when every run has the same stationary problem, else None."""
        if self.problem["means"] is None or self.problem["drift"] > 0:
            return None
        return lai_robbins_constant(np.asarray(self.problem["means"]), self.problem["reward"], self.problem["sigma"])

    def state_dict(self) -> dict[str, Any]:
        sim = self.sim
        return {
            "t": sim.t,
            "means": sim.means.copy(),
            "regret": sim.regret.copy(),
            "sim_rng": sim.rng.bit_generator.state,
            "rng": self.rng.bit_generator.state,
            "learner": self.learner.state_dict(),
            "reward_sum": self.reward_sum.copy(),
            "optimal_pulls": self.optimal_pulls.copy(),
            "history": self.history.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        sim = self.sim
        if np.shape(state["regret"]) != sim.regret.shape or np.shape(state["means"]) != sim.means.shape:
            raise ValueError(
                f"checkpoint holds {np.shape(state['means'])} runs x arms, this config makes {sim.means.shape}"
            )
        sim.t = int(state["t"])
        sim.means = np.array(state["means"], dtype=np.float64)
        sim.regret = np.array(state["regret"], dtype=np.float64)
        sim.rng.bit_generator.state = state["sim_rng"]
        self.rng.bit_generator.state = state["rng"]
        self.learner.load_state_dict(state["learner"])
        self.reward_sum = np.array(state["reward_sum"], dtype=np.float64)
        self.optimal_pulls = np.array(state["optimal_pulls"], dtype=np.float64)
        self.history = np.array(state["history"], dtype=np.float64)


def regret_figure(history: np.ndarray, bound: float | None, title: str) -> Any:
    """Cumulative regret over time: mean, median, 25-75% and 5-95% bands, and C ln t."""
    from matplotlib.figure import Figure  # object API: no pyplot, no global backend

    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    t = history[:, 0]
    ax.fill_between(t, history[:, 2], history[:, 6], alpha=0.15, color="C0", label="5-95% of runs")
    ax.fill_between(t, history[:, 3], history[:, 5], alpha=0.3, color="C0", label="25-75% of runs")
    ax.plot(t, history[:, 1], color="C0", label="mean")
    ax.plot(t, history[:, 4], color="C0", ls="--", lw=1, label="median")
    if bound is not None and t[-1] > 1:
        ts = np.linspace(1, t[-1], 200)
        ax.plot(ts, bound * np.log(ts), color="k", ls=":", label=f"Lai-Robbins bound (asymptotic) {bound:.3g} ln t")
    ax.set_xlabel("time step t")
    ax.set_ylabel("cumulative regret")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return fig


# ----------------------------------------------------------------------------- algorithm


class Bandit(Algorithm):
    """A bandit experiment: `chunk` time steps of every run per call; regret stats and plot."""

    name = "bandit"
    Config = BanditConfig
    unit = "time steps (every run advances together)"
    input_kind = "env"
    description = "multi-armed bandits: epsilon-greedy, UCB1, KL-UCB, Thompson, gradient; R runs as arrays"
    default_monitor = ""  # regret only grows: the last checkpoint is the one to evaluate

    def __init__(self, config: BanditConfig, trainer: Any) -> None:
        super().__init__(config, trainer)
        self.experiment = Experiment(config)
        # The learners' arrays are the "model": loaded for rlgen eval / load_agent too.
        trainer.register_state("bandit", self.experiment, for_eval=True)
        self.steps_per_call = config.chunk

    def train_step(self) -> dict[str, float]:
        cfg, trainer = self.config, self.trainer
        # The Trainer adds steps_per_call after this call. Chunks end on multiples of `chunk`
        # (also after resuming mid-chunk) and the last one on --steps.
        self.steps_per_call = max(1, min(cfg.chunk - trainer.step % cfg.chunk, cfg.steps - trainer.step))
        reward = optimal = 0.0
        for _ in range(self.steps_per_call):
            r, o = self.experiment.step()
            reward += r
            optimal += o
        self.experiment.record()
        n = self.steps_per_call
        metrics = {"charts/avg_reward": reward / n, "charts/pct_optimal": 100.0 * optimal / n}
        # The Trainer averages metrics between logs; cumulative regret is reported once per
        # log window, at its end, so the logged value is the regret at the logged step.
        end, every = trainer.step + n, trainer.tcfg.log_every
        if trainer.step // every != end // every or end >= cfg.steps:
            metrics.update(self.experiment.regret_stats("regret/"))
        return metrics

    def evaluate(self) -> dict[str, float]:
        exp = self.experiment
        bound = exp.bound_constant()
        k, reward = exp.problem["k"], exp.problem["reward"]
        title = f"{self.config.agent} on a {k}-armed {reward} bandit, {self.config.runs} runs"
        self.trainer.tracker.log_image(
            "charts/regret_curve", regret_figure(exp.history, bound, title), self.trainer.step
        )
        metrics = exp.regret_stats("eval/regret_")
        metrics["eval/pct_best_identified"] = 100.0 * exp.best_identified()
        if bound is not None and exp.sim.t > 0:
            metrics["eval/lai_robbins_bound"] = bound * math.log(exp.sim.t)
        return metrics

    def report(self, **_: Any) -> dict[str, Any]:
        """Final regret statistics over the runs (`rlgen eval` and the end of training)."""
        exp = self.experiment
        t, regret = exp.sim.t, exp.sim.regret
        result: dict[str, Any] = {"agent": self.config.agent, "runs": self.config.runs, "steps": t}
        result.update(exp.regret_stats("regret_"))
        result["regret_std"] = float(regret.std())
        result["regret_sem"] = float(regret.std(ddof=1) / math.sqrt(len(regret))) if len(regret) > 1 else 0.0
        result["regret_max"] = float(regret.max())
        result["avg_reward"] = float(exp.reward_sum.mean() / t) if t else 0.0
        result["pct_optimal"] = float(100.0 * exp.optimal_pulls.mean() / t) if t else 0.0
        result["pct_best_identified"] = 100.0 * exp.best_identified()
        bound = exp.bound_constant()
        if bound is not None:
            result["lai_robbins_constant"] = bound
            result["lai_robbins_bound"] = bound * math.log(t) if t > 0 else 0.0
        return result

    def agent(self, simulations: int | None = None) -> BanditActor:
        """Run 0's learner as an acting agent (`simulations` is ignored: there is no search)."""
        return BanditActor(self.experiment.learner.estimates()[0])
