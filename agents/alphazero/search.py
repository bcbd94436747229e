"""Batched PUCT Monte-Carlo tree search (AlphaZero), mctx-style: tree statistics are
arrays over (games, nodes, actions) and every simulation wave does one evaluator call for
the leaves of all games at once.

    search = MCTS(game, evaluator, MCTSConfig(simulations=100))
    result = search.run(roots, noise=True)          # result.visits: [G, A]

`evaluator(states) -> (priors [B, A], values [B])`, values in [-1, 1] from the side to
move's view. Terminal values come from the game. Values alternate sign along a path
because the side to move alternates every move (passes included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rlgen.agents.alphazero import kernels
from rlgen.envs.game import Game, GameState
from rlgen.errors import ConfigError

Evaluator = Callable[[GameState], tuple[np.ndarray, np.ndarray]]


@dataclass
class MCTSConfig:
    """Search hyper-parameters."""

    simulations: int = 100
    """Simulations per move."""
    c_puct: float = 1.5
    """Exploration constant of the PUCT rule."""
    dirichlet_alpha: float = 0.3
    """Root Dirichlet noise concentration (self-play only)."""
    dirichlet_eps: float = 0.25
    """Weight of the root noise in the priors."""
    fpu: float = 0.0
    """Value assumed for unvisited children (first-play urgency)."""
    reuse_tree: bool = True
    """Keep the chosen child's subtree for the next move."""
    leaves: int = 1
    """PUCT: leaves each game's search selects per evaluator call, kept apart by virtual loss
    (an edge taken counts as a lost visit until the wave's values come back). 1 = AlphaZero's
    sequential search; more = fewer, larger network calls, for when few games search at once
    (play, evaluation), at some cost in what each simulation adds."""
    root_selection: str = "puct"
    """puct (AlphaZero: PUCT at the root, Dirichlet noise in self-play) or gumbel (Gumbel
    top-k sampling + sequential halving at the root, Gumbel MuZero; strong at small budgets)."""
    gumbel_actions: int = 16
    """Gumbel: root actions considered before sequential halving."""
    gumbel_c_visit: float = 50.0
    """Gumbel: sigma(q) = (c_visit + max visits) * c_scale * q, q rescaled to [0, 1]."""
    gumbel_c_scale: float = 0.1
    """Gumbel: scale of the value term against the prior logits."""
    win_check: bool = False
    """At each expansion, play every legal move once: a move that wins on the spot makes the
    node a proven win (value 1, only winning moves searched); in games whose threats are
    blocked by playing on them (Connect Four, k-in-a-row), an opponent's win-in-one leaves
    only the blocking move (two: a proven loss). Exact short tactics for one game-step batch."""
    solver: bool = True
    """MCTS-solver: game ends (and win_check's proofs) mark nodes proven won or lost, and a
    proof moves up the tree (a node with a child lost for its mover is won; one whose every
    move reaches a child won for its mover is lost). Proven nodes below the root act as
    terminals, a proven win is always selected, a proven loss never while another move is
    open, and the move played is a proven win where there is one. Without it, a network
    that rates every move as winning can let the most-visited move be a losing one."""

    def __post_init__(self) -> None:
        if self.root_selection not in ("puct", "gumbel"):
            raise ConfigError(f"root_selection must be 'puct' or 'gumbel', got '{self.root_selection}'")
        if self.leaves < 1:
            raise ConfigError(f"leaves must be >= 1, got {self.leaves}")
        if self.gumbel_actions < 1:
            raise ConfigError(f"gumbel_actions must be >= 1, got {self.gumbel_actions}")


