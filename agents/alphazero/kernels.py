"""The search's inner loops, compiled (numba): a wave's selection paths and their backups.

Both walk one game's tree node by node. In numpy every tree level of every path costs a
dozen array calls whatever the batch, which dominated play and evaluation searches (a
few games, hundreds of simulations each); compiled, a wave costs about as much as the
evaluator call between its selection and its backup. Tree arrays are those of
`search.Tree`: visits / value_sum / prior / children [G, N, A], proven / terminal_value /
done [G, N], num_nodes [G].
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _choose(visits, value_sum, prior, children, proven, g, n, c_puct, fpu, solver):
    """PUCT's move at node (g, n), ties broken at random. With the solver: a move to a
    child lost for its mover always, one to a child won for its mover never while
    another legal move is not."""
    actions = visits.shape[2]
    total = 0
    open_move = False
    for a in range(actions):
        total += visits[g, n, a]
        if solver and prior[g, n, a] > 0:
            child = children[g, n, a]
            if child < 0 or proven[g, child] != 1:
                open_move = True
    scale = c_puct * np.sqrt(total + 1.0)
    best, best_action = -np.inf, -1
    for a in range(actions):
        p = prior[g, n, a]
        if p <= 0:
            continue
        if best_action < 0:
            best_action = a
        v = visits[g, n, a]
        q = value_sum[g, n, a] / v if v > 0 else fpu
        score = q + scale * p / (1.0 + v) + 1e-7 * np.random.random()
        if solver:
            child = children[g, n, a]
            kid = proven[g, child] if child >= 0 else 0
            if kid == -1:
                score = np.inf
            elif kid == 1 and open_move:
                score = -np.inf
        if score > best:
            best, best_action = score, a
    return best_action


@_jit
def select_wave(
    visits,
    value_sum,
    prior,
    children,
    proven,
    terminal_value,
    done,
    num_nodes,
    room,
    leaves,
    forced,
    c_puct,
    fpu,
    solver,
    virtual,
    seed,
    depth,
    nodes,
    actions,
    value,
    leaf,
    dropped,
    new,
):
    """Up to `leaves[g]` paths from every root in `room` down to a child not yet created, a
    game end or (below the root) a proven node; returns how many new children the wave
    creates, listed in `new` [4, :] as (game, parent, action, node index).

    Per path (g, i): `depth` edges in `nodes` / `actions`, `value` at a game end or proof
    (from the last node's side to move), `leaf` = its row in `new` (-1 = none). With
    `virtual`, each path's edges count as lost visits for the paths after it; a path ending
    at a child an earlier path of the wave creates is `dropped` (each evaluation counts
    once). `forced[g] >= 0` fixes the root move (Gumbel's sequential halving)."""
    np.random.seed(seed)
    games, capacity = done.shape
    count = 0
    for g in range(games):
        if not room[g] or done[g, 0]:
            continue
        first = count
        for i in range(leaves[g]):
            if num_nodes[g] + (count - first) >= capacity:
                break
            n, d = 0, 0
            while True:
                if done[g, n]:
                    value[g, i] = terminal_value[g, n]
                    break
                if d > 0 and proven[g, n] != 0:
                    value[g, i] = proven[g, n]
                    break
                a = _choose(visits, value_sum, prior, children, proven, g, n, c_puct, fpu, solver)
                if d == 0 and forced[g] >= 0:
                    a = forced[g]
                nodes[g, i, d] = n
                actions[g, i, d] = a
                d += 1
                child = children[g, n, a]
                if child >= 0:
                    n = child
                    continue
                row = first
                while row < count and not (new[1, row] == n and new[2, row] == a):
                    row += 1
                if row == count:
                    new[0, row], new[1, row], new[2, row] = g, n, a
                    new[3, row] = num_nodes[g] + (count - first)
                    count += 1
                else:
                    dropped[g, i] = True
                leaf[g, i] = row
                break
            depth[g, i] = d
            if virtual:
                for k in range(d):
                    visits[g, nodes[g, i, k], actions[g, i, k]] += 1
                    value_sum[g, nodes[g, i, k], actions[g, i, k]] -= 1.0
    return count


@_jit
def _prove(prior, children, proven, g, n):
    """Mark node (g, n) won if a child is lost for its mover, lost if every legal child is
    won for its mover (negamax over proofs)."""
    if proven[g, n] != 0:
        return
    any_legal, won, all_won = False, False, True
    for a in range(prior.shape[2]):
        if prior[g, n, a] <= 0:
            continue
        any_legal = True
        child = children[g, n, a]
        kid = proven[g, child] if child >= 0 else 0
        if kid == -1:
            won = True
        if kid != 1:
            all_won = False
    if won:
        proven[g, n] = 1
    elif any_legal and all_won:
        proven[g, n] = -1


@_jit
def backup_wave(visits, value_sum, prior, children, proven, depth, nodes, actions, value, dropped, virtual, solver):
    """Each path's value up its edges (the edge at depth k belongs to the player at node k;
    the value, from the last node's side to move, flips sign at every level), virtual
    losses taken back; with the solver, proofs climb the path deepest first."""
    games, width = depth.shape
    for g in range(games):
        for i in range(width):
            d = depth[g, i]
            if virtual:
                for k in range(d):
                    visits[g, nodes[g, i, k], actions[g, i, k]] -= 1
                    value_sum[g, nodes[g, i, k], actions[g, i, k]] += 1.0
            if d == 0 or dropped[g, i]:
                continue
            for k in range(d):
                sign = -1.0 if (d - k) % 2 == 1 else 1.0
                visits[g, nodes[g, i, k], actions[g, i, k]] += 1
                value_sum[g, nodes[g, i, k], actions[g, i, k]] += sign * value[g, i]
            if solver:
                for k in range(d - 1, -1, -1):
                    _prove(prior, children, proven, g, nodes[g, i, k])
