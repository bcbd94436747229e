"""AlphaZero's hyper-parameters: every field with its default (the tic-tac-toe values) and
`PRESETS`, each game's tuned values, which `build_config` merges under a config file and
`--set` overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from rlgen.agents.alphazero.search import MCTSConfig
from rlgen.config import OptimConfig, RunConfig, TrainerConfig
from rlgen.errors import ConfigError, unknown_name


@dataclass
class AlphaZeroConfig(RunConfig):
    """AlphaZero self-play. `--steps` counts self-play iterations; defaults are tic-tac-toe's,
    `PRESETS` holds every game's."""

    env: str = "tictactoe"
    """Game: tictactoe, connect4, othello6, othello8, gomoku."""
    steps: int = 40
    """Self-play iterations (presets: 40 for tic-tac-toe, 120 for the board games)."""
    blocks: int = 2
    """Residual blocks of the network tower."""
    channels: int = 32
    """Channels of the network tower."""
    parity_plane: bool = False
    """Give the network a plane telling whether the first or the second player moves
    (from the stone count's parity; see PolicyValueNet; on for Connect Four, whose odd/even
    threats depend on it)."""
    games: int = 64
    """Self-play games played at once per iteration."""
    simulations: int = 32
    """MCTS simulations per self-play move."""
    full_search_fraction: float = 1.0
    """Playout cap randomization (KataGo): each self-play move is a full search (`simulations`,
    root noise, kept for training) with this probability, else a fast one (`fast_simulations`,
    no noise, played but not kept): more games, so more independent outcomes, per hour. 1 = off."""
    fast_simulations: int = 0
    """Simulations of the fast searches (0 = simulations // 4, at least 1)."""
    c_puct: float = 1.5
    """PUCT exploration constant."""
    dirichlet_alpha: float = 1.0
    """Root Dirichlet noise concentration (self-play only)."""
    dirichlet_eps: float = 0.25
    """Weight of the root noise."""
    temperature_moves: int = 3
    """Moves sampled in proportion to visits before switching to the most visited."""
    reuse_tree: bool = True
    """Keep the chosen child's subtree between moves."""
    search_precision: str = "auto"
    """Network precision inside the search (self-play, evaluation, play): auto = bf16 where the
    device computes bf16 in hardware (CUDA, CPUs with AVX512-BF16/AMX), fp32 elsewhere; fp32; bf16.
    Training uses trainer.precision."""
    root_selection: str = "puct"
    """Root search: puct (AlphaZero, Dirichlet noise + temperature in self-play) or gumbel
    (Gumbel MuZero: Gumbel top-k + sequential halving, trains on the improved policy;
    made for small simulation budgets)."""
    gumbel_actions: int = 16
    """Gumbel: root actions considered before sequential halving."""
    win_check: bool = True
    """Search with one move of lookahead at every expansion: wins in one are proven and
    an opponent's win in one must be blocked (MCTSConfig.win_check). On for tic-tac-toe
    (in fp32 search it halves the positions where the trained agent misses perfect play)
    and Connect Four (whose bitboard check is nearly free); off for Othello and Gomoku."""
    solver: bool = True
    """MCTS-solver (MCTSConfig.solver): proven wins and losses climb the tree, a proven win
    is played, a proven loss avoided while another move is open."""
    workers: int = 1
    """Self-play worker processes: 1 = in process, N > 1 = N processes, 0 = one per CPU core
    (at most 8; the board games' presets)."""
    backend: str = "process"
    """Where self-play runs: process (in process or `workers` processes on this machine) or
    ray (`actors` Ray actors, on this machine or a cluster; agents/alphazero/ray_selfplay.py).
    The same seed and as many actors as workers give bitwise the same run."""
    actors: int = 0
    """backend=ray: self-play actors, one CPU each (0 = as many as `workers` resolves to)."""
    ray_address: str = ""
    """backend=ray: '' = start a local Ray sized to this machine; 'auto' = the cluster
    `ray start --head` runs on this machine (or RAY_ADDRESS); host:port = the head of a cluster."""
    actor_gpus: float = 0.0
    """backend=ray: GPUs per actor (fractional shares one GPU: 0.25 = four actors a GPU);
    0 = actors search on CPU. The learner trains on the run's `device`."""
    ray_mode: str = "sync"
    """backend=ray: sync = every iteration the learner publishes weights, actors play their
    shares, the learner gathers them in order and trains (bitwise the process pool's run);
    async = actors play on while the learner trains (see async_iteration)."""
    max_policy_lag: int = 3
    """ray_mode=async: drop games played with weights more than this many publications old."""
    publish_every: int = 0
    """ray_mode=async: optimizer steps between weight publications (0 = train_steps)."""
    actor_games: int = 0
    """ray_mode=async: games per actor chunk (0 = games / (2 * actors), at least 1)."""
    eval_on_ray: bool = True
    """backend=ray: the periodic evaluation (match, Elo round, solver positions) runs as a Ray
    task beside training, on the weights of the iteration that asked for it; its metrics are
    logged when it ends, with `eval/weights_step`, and best.pt keeps those weights. The task
    takes a CPU when the cluster has one beyond the actors', else shares theirs.
    false: the learner evaluates between iterations."""
    replay_window: int = 50_000
    """Positions (after symmetry augmentation) kept for training."""
    augment: bool = True
    """Store every symmetry of each position."""
    batch_size: int = 256
    """Training mini-batch size."""
    train_steps: int = 30
    """Optimizer steps per iteration."""
    ema_iterations: float = 0.0
    """> 0: evaluation, Elo, the gate's candidate, `rlgen eval` / `play` / `load_agent` use an
    exponential moving average of the weights spanning about this many iterations (per-step
    decay 1 - 1 / (ema_iterations * train_steps)); self-play keeps the freshest network.
    0 = off. trainer.ema_decay > 0 sets the per-step decay directly instead."""
    value_weight: float = 1.0
    """Weight of the value MSE against the policy cross-entropy."""
    root_value_target: float = 0.0
    """Value target = (1 - w) * game outcome + w * the search's root value of the position
    (w = 0: AlphaZero's outcome only; the root value is less noisy early in training)."""
    eval_opponent: str = "minimax"
    """Opponent of the periodic evaluation: random, lookahead, minimax, alphabeta:D, mcts:N, or a run dir."""
    eval_games: int = 40
    """Games per periodic evaluation (sides alternate)."""
    eval_simulations: int = 64
    """MCTS simulations per move of the periodic evaluation (match, Elo round, solver
    positions) and of the gate."""
    play_simulations: int = 1024
    """MCTS simulations per move of the published agent: load_agent, rlgen play, rlgen eval
    and the run's final report (0 = eval_simulations). Tic-tac-toe's 1,024 make the trained
    agent optimal in every reachable position, at a cost that would dominate the periodic
    evaluations; the board games keep 0."""
    search_leaves: int = 0
    """Leaves each game's evaluation and play search (not self-play's) sends to the network per
    call, kept apart by virtual loss (MCTSConfig.leaves): fewer, larger calls when few games
    search at once. 0 = one per `simulations_per_leaf` simulations (at least one)."""
    simulations_per_leaf: int = 32
    """search_leaves = 0: a leaf per call for every this many simulations (tic-tac-toe's 32:
    2 at its 64 evaluation simulations, 32 at 1,024; the board games' 128: one at 128)."""
    opening_moves: int = 0
    """Random opening plies in evaluation games, for variety."""
    solver_positions: int = 0
    """Connect Four: score every evaluation's moves on this many of the committed
    solver-scored positions (rlgen.envs.connect4_solver, 1,000 in all, the phases taking
    turns), logged as eval/solver_strict and eval/solver_wdl (with search) and their _raw
    twins (the network's policy alone). 0 = off; no solving happens during training."""
    resign_threshold: float = -1.0
    """Resign a self-play game when the root value falls below this (-1 = never resign)."""
    resign_check_fraction: float = 0.1
    """Fraction of self-play games that never resign, to measure false resignations."""
    gating: bool = False
    """AlphaGo Zero mode: self-play uses the best network; a new one replaces it only after
    winning an arena match (draws count half). False: AlphaZero's continuous update."""
    gate_games: int = 40
    """Arena games per gate (sides alternate)."""
    gate_threshold: float = 0.55
    """Score the new network needs against the best to replace it."""
    elo_pool: str = "random,lookahead,minimax"
    """Comma-separated fixed opponents for Elo tracking, weakest first ('none' = off);
    each pool member plays its neighbours in this order once, to place the pool on one scale."""
    elo_games: int = 20
    """Games against each pool opponent per Elo round."""
    elo_every: int = 2
    """Play the Elo round at every this-many-th evaluation (and the first)."""
    elo_snapshots: int = 3
    """Earlier versions of the network in the Elo pool: each round snapshots the network,
    and the newest this-many snapshots play the next round too (0 = fixed pool only)."""
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(
            name="adamw", lr=2e-3, weight_decay=1e-4, schedule="cosine", min_lr_ratio=0.1
        )
    )
    """Optimizer (L2 as weight decay)."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(log_every=1, eval_every=10, checkpoint_every=1)
    )
    """Trainer plumbing (monitor defaults to eval/score)."""

    # Small networks and budgets per game. Iterations (`steps`): tic-tac-toe is perfect in
    # well under a minute; the board games' 120 iterations take over an hour on 2 CPU cores,
    # so `--minutes` is what ends them there.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tictactoe": dict(
            steps=40,
            blocks=2,
            channels=32,
            simulations=32,
            games=64,
            temperature_moves=3,
            dirichlet_alpha=1.0,
            train_steps=30,
            eval_opponent="minimax",
            eval_games=40,
            eval_simulations=64,
            play_simulations=1024,
            simulations_per_leaf=32,
            opening_moves=0,
            solver_positions=0,
            elo_pool="random,lookahead,minimax",
            elo_every=2,
            root_value_target=0.0,
            replay_window=50_000,
            win_check=True,
            parity_plane=False,
            workers=1,
            trainer=dict(eval_every=10),
        ),
        "connect4": dict(
            steps=120,
            blocks=3,
            channels=32,
            simulations=96,
            games=256,
            temperature_moves=8,
            dirichlet_alpha=1.0,
            train_steps=180,
            eval_opponent="alphabeta:2",
            eval_games=40,
            eval_simulations=128,
            play_simulations=0,
            simulations_per_leaf=128,
            opening_moves=2,
            solver_positions=300,
            elo_pool="random,alphabeta:2,alphabeta:4,mcts:200",
            elo_every=4,
            root_value_target=0.5,
            replay_window=100_000,
            win_check=True,
            parity_plane=True,
            workers=0,
            trainer=dict(eval_every=10),
        ),
        "othello6": dict(
            steps=120,
            blocks=3,
            channels=32,
            simulations=96,
            games=256,
            temperature_moves=8,
            dirichlet_alpha=0.5,
            train_steps=180,
            eval_opponent="alphabeta:2",
            eval_games=40,
            eval_simulations=128,
            play_simulations=0,
            simulations_per_leaf=128,
            opening_moves=2,
            solver_positions=0,
            elo_pool="random,alphabeta:1,alphabeta:2,alphabeta:3",
            elo_every=4,
            root_value_target=0.5,
            replay_window=100_000,
            win_check=False,
            parity_plane=False,
            workers=0,
            trainer=dict(eval_every=10),
        ),
        "othello8": dict(
            steps=120,
            blocks=4,
            channels=48,
            simulations=96,
            games=256,
            temperature_moves=12,
            dirichlet_alpha=0.3,
            train_steps=180,
            eval_opponent="alphabeta:3",
            eval_games=20,
            eval_simulations=128,
            play_simulations=0,
            simulations_per_leaf=128,
            opening_moves=2,
            solver_positions=0,
            elo_pool="random,alphabeta:1,alphabeta:2,alphabeta:3",
            elo_every=4,
            root_value_target=0.5,
            replay_window=300_000,
            win_check=False,
            parity_plane=False,
            workers=0,
            trainer=dict(eval_every=10),
        ),
        "gomoku": dict(
            steps=120,
            blocks=4,
            channels=64,
            simulations=128,
            games=64,
            temperature_moves=8,
            dirichlet_alpha=0.3,
            train_steps=60,
            eval_opponent="alphabeta:1",
            eval_games=20,
            eval_simulations=128,
            play_simulations=0,
            simulations_per_leaf=128,
            opening_moves=2,
            solver_positions=0,
            elo_pool="random,lookahead,alphabeta:1,mcts:200",
            elo_every=4,
            root_value_target=0.0,
            replay_window=50_000,
            win_check=False,
            parity_plane=False,
            workers=0,
            trainer=dict(eval_every=10),
        ),
    }
    """Each game's values (every game has the same keys; tic-tac-toe's equal the field defaults)."""

    def __post_init__(self) -> None:
        if self.env not in self.PRESETS:
            raise unknown_name("game for alphazero", self.env, list(self.PRESETS))
        if self.play_simulations < 0:
            raise ConfigError(f"play_simulations must be >= 0 (0 = eval_simulations), got {self.play_simulations}")
        for name in ("channels", "games", "simulations", "eval_games", "eval_simulations", "elo_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0 (0 = one per CPU core), got {self.workers}")
        if self.backend not in ("process", "ray"):
            raise unknown_name("self-play backend", self.backend, ["process", "ray"])
        if self.actors < 0 or self.actor_gpus < 0:
            raise ConfigError(f"actors and actor_gpus must be >= 0, got {self.actors} and {self.actor_gpus}")
        if self.backend != "ray" and (self.actors or self.ray_address or self.actor_gpus or self.ray_mode != "sync"):
            raise ConfigError(
                "actors, ray_address, actor_gpus and ray_mode are settings of backend=ray; add backend=ray"
            )
        if self.ray_mode not in ("sync", "async"):
            raise unknown_name("ray_mode", self.ray_mode, ["sync", "async"])
        if min(self.max_policy_lag, self.publish_every, self.actor_games) < 0:
            raise ConfigError("max_policy_lag, publish_every and actor_games must be >= 0")
        if self.ray_mode == "async" and self.gating:
            raise ConfigError(
                "gating plays self-play with the gate's best network, which async actors do not follow; "
                "with ray_mode=async set gating=false"
            )
        if not 0.0 <= self.resign_check_fraction <= 1.0:
            raise ConfigError(f"resign_check_fraction must be in [0, 1], got {self.resign_check_fraction}")
        MCTSConfig(root_selection=self.root_selection, gumbel_actions=self.gumbel_actions)  # validates both
        if self.search_precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"search_precision must be auto, fp32 or bf16, got '{self.search_precision}'")
        if not 0.0 < self.gate_threshold <= 1.0:
            raise ConfigError(f"gate_threshold must be in (0, 1], got {self.gate_threshold}")
        if self.elo_snapshots < 0:
            raise ConfigError(f"elo_snapshots must be >= 0 (0 = fixed pool only), got {self.elo_snapshots}")
        if not 0.0 <= self.root_value_target <= 1.0:
            raise ConfigError(
                f"root_value_target must be in [0, 1] (0 = the game's outcome only), got {self.root_value_target}"
            )
        if not 0.0 < self.full_search_fraction <= 1.0:
            raise ConfigError(
                "full_search_fraction must be in (0, 1] (1 = every move a full search), "
                f"got {self.full_search_fraction}"
            )
        if self.fast_simulations < 0:
            raise ConfigError(f"fast_simulations must be >= 1 (0 = simulations // 4), got {self.fast_simulations}")
        if self.search_leaves < 0:
            raise ConfigError(
                f"search_leaves must be >= 0 (0 = one per simulations_per_leaf simulations), got {self.search_leaves}"
            )
        if self.simulations_per_leaf < 1:
            raise ConfigError(f"simulations_per_leaf must be >= 1, got {self.simulations_per_leaf}")
        if not 0 <= self.solver_positions <= 1000:
            raise ConfigError(f"solver_positions must be in 0..1000 (0 = off), got {self.solver_positions}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.replay_window < 1:
            raise ConfigError(f"replay_window must be >= 1, got {self.replay_window}")
        if self.ema_iterations < 0:
            raise ConfigError(f"ema_iterations must be >= 0 (0 = no weight average), got {self.ema_iterations}")