@dataclass
class Tree:
    """Search trees of G games with room for `capacity` nodes each (node 0 is the root)."""

    states: GameState  # batch G * capacity, index g * capacity + node
    expanded: np.ndarray  # bool [G, N]
    terminal_value: np.ndarray  # float32 [G, N], from the node's side to move
    prior: np.ndarray  # float32 [G, N, A]
    visits: np.ndarray  # int32 [G, N, A]
    value_sum: np.ndarray  # float32 [G, N, A], from the node's side to move
    children: np.ndarray  # int32 [G, N, A], -1 = not created
    parent: np.ndarray  # int32 [G, N]
    num_nodes: np.ndarray  # int32 [G]
    root_value: np.ndarray  # float32 [G], the evaluator's value of the root
    proven: np.ndarray  # int8 [G, N]: 1 won, -1 lost for the node's side to move, 0 open

    @property
    def games(self) -> int:
        return self.expanded.shape[0]

    def take(self, games: np.ndarray) -> Tree:
        """The trees of the selected games (e.g. the ones still playing)."""
        games = np.asarray(games, dtype=np.int64)
        flat = (games[:, None] * self.capacity + np.arange(self.capacity)[None, :]).ravel()
        return Tree(
            states=self.states.take(flat),
            **{
                name: getattr(self, name)[games].copy()
                for name in (
                    "expanded",
                    "terminal_value",
                    "prior",
                    "visits",
                    "value_sum",
                    "children",
                    "parent",
                    "num_nodes",
                    "root_value",
                    "proven",
                )
            },
        )

    @property
    def capacity(self) -> int:
        return self.expanded.shape[1]


@dataclass
class SearchResult:
    visits: np.ndarray  # float32 [G, A], root visit counts
    q: np.ndarray  # float32 [G, A], root action values (fpu where unvisited)
    value: np.ndarray  # float32 [G], root value estimate from the side to move
    tree: Tree
    improved: np.ndarray | None = None
    """Gumbel search: softmax(prior logits + sigma(completed q)) [G, A], the training target."""
    selected: np.ndarray | None = None
    """Gumbel search: the action sequential halving chose, per game."""
    solved: np.ndarray | None = None
    """MCTS-solver: int8 [G, A], 1 = the move is a proven win for the side to move, -1 a proven loss."""

    def target(self) -> np.ndarray:
        """The policy to train on: the improved policy after a Gumbel search, else visits."""
        return self.improved if self.improved is not None else self.policy(1.0)

    def best_actions(self) -> np.ndarray:
        """The move to play without exploration: a proven win where there is one, else
        Gumbel's selection or the most visited move, avoiding proven losses while another
        move is open."""
        chosen = self.selected if self.selected is not None else self.visits.argmax(axis=1)
        if self.solved is None:
            return chosen
        rows = np.arange(len(chosen))
        legal = self.tree.prior[:, 0] > 0
        wins = self.solved == 1
        open_moves = legal & (self.solved >= 0)
        fallback = np.where(open_moves, self.visits + 1, 0).argmax(axis=1)
        avoid = (self.solved[rows, chosen] == -1) & open_moves.any(axis=1)
        chosen = np.where(avoid, fallback, chosen)
        return np.where(wins.any(axis=1), np.where(wins, self.visits + 1, 0).argmax(axis=1), chosen)

    def policy(self, temperature: float = 1.0) -> np.ndarray:
        """Visit distribution sharpened by 1/temperature (0 = one-hot argmax)."""
        if temperature <= 1e-6:
            best = self.visits == self.visits.max(axis=1, keepdims=True)
            return best / best.sum(axis=1, keepdims=True)
        scaled = self.visits ** (1.0 / temperature)
        return scaled / scaled.sum(axis=1, keepdims=True)


def _masked_priors(priors: np.ndarray, mask: np.ndarray) -> np.ndarray:
    # Legal moves keep a tiny prior so the search can always reach them.
    p = np.where(mask, np.maximum(priors, 1e-8), 0.0)
    total = p.sum(axis=1, keepdims=True)
    uniform = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    return np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform).astype(np.float32)


