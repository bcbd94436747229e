"""Batched MCTS: finds forced wins, blocks losses, counts visits, reuses trees."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.agents.alphazero.search import MCTS, MCTSConfig, rollout_evaluator, uniform_evaluator
from rlgen.envs import make_game
from rlgen.envs.game import GameState


def position(name: str, moves: list[int]) -> GameState:
    game = make_game(name)
    state = game.initial(1)
    for move in moves:
        state = game.step(state, [move])
    return state


def best_move(name, moves, sims=200, batch=1):
    game = make_game(name)
    roots = GameState.concat([position(name, moves)] * batch)
    result = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=sims), seed=0).run(roots)
    return result, result.visits.argmax(axis=1)


def test_finds_a_win_in_one_tictactoe():
    # X: a1, b1; O: a2, b2 -> X to play c1 (action 2) wins.
    result, move = best_move("tictactoe", [0, 3, 1, 4], batch=8)
    assert np.all(move == 2)
    assert result.value[0] > 0.5


def test_blocks_a_loss_in_one_tictactoe():
    # X: a1, b2; O: c3 ... X threatens a1-b2-c3? no: X a1, X b1 threatens c1; O must block.
    result, move = best_move("tictactoe", [0, 4, 1], sims=300)
    assert move[0] == 2


def test_connect4_win_and_block():
    _, move = best_move("connect4", [0, 6, 0, 6, 0, 6], sims=200)  # X wins in column 1
    assert move[0] == 0
    _, move = best_move("connect4", [0, 6, 0, 6, 0], sims=400)  # O must block column 1
    assert move[0] == 0


def test_visit_counts_and_finished_roots():
    game = make_game("connect4")
    over = position("tictactoe", [0, 3, 1, 4, 2])
    assert over.done[0]
    mcts = MCTS(make_game("tictactoe"), uniform_evaluator(make_game("tictactoe")), MCTSConfig(simulations=50))
    roots = GameState.concat([position("tictactoe", []), over])
    result = mcts.run(roots)
    assert result.visits[0].sum() == 50 and result.visits[1].sum() == 0
    illegal = ~make_game("tictactoe").legal_mask(roots)[0]
    assert result.visits[0][illegal].sum() == 0
    c4 = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=64), seed=0).run(game.initial(16), noise=True)
    assert np.all(c4.visits.sum(axis=1) == 64)
    assert not np.all(c4.visits == c4.visits[0])  # root noise differs per game


def test_tree_reuse_keeps_the_subtree():
    game = make_game("connect4")
    mcts = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=100), seed=0)
    result = mcts.run(game.initial(4))
    actions = result.visits.argmax(axis=1)
    child = result.tree.children[np.arange(4), 0, actions]
    kept_visits = result.tree.visits[np.arange(4), child].sum(axis=1)
    tree = mcts.advance(result.tree, actions)
    assert np.array_equal(tree.visits[:, 0].sum(axis=1), kept_visits)
    expected = game.step(game.initial(4), actions)
    assert np.array_equal(tree.states.board[:: tree.capacity], expected.board)
    again = mcts.run(tree=tree)
    assert np.all(again.visits.sum(axis=1) == kept_visits + 100)


@pytest.mark.parametrize("sims", [16, 100])
def test_pure_mcts_beats_random_at_tictactoe(sims):
    game = make_game("tictactoe")
    mcts = MCTS(game, rollout_evaluator(game, seed=0), MCTSConfig(simulations=sims, reuse_tree=False), seed=0)
    rng = np.random.default_rng(0)
    state = game.initial(40)
    mcts_side = np.arange(40) % 2
    while not state.done.all():
        live = np.flatnonzero(~state.done)
        sub = state.take(live)
        result = mcts.run(sub)
        mask = game.legal_mask(sub)
        random_moves = (rng.random(mask.shape) * mask).argmax(axis=1)
        moves = np.where(sub.to_play == mcts_side[live], result.visits.argmax(axis=1), random_moves)
        state.put(live, game.step(sub, moves))
    lost = (state.winner >= 0) & (state.winner != mcts_side)
    assert lost.sum() <= (6 if sims == 16 else 2)


def gumbel_search(name, moves, sims, batch=1, noise=False, seed=0, **kwargs):
    game = make_game(name)
    roots = GameState.concat([position(name, moves)] * batch)
    config = MCTSConfig(simulations=sims, root_selection="gumbel", **kwargs)
    return MCTS(game, uniform_evaluator(game), config, seed=seed).run(roots, noise=noise)


@pytest.mark.parametrize("noise", [False, True])
def test_gumbel_finds_win_and_block_with_a_small_budget(noise):
    cases = [
        ("tictactoe", [0, 3, 1, 4], 8, 2),
        ("connect4", [0, 6, 0, 6, 0, 6], 32, 0),
        ("connect4", [0, 6, 0, 6, 0], 64, 0),
    ]
    for name, moves, sims, answer in cases:
        result = gumbel_search(name, moves, sims=sims, batch=16, noise=noise)
        # The improved policy (the training target) ranks the right move first in every game.
        assert np.all(result.improved.argmax(axis=1) == answer), (name, moves)
        if noise:  # self-play samples through the Gumbel noise: a win in one still dominates
            if len(moves) % 2 == 0:
                assert np.mean(result.best_actions() == answer) >= 0.75, (name, moves)
        else:
            assert np.all(result.best_actions() == answer), (name, moves)


def test_gumbel_budget_improved_policy_and_halving():
    game = make_game("connect4")
    roots = GameState.concat([game.initial(3), position("connect4", [0, 6, 0, 6, 0, 6])])
    for sims in (4, 7, 50):
        config = MCTSConfig(simulations=sims, root_selection="gumbel", gumbel_actions=4)
        result = MCTS(game, uniform_evaluator(game), config, seed=1).run(roots, noise=True)
        used = result.visits.sum(axis=1)
        assert np.all(used <= sims) and np.all(used >= min(sims, 4))
        assert np.allclose(result.improved.sum(axis=1), 1.0, atol=1e-5)
        assert np.all(np.count_nonzero(result.visits, axis=1) <= 4)  # only the considered actions
        # The selected action is among the most visited (halving keeps visiting the survivors).
        chosen = result.visits[np.arange(len(used)), result.selected]
        assert np.all(chosen == result.visits.max(axis=1))
    full = MCTS(
        make_game("tictactoe"),
        uniform_evaluator(make_game("tictactoe")),
        MCTSConfig(simulations=20, root_selection="gumbel"),
    ).run(position("tictactoe", [4]))
    illegal = ~make_game("tictactoe").legal_mask(position("tictactoe", [4]))[0]
    assert full.improved[0][illegal].sum() == 0 and full.visits[0][illegal].sum() == 0
    # Without noise the search is deterministic; with noise, games explore differently.
    a = gumbel_search("connect4", [], sims=16, batch=4)
    assert np.all(a.selected == a.selected[0])
    b = gumbel_search("connect4", [], sims=16, batch=32, noise=True)
    assert len(np.unique(b.selected)) > 1


def test_gumbel_config_errors():
    from rlgen.errors import ConfigError

    with pytest.raises(ConfigError, match="'puct' or 'gumbel'"):
        MCTSConfig(root_selection="greedy")
    with pytest.raises(ConfigError, match="gumbel_actions"):
        MCTSConfig(root_selection="gumbel", gumbel_actions=0)


def test_terminal_values_follow_the_winner_not_the_last_mover():
    """Othello counts discs at the end: the last mover can lose, and search must see it."""
    game = make_game("othello6")
    rng = np.random.default_rng(0)
    state = game.initial(64)
    last_mover = np.zeros(64, np.int8)
    while not state.done.all():
        live = np.flatnonzero(~state.done)
        sub = state.take(live)
        mask = game.legal_mask(sub)
        last_mover[live] = sub.to_play
        state.put(live, game.step(sub, (rng.random(mask.shape) * mask).argmax(axis=1)))
    lost = np.flatnonzero((state.winner >= 0) & (state.winner != last_mover))
    won = np.flatnonzero((state.winner >= 0) & (state.winner == last_mover))
    assert len(lost) and len(won)
    result = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=4)).run(state.take(np.concatenate([lost, won])))
    # Values are from the side to move at the finished position (the player after the last mover).
    assert np.all(result.value[: len(lost)] == 1.0) and np.all(result.value[len(lost) :] == -1.0)


def test_playout_cap_randomization_keeps_only_the_full_searches():
    """A fraction of moves get the full search and become training positions; the rest get
    the fast search and are only played. Without tree reuse the simulation count tells the
    two apart exactly."""
    from rlgen.agents.alphazero.selfplay import SelfPlayParams, play_games

    game = make_game("tictactoe")
    mcts = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=16, reuse_tree=False), seed=0)
    every = play_games(game, mcts, np.random.default_rng(0), SelfPlayParams(32, 2, False, -1.0, 0.0))
    assert len(every.outcome) == every.lengths.sum() and every.simulations == 16 * every.lengths.sum()
    capped = play_games(game, mcts, np.random.default_rng(0), SelfPlayParams(32, 2, False, -1.0, 0.0, 0.3, 4))
    plies, kept = int(capped.lengths.sum()), len(capped.outcome)
    assert 0 < kept < plies and len(capped.planes) == len(capped.policy) == len(capped.root_value) == kept
    assert capped.simulations == 16 * kept + 4 * (plies - kept)
    assert np.allclose(capped.policy.sum(axis=1), 1.0)


def misleading_evaluator(game, favourite: int):
    """All prior on one move, value 0: a network that has not learnt the tactics."""

    def evaluate(states):
        priors = np.full((states.batch, game.num_actions), 1e-4, np.float32)
        priors[:, favourite] = 1.0
        return priors, np.zeros(states.batch, np.float32)

    return evaluate


@pytest.mark.parametrize(("moves", "answer"), [([0, 6, 0, 6, 0, 6], 0), ([0, 6, 0, 6, 0], 0)])
def test_win_check_finds_wins_and_blocks_that_the_prior_hides(moves, answer):
    """With the prior on another column and 8 simulations, the plain search plays the
    prior's move; with win_check it wins in one / blocks the win in one."""
    game = make_game("connect4")
    root = position("connect4", moves)
    for check, expected in ((False, 3), (True, answer)):
        mcts = MCTS(game, misleading_evaluator(game, favourite=3), MCTSConfig(simulations=8, win_check=check), seed=0)
        result = mcts.run(root)
        assert result.best_actions()[0] == expected, (check, result.visits)
    if len(moves) % 2 == 0:  # the side to move wins in one: a proven win
        assert result.value[0] == 1.0


