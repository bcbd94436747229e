"""AlphaZero: self-play with batched PUCT search and a residual policy-value network.

    rlgen train alphazero --env tictactoe|connect4|othello6|othello8|gomoku

`--steps` counts self-play iterations. Each iteration plays `games` games at once (one
network call per simulation wave for every leaf of every game), stores (planes,
visit distribution, outcome) positions with the game's symmetries in a replay window,
then takes `train_steps` optimizer steps on policy cross-entropy + value MSE (+ weight
decay) through the shared Trainer. Checkpoints carry the replay window and every RNG,
so `rlgen resume` continues exactly.
"""

from __future__ import annotations

import itertools
import os
import weakref
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlgen.agents.match import GameAgent, elo_difference, fit_elo, play_match, resolve_opponent
from rlgen.agents.mcts import MCTS, MCTSConfig, SearchResult
from rlgen.agents.replay import ReplayWindow
from rlgen.agents.selfplay import SelfPlayParams, SelfPlayPool, play_games
from rlgen.algorithm import Algorithm
from rlgen.config import OptimConfig, RunConfig, TrainerConfig
from rlgen.device import native_bf16, resolve_precision
from rlgen.envs.game import GAMES, Game, GameState, make_game
from rlgen.errors import ConfigError, unknown_name
from rlgen.nets import PolicyHead, ResidualTower, ValueHead, inference_copy

# Small defaults per game; a config field left at its marker (0, '' or -1) takes these. Iterations
# (`steps`): tic-tac-toe is perfect in well under a minute; the board games' 120
# iterations take over an hour on 2 CPU cores, so `--minutes` is what ends them there.
GAME_DEFAULTS: dict[str, dict[str, Any]] = {
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
        eval_games=100,
        eval_simulations=64,
        opening_moves=0,
        elo_pool="random,lookahead,mcts:50",
        elo_every=3,
        root_value_target=0.0,
        replay_window=50_000,
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
        opening_moves=2,
        elo_pool="random,alphabeta:2,alphabeta:4,mcts:200",
        elo_every=6,
        root_value_target=0.5,
        replay_window=100_000,
        win_check=True,
        parity_plane=True,
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
        opening_moves=2,
        elo_pool="random,alphabeta:1,alphabeta:2,alphabeta:3,mcts:200",
        elo_every=6,
        root_value_target=0.5,
        replay_window=100_000,
    ),
    "othello8": dict(
        steps=120,
        blocks=6,
        channels=64,
        simulations=128,
        games=128,
        temperature_moves=12,
        dirichlet_alpha=0.3,
        train_steps=80,
        eval_opponent="alphabeta:2",
        eval_games=20,
        eval_simulations=128,
        opening_moves=2,
        elo_pool="random,alphabeta:1,alphabeta:2,mcts:200",
        elo_every=6,
        root_value_target=0.0,
        replay_window=50_000,
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
        opening_moves=2,
        elo_pool="random,lookahead,alphabeta:1,mcts:200",
        elo_every=6,
        root_value_target=0.0,
        replay_window=50_000,
    ),
}

# ----------------------------------------------------------------------------- config