class MCTS:
    """Batched PUCT search over a game of the batched core."""

    def __init__(
        self, game: Game, evaluator: Evaluator, config: MCTSConfig | None = None, seed: int | None = None
    ) -> None:
        self.game = game
        self.evaluate = evaluator
        self.config = config or MCTSConfig()
        self.rng = np.random.default_rng(seed)
        self.max_depth = game.height * game.width * 2 + 4
        self.last_simulations = 0

    # ------------------------------------------------------------------ trees

    def new_tree(self, roots: GameState, capacity: int | None = None) -> Tree:
        """Empty trees holding `roots` at node 0 (not yet expanded)."""
        games, actions = roots.batch, self.game.num_actions
        # With reuse, a kept subtree may take up to 2 searches' worth of nodes (see advance).
        capacity = capacity or (
            3 * self.config.simulations + 2 if self.config.reuse_tree else self.config.simulations + 1
        )
        index = np.repeat(np.arange(games), capacity)
        states = roots.take(index)
        return Tree(
            states=states,
            expanded=np.zeros((games, capacity), bool),
            terminal_value=np.zeros((games, capacity), np.float32),
            prior=np.zeros((games, capacity, actions), np.float32),
            visits=np.zeros((games, capacity, actions), np.int32),
            value_sum=np.zeros((games, capacity, actions), np.float32),
            children=np.full((games, capacity, actions), -1, np.int32),
            parent=np.full((games, capacity), -1, np.int32),
            num_nodes=np.ones(games, np.int32),
            root_value=np.zeros(games, np.float32),
            proven=np.zeros((games, capacity), np.int8),
        )

    def _flat(self, tree: Tree, games: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        return games * tree.capacity + nodes

    def _expand(self, tree: Tree, games: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Evaluate nodes (games[i], nodes[i]); store priors; return their values."""
        states = tree.states.take(self._flat(tree, games, nodes))
        values = np.zeros(len(games), np.float32)
        live = ~states.done
        if live.any():
            sub = states.take(live)
            priors, value = self.evaluate(sub)
            mask = self.game.legal_mask(sub)
            priors, value = _masked_priors(np.asarray(priors, np.float32), mask), np.array(value, np.float32)
            if self.config.win_check:
                proofs = self._check_wins(sub, priors, value)
                if self.config.solver:
                    tree.proven[games[live], nodes[live]] = proofs
            tree.prior[games[live], nodes[live]] = priors
            values[live] = value
        ended = ~live
        if ended.any():
            # From the node's side to move; the last mover need not be the winner (Othello counts discs).
            winner, to_play = states.winner[ended], states.to_play[ended]
            term = np.where(winner < 0, 0.0, np.where(winner == to_play, 1.0, -1.0)).astype(np.float32)
            tree.terminal_value[games[ended], nodes[ended]] = term
            if self.config.solver:
                tree.proven[games[ended], nodes[ended]] = term.astype(np.int8)
            values[ended] = term
        tree.expanded[games, nodes] = True
        return values

    def _check_wins(self, states: GameState, priors: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Overwrite priors and values, in place, with what one move of lookahead proves;
        return the proofs (int8: 1 won, -1 lost, 0 open) from the side to move."""
        proofs = np.zeros(states.batch, np.int8)
        wins = self.game.winning_moves(states)
        won = wins.any(axis=1)
        priors[won] = wins[won] / wins[won].sum(axis=1, keepdims=True)
        values[won] = 1.0
        proofs[won] = 1
        if not self.game.blockable_threats or won.all():
            return proofs
        rest = np.flatnonzero(~won)
        threats = self.game.winning_moves(states.take(rest), opponent=True)
        count = threats.sum(axis=1)
        forced = rest[count > 0]
        priors[forced] = threats[count > 0] / count[count > 0, None]
        values[rest[count > 1]] = -1.0
        proofs[rest[count > 1]] = -1
        return proofs

    def _add_noise(self, tree: Tree, games: np.ndarray) -> None:
        cfg = self.config
        mask = self.game.legal_mask(tree.states.take(self._flat(tree, games, np.zeros_like(games))))
        noise = self.rng.gamma(cfg.dirichlet_alpha, 1.0, size=mask.shape) * mask
        noise /= np.maximum(noise.sum(axis=1, keepdims=True), 1e-12)
        prior = tree.prior[games, 0]
        tree.prior[games, 0] = ((1 - cfg.dirichlet_eps) * prior + cfg.dirichlet_eps * noise) * mask

    # ------------------------------------------------------------------ search

    def run(
        self,
        roots: GameState | None = None,
        noise: bool = False,
        tree: Tree | None = None,
        simulations: int | None = None,
    ) -> SearchResult:
        """Search from `roots` (or continue `tree`); returns root statistics.

        Root Dirichlet noise is drawn once per root when `noise` (self-play only).
        """
        if tree is None:
            if roots is None:
                raise ValueError("run() needs roots or a tree")
            tree = self.new_tree(roots)
        games = np.arange(tree.games)
        fresh = games[~tree.expanded[:, 0]]
        if len(fresh):
            tree.root_value[fresh] = self._expand(tree, fresh, np.zeros_like(fresh))
        gumbel = self.config.root_selection == "gumbel"
        if noise and not gumbel:
            live = games[~tree.states.done[self._flat(tree, games, np.zeros_like(games))]]
            if len(live):
                self._add_noise(tree, live)
        sims = self.config.simulations if simulations is None else simulations
        before = tree.visits[:, 0].sum(axis=1)
        improved = selected = None
        if gumbel:
            improved, selected = self._gumbel_root(tree, sims, noise)
        else:
            target = before + sims
            root_done = tree.states.done[self._flat(tree, games, np.zeros_like(games))]
            for _ in range(sims):  # a wave adds at least one simulation to every game searching
                left = target - tree.visits[:, 0].sum(axis=1)
                room = (left > 0) & (tree.num_nodes < tree.capacity) & ~root_done
                if not room.any():
                    break
                self._simulate(tree, room, leaves=np.minimum(left, self.config.leaves))
        self.last_simulations = int((tree.visits[:, 0].sum(axis=1) - before).sum())
        root_visits = tree.visits[:, 0].astype(np.float32)
        visited = root_visits > 0
        q = np.where(visited, tree.value_sum[:, 0] / np.maximum(root_visits, 1), self.config.fpu).astype(np.float32)
        total = root_visits.sum(axis=1)
        value = np.where(total > 0, (tree.value_sum[:, 0].sum(axis=1) + tree.root_value) / (total + 1), tree.root_value)
        solved = None
        if self.config.solver:
            solved = -self._child_proofs(tree, games, np.zeros_like(games))
            root_proven = tree.proven[:, 0]
            value = np.where(root_proven != 0, root_proven, value)
        return SearchResult(root_visits, q, value.astype(np.float32), tree, improved, selected, solved)

    # ------------------------------------------------------------------ Gumbel root

    def _sigma(self, tree: Tree) -> np.ndarray:
        """sigma(completed q) of every root action [G, A] (Gumbel MuZero's monotone transform):
        unvisited actions take the mixed value, q is min-max rescaled to [0, 1] per root."""
        cfg = self.config
        visits = tree.visits[:, 0].astype(np.float64)
        prior = tree.prior[:, 0].astype(np.float64)
        visited = visits > 0
        q = np.where(visited, tree.value_sum[:, 0] / np.maximum(visits, 1), 0.0)
        total = visits.sum(axis=1)
        seen_prior = (prior * visited).sum(axis=1)
        weighted_q = (prior * q * visited).sum(axis=1) / np.maximum(seen_prior, 1e-12)
        mixed = (tree.root_value + total * np.where(seen_prior > 0, weighted_q, 0.0)) / (1.0 + total)
        completed = np.where(visited, q, mixed[:, None])
        legal = prior > 0
        low = np.where(legal, completed, np.inf).min(axis=1, keepdims=True)
        high = np.where(legal, completed, -np.inf).max(axis=1, keepdims=True)
        scaled = (completed - low) / np.maximum(high - low, 1e-8)
        return (cfg.gumbel_c_visit + visits.max(axis=1, keepdims=True)) * cfg.gumbel_c_scale * scaled

    def _gumbel_root(self, tree: Tree, sims: int, noise: bool) -> tuple[np.ndarray, np.ndarray]:
        """Sequential halving over the top-m actions by Gumbel + prior logits; each wave
        forces one considered root action per game, all games in one evaluator call."""
        cfg = self.config
        g_all = np.arange(tree.games)
        prior = tree.prior[:, 0]
        legal = prior > 0
        logits = np.where(legal, np.log(np.maximum(prior, 1e-30)), -np.inf)
        # Self-play samples Gumbel noise (exploration without Dirichlet); evaluation does not.
        gumbel = self.rng.gumbel(size=prior.shape) if noise else np.zeros(prior.shape)
        base = np.where(legal, gumbel + logits, -np.inf)
        root_done = tree.states.done[self._flat(tree, g_all, np.zeros_like(g_all))]
        m = np.minimum(cfg.gumbel_actions, legal.sum(axis=1))
        rank = np.argsort(np.argsort(-base, axis=1, kind="stable"), axis=1, kind="stable")
        considered = legal & (rank < m[:, None]) & ~root_done[:, None]
        phases = max(1, int(np.ceil(np.log2(max(int(m.max()), 2)))))
        used = np.zeros(tree.games, np.int64)
        for phase in range(phases):
            k = considered.sum(axis=1)
            if phase == phases - 1:  # the last phase spends what is left
                per = (sims - used) // np.maximum(k, 1)
            else:
                per = sims // (phases * np.maximum(k, 1))
            per = np.where(k > 0, np.maximum(per, 1 if phase == 0 else 0), 0)
            order = np.argsort(~considered, axis=1, kind="stable")  # considered actions first
            for visit in range(int(per.max(initial=0))):
                for slot in range(int(k.max(initial=0))):
                    take = (slot < k) & (visit < per) & (used < sims)
                    room = take & (tree.num_nodes < tree.capacity)
                    if not room.any():
                        continue
                    forced = np.where(room, order[g_all, np.minimum(slot, prior.shape[1] - 1)], -1)
                    self._simulate(tree, room, forced)
                    used += room
            if phase < phases - 1:
                score = np.where(considered, base + self._sigma(tree), -np.inf)
                keep = np.maximum(np.ceil(k / 2), 1)[:, None]
                rank = np.argsort(np.argsort(-score, axis=1, kind="stable"), axis=1, kind="stable")
                considered &= rank < keep
        sigma = self._sigma(tree)
        score = np.where(considered, base + sigma, -np.inf)
        selected = np.where(considered.any(axis=1), score.argmax(axis=1), np.where(legal, prior, -1).argmax(axis=1))
        improved_logits = np.where(legal, logits + sigma, -np.inf)
        improved_logits -= improved_logits.max(axis=1, keepdims=True)
        improved = np.where(legal, np.exp(improved_logits), 0.0)
        improved /= np.maximum(improved.sum(axis=1, keepdims=True), 1e-12)
        return improved.astype(np.float32), selected.astype(np.int64)

    def _simulate(
        self, tree: Tree, room: np.ndarray, forced: np.ndarray | None = None, leaves: np.ndarray | None = None
    ) -> None:
        """One wave: up to `leaves[g]` paths for game g (default 1), one evaluator call for
        every new leaf, then the backups. Between a wave's paths each edge taken counts as a
        lost visit (virtual loss), so the next path of the same game tends elsewhere; a path
        that ends at a new leaf an earlier path of the wave took is dropped (each evaluation
        counts once), so a wave adds at least one simulation per searching game. Selection
        and backup run compiled (kernels.py); expansion is the game's and evaluator's."""
        cfg, games = self.config, tree.games
        leaves = np.ones(games, np.int64) if leaves is None else np.asarray(leaves, np.int64)
        width = int(leaves.max(initial=1))
        virtual = width > 1
        forced = np.full(games, -1, np.int64) if forced is None else np.asarray(forced, np.int64)
        depth = np.zeros((games, width), np.int64)
        nodes = np.empty((games, width, self.max_depth), np.int64)
        actions = np.empty((games, width, self.max_depth), np.int64)
        value = np.zeros((games, width), np.float32)
        leaf = np.full((games, width), -1, np.int64)
        dropped = np.zeros((games, width), bool)
        new = np.empty((4, games * width), np.int64)
        count = kernels.select_wave(
            tree.visits,
            tree.value_sum,
            tree.prior,
            tree.children,
            tree.proven,
            tree.terminal_value,
            tree.states.done.reshape(games, tree.capacity),
            tree.num_nodes,
            np.asarray(room, bool),
            leaves,
            forced,
            float(cfg.c_puct),
            float(cfg.fpu),
            bool(cfg.solver),
            virtual,
            int(self.rng.integers(2**32)),
            depth,
            nodes,
            actions,
            value,
            leaf,
            dropped,
            new,
        )
        if count:
            g, parents, moves, children = new[:, :count]
            values = self._add_children(tree, g, parents, moves, children)
            reached = leaf >= 0
            value[reached] = values[leaf[reached]]
        kernels.backup_wave(
            tree.visits,
            tree.value_sum,
            tree.prior,
            tree.children,
            tree.proven,
            depth,
            nodes,
            actions,
            value,
            dropped,
            virtual,
            bool(cfg.solver),
        )

    def _add_children(
        self, tree: Tree, games: np.ndarray, parents: np.ndarray, actions: np.ndarray, nodes: np.ndarray
    ) -> np.ndarray:
        """Create child `nodes` of (games, parents) by `actions`, evaluate them, return their values."""
        child_states = self.game.step(tree.states.take(self._flat(tree, games, parents)), actions)
        tree.states.put(self._flat(tree, games, nodes), child_states)
        tree.children[games, parents, actions] = nodes
        tree.parent[games, nodes] = parents
        tree.num_nodes += np.bincount(games, minlength=tree.games).astype(tree.num_nodes.dtype)
        return self._expand(tree, games, nodes)

    @staticmethod
    def _child_proofs(tree: Tree, g: np.ndarray, n: np.ndarray) -> np.ndarray:
        """int8 [B, A]: each child's proof from the child's side to move (0 where not created)."""
        kids = tree.children[g, n]
        return np.where(kids >= 0, tree.proven[g[:, None], np.maximum(kids, 0)], 0).astype(np.int8)

    # ------------------------------------------------------------------ tree reuse

    def advance(self, tree: Tree, actions: np.ndarray) -> Tree:
        """Re-root every tree at the child reached by `actions` (its subtree is kept,
        the rest dropped); a child never created starts a fresh, unexpanded root."""
        games, cap = tree.games, tree.capacity
        g_all = np.arange(games)
        child = tree.children[g_all, 0, actions].astype(np.int64)
        keep = np.zeros((games, cap), bool)
        # Keep a subtree only if the next search still fits beside it.
        kept_size = tree.visits[g_all, 0, actions] + 1
        has = (child >= 0) & (kept_size <= cap - self.config.simulations - 1)
        keep[g_all[has], child[has]] = True
        # Parents are always created before their children, so one pass in index order
        # marks each kept node's descendants.
        for n in range(1, cap):
            p = tree.parent[:, n]
            inherit = (p >= 0) & keep[g_all, np.maximum(p, 0)]
            keep[:, n] |= inherit
        new_index = np.where(keep, np.cumsum(keep, axis=1) - 1, -1)
        fresh = self.new_tree(tree.states.take(np.zeros(games, np.int64)), capacity=cap)
        for g in range(games):
            if not has[g]:
                parent_state = tree.states.take([g * cap])
                fresh.states.put(
                    self._flat(fresh, np.array([g]), np.array([0])), self.game.step(parent_state, [actions[g]])
                )
                continue
            old = np.flatnonzero(keep[g])
            new = new_index[g, old]
            fresh.states.put(g * cap + new, tree.states.take(g * cap + old))
            for name in ("expanded", "terminal_value", "prior", "visits", "value_sum", "proven"):
                getattr(fresh, name)[g, new] = getattr(tree, name)[g, old]
            kids = tree.children[g, old]
            fresh.children[g, new] = np.where(kids >= 0, new_index[g, np.maximum(kids, 0)], -1)
            parents = tree.parent[g, old]
            fresh.parent[g, new] = np.where(new == 0, -1, new_index[g, np.maximum(parents, 0)])
            fresh.num_nodes[g] = len(old)
            visits = tree.visits[g, 0, actions[g]]
            fresh.root_value[g] = tree.value_sum[g, 0, actions[g]] / max(visits, 1) * -1.0
        return fresh


def uniform_evaluator(game: Game) -> Evaluator:
    """Uniform priors and value 0: the search's cost alone, and a pure-search baseline."""

    def evaluate(states: GameState) -> tuple[np.ndarray, np.ndarray]:
        return np.ones((states.batch, game.num_actions), np.float32), np.zeros(states.batch, np.float32)

    return evaluate


def rollout_evaluator(game: Game, seed: int | None = None) -> Evaluator:
    """Uniform priors and the result of one random playout per leaf (pure MCTS)."""
    rng = np.random.default_rng(seed)

    def evaluate(states: GameState) -> tuple[np.ndarray, np.ndarray]:
        state = states.copy()
        mover = states.to_play.copy()
        while not state.done.all():
            live = np.flatnonzero(~state.done)
            sub = state.take(live)
            mask = game.legal_mask(sub)
            state.put(live, game.step(sub, (rng.random(mask.shape) * mask).argmax(axis=1)))
        value = np.where(state.winner < 0, 0.0, np.where(state.winner == mover, 1.0, -1.0))
        return np.ones((states.batch, game.num_actions), np.float32), value.astype(np.float32)

    return evaluate