def test_win_check_sees_a_double_threat_as_lost():
    # X on the bottom row in columns 2-4 with 1 and 5 open; O (to move) blocks one, X plays the other.
    game = make_game("connect4")
    root = position("connect4", [1, 1, 2, 2, 3])
    result = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=16, win_check=True), seed=0).run(root)
    assert result.value[0] == -1.0
    assert set(np.flatnonzero(result.visits[0])) <= {0, 4}  # only the blocks are searched
    plain = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=16), seed=0).run(root)
    assert plain.value[0] > -0.9  # without the check, 16 simulations do not see it


def test_solver_never_plays_a_move_the_search_proved_lost():
    """O must block X's c1 threat; the evaluator puts all prior on c3 (a losing move).
    The plain search plays its favourite; the solver proves c3 lost once X's win below it
    is found, and plays the block."""
    game = make_game("tictactoe")
    root = position("tictactoe", [0, 4, 1])
    plain = MCTS(game, misleading_evaluator(game, favourite=8), MCTSConfig(simulations=32, solver=False), seed=0).run(
        root
    )
    assert plain.best_actions()[0] == 8 and plain.solved is None
    result = MCTS(game, misleading_evaluator(game, favourite=8), MCTSConfig(simulations=32), seed=0).run(root)
    assert result.solved[0, 8] == -1
    assert result.best_actions()[0] == 2
    assert result.solved[0, 2] == 0  # the block draws with best play: proven neither way