@dataclass
class AlphaZeroConfig(RunConfig):
    """AlphaZero self-play. `--steps` counts self-play iterations; 0 / '' = per-game default."""

    env: str = "tictactoe"
    """Game: tictactoe, connect4, othello6, othello8, gomoku."""
    steps: int = 0
    """Self-play iterations (0 = the game's default: 40 for tic-tac-toe, 120 otherwise)."""
    blocks: int = 0
    """Residual blocks of the network tower."""
    channels: int = 0
    """Channels of the network tower."""
    parity_plane: bool | None = None
    """Give the network a plane telling whether the first or the second player moves
    (from the stone count's parity; see PolicyValueNet; None = game default: on for
    Connect Four, whose odd/even threats depend on it)."""
    games: int = 0
    """Self-play games played at once per iteration."""
    simulations: int = 0
    """MCTS simulations per self-play move."""
    full_search_fraction: float = 1.0
    """Playout cap randomization (KataGo): each self-play move is a full search (`simulations`,
    root noise, kept for training) with this probability, else a fast one (`fast_simulations`,
    no noise, played but not kept): more games, so more independent outcomes, per hour. 1 = off."""
    fast_simulations: int = 0
    """Simulations of the fast searches (0 = simulations // 4)."""
    c_puct: float = 1.5
    """PUCT exploration constant."""
    dirichlet_alpha: float = 0.0
    """Root Dirichlet noise concentration (self-play only)."""
    dirichlet_eps: float = 0.25
    """Weight of the root noise."""
    temperature_moves: int = -1
    """Moves sampled in proportion to visits before switching to the most visited (-1 = game default)."""
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
    win_check: bool | None = None
    """Search with one move of lookahead at every expansion: wins in one are proven and
    an opponent's win in one must be blocked (MCTSConfig.win_check; None = game default:
    on for Connect Four, whose bitboard check is nearly free)."""
    solver: bool = True
    """MCTS-solver (MCTSConfig.solver): proven wins and losses climb the tree, a proven win
    is played, a proven loss avoided while another move is open."""
    workers: int = 0
    """Self-play worker processes (1 = in process; 0 = one per CPU core, in process for tic-tac-toe)."""
    replay_window: int = 0
    """Positions (after symmetry augmentation) kept for training (0 = game default)."""
    augment: bool = True
    """Store every symmetry of each position."""
    batch_size: int = 256
    """Training mini-batch size."""
    train_steps: int = 0
    """Optimizer steps per iteration."""
    ema_iterations: float = 0.0
    """> 0: evaluation, Elo, the gate's candidate, `rlgen eval` / `play` / `load_agent` use an
    exponential moving average of the weights spanning about this many iterations (per-step
    decay 1 - 1 / (ema_iterations * train_steps)); self-play keeps the freshest network.
    0 = off. trainer.ema_decay > 0 sets the per-step decay directly instead."""
    value_weight: float = 1.0
    """Weight of the value MSE against the policy cross-entropy."""
    root_value_target: float = -1.0
    """Value target = (1 - w) * game outcome + w * the search's root value of the position
    (w = 0: AlphaZero's outcome only; the root value is less noisy early in training; -1 = game default)."""
    eval_opponent: str = ""
    """Opponent of the periodic evaluation: random, lookahead, minimax, alphabeta:D, mcts:N, or a run dir."""
    eval_games: int = 0
    """Games per periodic evaluation (sides alternate)."""
    eval_simulations: int = 0
    """MCTS simulations per move when evaluating or playing."""
    opening_moves: int = -1
    """Random opening plies in evaluation games, for variety (-1 = game default)."""
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
    elo_pool: str = ""
    """Comma-separated fixed opponents for Elo tracking, weakest first ('' = game default, 'none' = off);
    each pool member plays its neighbours in this order once, to place the pool on one scale."""
    elo_games: int = 20
    """Games against each pool opponent per Elo round."""
    elo_every: int = 0
    """Play the Elo round at every this-many-th evaluation (and the first); 0 = game default."""
    elo_snapshots: int = 3
    """Earlier versions of the network in the Elo pool: each round snapshots the network,
    and the newest this-many snapshots play the next round too (0 = fixed pool only)."""
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(
            name="adamw", lr=2e-3, weight_decay=1e-4, schedule="cosine", min_lr_ratio=0.1
        )
    )
    """Optimizer (L2 as weight decay)."""
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(log_every=1, eval_every=5, checkpoint_every=1))
    """Trainer plumbing (monitor defaults to eval/score)."""

    def __post_init__(self) -> None:
        if self.env not in GAME_DEFAULTS:
            raise unknown_name("game for alphazero", self.env, list(GAMES))
        if not 0.0 <= self.resign_check_fraction <= 1.0:
            raise ConfigError(f"resign_check_fraction must be in [0, 1], got {self.resign_check_fraction}")
        MCTSConfig(root_selection=self.root_selection, gumbel_actions=self.gumbel_actions)  # validates both
        if self.search_precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"search_precision must be auto, fp32 or bf16, got '{self.search_precision}'")
        if not 0.0 < self.gate_threshold <= 1.0:
            raise ConfigError(f"gate_threshold must be in (0, 1], got {self.gate_threshold}")
        if self.elo_snapshots < 0:
            raise ConfigError(f"elo_snapshots must be >= 0 (0 = fixed pool only), got {self.elo_snapshots}")
        if not (0.0 <= self.root_value_target <= 1.0 or self.root_value_target == -1.0):
            raise ConfigError(f"root_value_target must be in [0, 1] (-1 = game default), got {self.root_value_target}")
        if not 0.0 < self.full_search_fraction <= 1.0:
            raise ConfigError(
                f"full_search_fraction must be in (0, 1] (1 = every move a full search), got {self.full_search_fraction}"
            )
        if self.fast_simulations < 0:
            raise ConfigError(f"fast_simulations must be >= 1 (0 = simulations // 4), got {self.fast_simulations}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.replay_window < 0:
            raise ConfigError(f"replay_window must be >= 1 (0 = game default), got {self.replay_window}")
        if self.ema_iterations < 0:
            raise ConfigError(f"ema_iterations must be >= 0 (0 = no weight average), got {self.ema_iterations}")

    def resolve_defaults(self) -> None:
        """Fill fields still at their 'game default' marker (0, '' or -1, whichever the field
        declares) with the game's defaults (workers: the core count). A value set on purpose,
        e.g. opening_moves=0 where the marker is -1, is kept."""
        if self.workers == 0:
            self.workers = 1 if self.env == "tictactoe" else max(1, min(os.cpu_count() or 1, 8))
        markers = {f.name: f.default for f in fields(self)}
        for key, value in GAME_DEFAULTS[self.env].items():
            if getattr(self, key) == markers[key]:
                setattr(self, key, value)
        if self.win_check is None:
            self.win_check = False
        if self.parity_plane is None:
            self.parity_plane = False


# ----------------------------------------------------------------------------- network


class PolicyValueNet(nn.Module):
    """Residual tower over (own, opponent, ones[, parity]) planes -> move logits and a value
    in [-1, 1]. `parity_plane`: a plane holding the stone count's parity, i.e. whether the
    first or the second player moves (AlphaZero's colour plane, read from the position)."""

    def __init__(
        self, board: tuple[int, int], actions: int, blocks: int, channels: int, parity_plane: bool = False
    ) -> None:
        super().__init__()
        cells = board[0] * board[1]
        self.parity_plane = parity_plane
        self.tower = ResidualTower(4 if parity_plane else 3, channels, blocks)
        self.policy = PolicyHead(channels, cells, actions)
        self.value = ValueHead(channels, cells)

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ones = torch.ones_like(planes[:, :1])  # marks the board inside the zero padding
        extra = [ones]
        if self.parity_plane:
            # Which side moves decides which rows' threats count (Connect Four's odd/even
            # threats); convolutions cannot count the stones of the whole board themselves.
            parity = planes.float().sum(dim=(1, 2, 3)).remainder(2).to(planes.dtype)
            extra.append(ones * parity.view(-1, 1, 1, 1))
        x = self.tower(torch.cat([planes, *extra], dim=1))
        return self.policy(x), self.value(x)


def search_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype of search-time network calls (None = fp32); see `search_precision`."""
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else None
    return resolve_precision(precision, device)


class NetworkEvaluator:
    """Batched leaf evaluation for MCTS with a policy-value network, computed in `dtype`
    (None = fp32) by an inference copy of the network (batch norm folded into the convs)."""

    def __init__(self, game: Game, model: nn.Module, device: torch.device, dtype: torch.dtype | None = None) -> None:
        self.game, self.model, self.device = game, model, device
        self.dtype = dtype
        self.calls = 0
        self._frozen: nn.Module | None = None
        self._frozen_version: tuple[int, ...] = ()
        self._tensors = [*model.parameters(), *model.buffers()]  # updated in place, so listed once

    def network(self) -> nn.Module:
        """The inference copy, rebuilt whenever the model's weights or statistics changed:
        every in-place update (optimizer step, load_state_dict) bumps a tensor's version."""
        version = tuple(t._version for t in self._tensors)
        if self._frozen is None or version != self._frozen_version:
            self._frozen, self._frozen_version = inference_copy(self.model, self.dtype), version
        return self._frozen

    @torch.no_grad()
    def __call__(self, states: GameState) -> tuple[np.ndarray, np.ndarray]:
        network = self.network()
        planes = torch.from_numpy(self.game.observation(states)).to(self.device, self.dtype or torch.float32)
        logits, value = network(planes)
        self.calls += 1
        return torch.softmax(logits.float(), dim=1).cpu().numpy(), value.float().cpu().numpy()


# ----------------------------------------------------------------------------- agent


class AlphaZeroAgent(GameAgent):
    """A trained network with search. `act(observation, action_mask)` takes PettingZoo
    classic observations ((H, W, 2) planes from the side to move) and returns a move."""

    def __init__(
        self,
        game: Game,
        model: nn.Module,
        device: torch.device,
        simulations: int,
        c_puct: float = 1.5,
        seed: int | None = None,
        root_selection: str = "puct",
        gumbel_actions: int = 16,
        dtype: torch.dtype | None = None,
        win_check: bool = False,
        solver: bool = True,
    ) -> None:
        self.game, self.model, self.device = game, model, device
        self.name = "alphazero"
        self.evaluator = NetworkEvaluator(game, model, device, dtype)
        config = MCTSConfig(
            simulations=simulations,
            c_puct=c_puct,
            reuse_tree=False,
            root_selection=root_selection,
            gumbel_actions=gumbel_actions,
            win_check=win_check,
            solver=solver,
        )
        self.mcts = MCTS(game, self.evaluator, config, seed=seed)
        self.last_value: float | None = None

    def search(self, state: GameState, simulations: int | None = None) -> SearchResult:
        return self.mcts.run(state, simulations=simulations)

    def act_states(self, state: GameState) -> np.ndarray:
        """Most visited move for every position of a batch (no noise)."""
        result = self.search(state)
        self.last_value = float(result.value[0])
        return result.best_actions()


# ----------------------------------------------------------------------------- algorithm


class AlphaZero(Algorithm):
    """Self-play iterations: play, store, train; evaluate against a fixed opponent."""

    name = "alphazero"
    Config = AlphaZeroConfig
    unit = "self-play iterations"
    input_kind = "env"
    description = "AlphaZero self-play: batched PUCT MCTS + residual policy-value net (board games)"
    default_monitor = "eval/score"

    def __init__(self, config: AlphaZeroConfig, trainer: Any) -> None:
        config.resolve_defaults()
        super().__init__(config, trainer)
        self.game = make_game(config.env)
        self.model = trainer.add_model("model", self.new_network())
        trainer.add_optimizer("main", ["model"], config.optim, total_steps=config.steps * config.train_steps)
        if trainer.tcfg.ema_decay > 0:
            trainer.add_ema("model")
        elif config.ema_iterations > 0:
            trainer.add_ema("model", 1.0 - 1.0 / max(config.ema_iterations * config.train_steps, 2.0))
        self.rng = np.random.default_rng(config.seed)
        self.search_dtype = search_dtype(config.search_precision, trainer.device)
        self.evaluator = NetworkEvaluator(self.game, self.model, trainer.device, self.search_dtype)
        self.mcts = MCTS(self.game, self.evaluator, self.mcts_config())
        self.mcts.rng = self.rng
        self.replay = ReplayWindow(config.replay_window, (2, *self.game.board_shape), self.game.num_actions)
        self.games_played = 0
        if config.gating:
            import copy

            best = trainer.add_model("best", copy.deepcopy(self.model))
            self.mcts.evaluate = NetworkEvaluator(self.game, best, trainer.device, self.search_dtype)
        self.elo_specs = (
            [] if config.elo_pool == "none" else [p.strip() for p in config.elo_pool.split(",") if p.strip()]
        )
        # Elo: every result so far as (player, player, score of the first, games), players by
        # name (pool specs and 'iteration N' snapshots); the pool's chain of neighbours is played once.
        self.elo_results: list[tuple[str, str, float, int]] = []
        self.snapshots: list[tuple[str, dict[str, torch.Tensor]]] = []  # newest elo_snapshots networks
        self.evaluations = 0
        self.workers_pool: SelfPlayPool | None = None

    def network_kwargs(self) -> dict[str, Any]:
        """PolicyValueNet's arguments beyond the game's board and moves."""
        cfg = self.config
        return {"blocks": cfg.blocks, "channels": cfg.channels, "parity_plane": bool(cfg.parity_plane)}

    def new_network(self) -> PolicyValueNet:
        return PolicyValueNet(self.game.board_shape, self.game.num_actions, **self.network_kwargs())

    def mcts_config(self) -> MCTSConfig:
        """The self-play search settings."""
        cfg = self.config
        return MCTSConfig(
            cfg.simulations,
            cfg.c_puct,
            cfg.dirichlet_alpha,
            cfg.dirichlet_eps,
            reuse_tree=cfg.reuse_tree,
            root_selection=cfg.root_selection,
            gumbel_actions=cfg.gumbel_actions,
            win_check=bool(cfg.win_check),
            solver=cfg.solver,
        )

    # -- self-play

    def self_play(self) -> dict[str, float]:
        """Play one iteration's games (in worker processes when `workers` > 1) and store
        their positions, with every symmetry, in the replay window."""
        cfg = self.config
        params = SelfPlayParams(
            cfg.games,
            cfg.temperature_moves,
            cfg.reuse_tree,
            cfg.resign_threshold,
            cfg.resign_check_fraction,
            cfg.full_search_fraction,
            cfg.fast_simulations or max(cfg.simulations // 4, 1),
        )
        model = self.trainer.models["best"] if cfg.gating else self.model
        if cfg.workers > 1:
            if self.workers_pool is None:
                self.workers_pool = SelfPlayPool(
                    cfg.workers,
                    cfg.env,
                    self.network_kwargs(),
                    self.mcts_config(),
                    search_dtype(cfg.search_precision, torch.device("cpu")),
                )
                weakref.finalize(self, self.workers_pool.close)
            batch = self.workers_pool.play(model, self.rng, params)
        else:
            batch = play_games(self.game, self.mcts, self.rng, params)
        w = cfg.root_value_target
        target = ((1.0 - w) * batch.outcome + w * batch.root_value).astype(np.float32)
        if cfg.augment:
            for sym_planes, sym_pi in self.game.augment(batch.planes, batch.policy):
                self.replay.add(sym_planes, sym_pi, target)
        else:
            self.replay.add(batch.planes, batch.policy, target)
        self.games_played += cfg.games
        return {
            "selfplay/resigned": float(batch.resigned.mean()),
            "selfplay/false_resign_rate": float(batch.false_resign.sum() / max(batch.checked.sum(), 1)),
            "selfplay/first_player_wins": float((batch.winners == 0).mean()),
            "selfplay/draws": float((batch.winners < 0).mean()),
            "selfplay/game_length": float(batch.lengths.mean()),
            "selfplay/simulations": float(batch.simulations),
            "charts/games_played": float(self.games_played),
            "charts/replay_size": float(self.replay.size),
        }

    # -- training

    def learn(self) -> dict[str, float]:
        """`train_steps` mini-batches from the replay window. With self-play workers the
        cores are idle meanwhile, so training uses one torch thread per worker."""
        cfg = self.config
        threads = torch.get_num_threads()
        if cfg.workers > 1 and self.trainer.device.type == "cpu":
            torch.set_num_threads(cfg.workers)
        try:
            return self._learn_steps()
        finally:
            torch.set_num_threads(threads)

    def _learn_steps(self) -> dict[str, float]:
        cfg = self.config
        sums: dict[str, float] = {}
        for _ in range(cfg.train_steps):
            planes, target_pi, target_z = self.replay.sample(cfg.batch_size, self.rng)
            x = torch.from_numpy(planes.astype(np.float32)).to(self.trainer.device)
            pi = torch.from_numpy(target_pi).to(self.trainer.device)
            z = torch.from_numpy(target_z).to(self.trainer.device)
            self.model.train()
            with self.trainer.autocast():
                logits, value = self.model(x)
            log_p = F.log_softmax(logits.float(), dim=1)
            policy_loss = -(pi * log_p).sum(dim=1).mean()
            value_loss = F.mse_loss(value.float(), z)
            metrics = self.trainer.optimize({"policy": policy_loss, "value": cfg.value_weight * value_loss})
            with torch.no_grad():
                entropy = -(log_p.exp() * log_p).sum(dim=1).mean()
                decided = z != 0
                accuracy = (
                    ((value.float() > 0) == (z > 0))[decided].float().mean() if decided.any() else torch.tensor(0.0)
                )
            policy_loss, value_loss = policy_loss.detach(), value_loss.detach()
            step = {
                "losses/policy": float(policy_loss),
                "losses/value": float(value_loss),
                "train/loss": float(policy_loss + value_loss),
                "train/policy_entropy": float(entropy),
                "train/value_accuracy": float(accuracy),
                **metrics,
            }
            for key, value_ in step.items():
                sums[key] = sums.get(key, 0.0) + value_
        return {k: v / max(cfg.train_steps, 1) for k, v in sums.items()}

    def train_step(self) -> dict[str, float]:
        import time

        start = time.perf_counter()
        metrics = self.self_play()
        play_time = time.perf_counter() - start
        metrics["charts/games_per_s"] = self.config.games / play_time
        metrics["charts/simulations_per_s"] = metrics["selfplay/simulations"] / play_time
        metrics.update(self.learn())
        if self.config.gating:
            metrics.update(self.gate())
        return metrics

    def gate(self) -> dict[str, float]:
        """Arena: the trained network against the best one; replace it on a winning score."""
        best = self.trainer.models["best"]
        cfg = self.config
        candidate = self.agent().as_opponent()
        incumbent = self.search_agent(best).as_opponent()
        result = play_match(self.game, candidate, incumbent, cfg.gate_games, self.rng, cfg.opening_moves)
        accepted = result["score"] >= cfg.gate_threshold
        if accepted:
            best.load_state_dict(self.played_model().state_dict())
        return {"gate/score": result["score"], "gate/accepted": float(accepted)}

    # -- evaluation

    def played_model(self) -> nn.Module:
        """The network that is evaluated and published: the weight average where one is
        kept (steadier than the last update's), else the trained network."""
        ema = self.trainer.emas.get("model")
        return ema.module if ema is not None else self.model

    def agent(self, simulations: int | None = None) -> AlphaZeroAgent:
        return self.search_agent(self.played_model(), simulations)

    def search_agent(self, model: nn.Module, simulations: int | None = None) -> AlphaZeroAgent:
        """`model` searching as evaluation and play do (no noise, eval_simulations by default)."""
        cfg = self.config
        agent = AlphaZeroAgent(
            self.game,
            model,
            self.trainer.device,
            simulations or cfg.eval_simulations,
            cfg.c_puct,
            root_selection=cfg.root_selection,
            gumbel_actions=cfg.gumbel_actions,
            dtype=self.search_dtype,
            win_check=bool(cfg.win_check),
            solver=cfg.solver,
        )
        agent.mcts.rng = self.rng
        return agent

    def match(self, opponent: str, games: int, simulations: int | None = None) -> dict[str, Any]:
        opp = resolve_opponent(opponent, self.game, int(self.rng.integers(2**31)))
        return play_match(
            self.game, self.agent(simulations).as_opponent(), opp, games, self.rng, self.config.opening_moves
        )

    def elo(self) -> dict[str, float]:
        """The network's Elo against the fixed pool and its own earlier snapshots: one
        maximum-likelihood fit over every result so far, the first pool member at 0."""
        cfg = self.config
        self.evaluations += 1
        if not self.elo_specs or (self.evaluations - 1) % max(cfg.elo_every, 1):
            return {}
        seed = int(self.rng.integers(2**31))
        members = {spec: resolve_opponent(spec, self.game, seed + k) for k, spec in enumerate(self.elo_specs)}
        if not self.elo_results:
            # Neighbours in strength order connect the pool; the lopsided far pairs of a full
            # round robin add little and cost most (pure MCTS games are slow on Othello).
            names = list(members)
            for first, second in itertools.pairwise(names):
                r = play_match(self.game, members[first], members[second], cfg.elo_games, self.rng, cfg.opening_moves)
                self.elo_results.append((first, second, r["score"], cfg.elo_games))
        for name, weights in self.snapshots:
            members[name] = self.snapshot_agent(weights)
        me = f"iteration {self.trainer.step}"
        agent = self.agent().as_opponent()
        for name, member in members.items():
            r = play_match(self.game, agent, member, cfg.elo_games, self.rng, cfg.opening_moves)
            self.elo_results.append((me, name, r["score"], cfg.elo_games))
        if cfg.elo_snapshots > 0:
            weights = {k: v.detach().cpu().clone() for k, v in self.played_model().state_dict().items()}
            self.snapshots = [*self.snapshots, (me, weights)][-cfg.elo_snapshots :]
        players = list(dict.fromkeys([*self.elo_specs, *(n for r in self.elo_results for n in r[:2])]))
        index = {name: i for i, name in enumerate(players)}
        ratings = fit_elo([(index[a], index[b], sc, n) for a, b, sc, n in self.elo_results], len(players))
        out = {"eval/elo": float(ratings[index[me]])}
        out.update({f"eval/elo_pool/{spec}": float(ratings[index[spec]]) for spec in self.elo_specs})
        return out

    def snapshot_agent(self, weights: dict[str, torch.Tensor]) -> Any:
        """An earlier network (its weights) searching as the evaluation agent does."""
        model = self.new_network().to(self.trainer.device)
        model.load_state_dict(weights)
        return self.search_agent(model).as_opponent()

    def evaluate(self) -> dict[str, float]:
        result = self.match(self.config.eval_opponent, self.config.eval_games)
        total = result["total"]
        games = self.config.eval_games
        self.log_example_game()
        return {
            **self.elo(),
            "eval/score": result["score"],
            "eval/win_rate": total["wins"] / games,
            "eval/draw_rate": total["draws"] / games,
            "eval/loss_rate": total["losses"] / games,
            "eval/losses_first": float(result["first"]["losses"]),
            "eval/losses_second": float(result["second"]["losses"]),
            "eval/elo_vs_opponent": elo_difference(result["score"], games),
        }

    def log_example_game(self) -> None:
        """One greedy self-play game as text in the run's media (and W&B)."""
        agent = self.agent()
        state = self.game.initial(1)
        frames = [self.game.render(state)]
        while not state.done[0]:
            state = self.game.step(state, agent.act_states(state))
            frames.append(self.game.render(state))
        text = "\n\n".join(frames)
        path = self.trainer.tracker.media_dir / f"example_game_{self.trainer.step:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        run = self.trainer.tracker.wandb_run
        if run is not None:
            import wandb

            run.log({"media/example_game": wandb.Html(f"<pre>{text}</pre>")}, step=self.trainer.step)

    def report(
        self, opponent: str | None = None, games: int | None = None, sims: int | None = None, **_: Any
    ) -> dict[str, Any]:
        """A match against `opponent` (default: the eval opponent), searching `sims`
        simulations per move (default: eval_simulations)."""
        opponent = opponent or self.config.eval_opponent
        games = games or max(self.config.eval_games, 2)
        if sims is not None and sims < 1:
            raise ConfigError(f"--sims must be >= 1, got {sims}")
        sims = sims or self.config.eval_simulations
        result = self.match(opponent, games, sims)
        return {
            "opponent": opponent,
            "games": games,
            "simulations": sims,
            "score": result["score"],
            "elo_vs_opponent": elo_difference(result["score"], games),
            "as_first": result["first"],
            "as_second": result["second"],
            "total": result["total"],
        }

    # -- checkpoint

    def state_dict(self) -> dict[str, Any]:
        return {
            "replay": self.replay.state_dict(),
            "rng": self.rng.bit_generator.state,
            "games_played": self.games_played,
            "elo_results": [list(r) for r in self.elo_results],
            "evaluations": self.evaluations,
            "snapshots": [[name, weights] for name, weights in self.snapshots],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.replay.load_state_dict(state["replay"])
        self.rng.bit_generator.state = state["rng"]
        self.games_played = int(state["games_played"])
        self.elo_results = [(str(a), str(b), float(sc), int(n)) for a, b, sc, n in state.get("elo_results", [])]
        self.snapshots = [(str(name), weights) for name, weights in state.get("snapshots", [])]
        self.evaluations = int(state.get("evaluations", 0))