def test_solver_proves_a_fork():
    """X a1, b2 vs O b1, c3, X to move: a2 and a3 both fork, so after 50 simulations the
    solver knows the root is won (value exactly 1, the move played a proven-winning fork)
    where the plain search's average is still far from it."""
    game = make_game("tictactoe")
    root = position("tictactoe", [0, 1, 4, 8])
    plain = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=50, solver=False), seed=0).run(root)
    assert plain.value[0] < 0.5
    result = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=50), seed=0).run(root)
    assert result.value[0] == 1.0
    move = result.best_actions()[0]
    assert move in (3, 6) and result.solved[0, move] == 1
    assert set(np.flatnonzero(result.solved[0] == 1)) <= {3, 6}
    assert (result.solved[0] >= 0).all()  # no move of a won position is proven lost here


def test_solver_proofs_survive_tree_reuse():
    """After the proven fork is played, the reused subtree's root (O to move) is already a
    proven loss: the next search reports exactly -1 and every O move as a proven loss or open."""
    game = make_game("tictactoe")
    mcts = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=50, reuse_tree=True), seed=0)
    first = mcts.run(position("tictactoe", [0, 1, 4, 8]))
    fork = first.best_actions()
    assert first.solved[0, fork[0]] == 1
    tree = mcts.advance(first.tree, fork)
    assert tree.proven[0, 0] == -1
    second = mcts.run(tree=tree)
    assert second.value[0] == -1.0
    assert (second.solved[0] <= 0).all()


def counting(evaluator):
    calls = []

    def evaluate(states):
        calls.append(states.batch)
        return evaluator(states)

    return evaluate, calls


@pytest.mark.parametrize("name", ["tictactoe", "connect4"])
def test_several_leaves_per_call_spend_the_budget_in_fewer_calls(name):
    game = make_game(name)
    roots = GameState.concat([position(name, []), position(name, [3, 4] if name == "connect4" else [4, 0])])
    evaluate, calls = counting(rollout_evaluator(game, seed=0))
    tree = MCTS(game, evaluate, MCTSConfig(simulations=200, leaves=8, solver=False), seed=0).run(roots).tree
    assert np.all(tree.visits[:, 0].sum(axis=1) == 200)
    # The roots, then one call per wave of 8 leaves (a few more where a wave's paths met at
    # one new leaf and the later ones were dropped) instead of 200.
    assert 1 + 25 <= len(calls) <= 1 + 25 + 5
    # No virtual loss is left behind: every edge into an open, expanded child was taken once
    # to create it plus once for each of the child's own visits, and its value is a mean result.
    for g in range(tree.games):
        for parent in range(tree.num_nodes[g]):
            for action in np.flatnonzero(tree.children[g, parent] >= 0):
                child = tree.children[g, parent, action]
                edge = tree.visits[g, parent, action]
                if tree.expanded[g, child] and not tree.states.done[g * tree.capacity + child]:
                    assert edge == 1 + tree.visits[g, child].sum()
                assert abs(tree.value_sum[g, parent, action]) <= edge + 1e-4


@pytest.mark.parametrize("leaves", [4, 16])
def test_several_leaves_per_call_still_find_win_and_block(leaves):
    game = make_game("tictactoe")
    for moves, answer in (([0, 3, 1, 4], 2), ([0, 4, 1], 2)):  # win in one; block a win in one
        search = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=400, leaves=leaves, solver=False), seed=0)
        assert search.run(position("tictactoe", moves)).visits.argmax(axis=1)[0] == answer
    with pytest.raises(ValueError, match="leaves must be >= 1"):
        MCTSConfig(leaves=0)
