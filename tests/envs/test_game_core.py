"""The batched game core against outside references, properties and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlgen.envs.game import IllegalMoveError, make_game
from rlgen.errors import UnknownNameError

GAMES = ["tictactoe", "connect4", "othello6", "othello8", "gomoku"]


def expand_all(game, state):
    """Every legal move of every position, as one batch (the positions and the moves)."""
    b, a = np.nonzero(game.legal_mask(state))
    return game.step(state.take(b), a)


def test_tictactoe_positions_and_games():
    game = make_game("tictactoe")
    state = game.initial(1)
    positions = set(state.key())
    games = 0
    while state.batch:
        state = expand_all(game, state)
        positions.update(state.key())
        games += int(state.done.sum())
        state = state.take(~state.done)
    assert len(positions) == 5478
    assert games == 255168


def test_othello8_perft_from_the_start_position():
    game = make_game("othello8")
    state = game.initial(1)
    counts = []
    for _ in range(8):
        state = expand_all(game, state)
        counts.append(state.batch)
        state = state.take(~state.done)
    assert counts == [4, 12, 56, 244, 1396, 8200, 55092, 390216]


def random_playout(game, batch, rng, max_moves=400):
    """Random games in lockstep; returns final states."""
    state = game.initial(batch)
    finished = []
    for _ in range(max_moves):
        if not state.batch:
            break
        mask = game.legal_mask(state)
        pick = (rng.random(mask.shape) * mask).argmax(axis=1)
        state = game.step(state, pick)
        finished.append(state.take(state.done))
        state = state.take(~state.done)
    assert state.batch == 0, "some games never ended"
    from rlgen.envs.game import GameState

    return GameState.concat(finished)


@pytest.mark.parametrize("name", GAMES)
def test_random_games_end_with_consistent_results(name):
    game = make_game(name)
    final = random_playout(game, 64, np.random.default_rng(0))
    assert final.batch == 64
    returns = game.returns(final)
    assert np.all(returns.sum(axis=1) == 0)
    stones = (final.board != 0).reshape(final.batch, -1).sum(1)
    if name.startswith("othello"):
        score = game.score(final)
        expected = np.where(score[:, 0] > score[:, 1], 0, np.where(score[:, 0] < score[:, 1], 1, -1))
        assert np.array_equal(final.winner, expected)
        assert np.all(game.legal_mask(final) == 0)
    else:
        assert np.array_equal(stones, final.moves)  # one stone per move, none removed
    # No move is possible after the end.
    with pytest.raises(IllegalMoveError, match="already over"):
        game.step(final.take([0]), [0])


@pytest.mark.parametrize("name", GAMES)
def test_observation_planes_are_from_the_side_to_move(name):
    game = make_game(name)
    state = game.initial(2)
    state = game.step(state, np.flatnonzero(game.legal_mask(state)[0])[[0, -1]])
    planes = game.observation(state)
    assert planes.shape == (2, 2, *game.board_shape) and planes.dtype == np.float32
    own = state.board == np.where(state.to_play == 0, 1, -1)[:, None, None]
    assert np.array_equal(planes[:, 0].astype(bool), own)
    assert not np.any(planes[:, 0] * planes[:, 1])


def test_illegal_moves_and_bad_input_have_clear_errors():
    game = make_game("tictactoe")
    state = game.step(game.initial(1), [4])
    with pytest.raises(IllegalMoveError) as err:
        game.step(state, [4])
    assert "illegal move b2 (action 4)" in str(err.value) and "legal moves: a1, b1" in str(err.value)
    with pytest.raises(IllegalMoveError, match="outside 0..8"):
        game.step(state, [9])
    with pytest.raises(ValueError, match="expected 1 actions"):
        game.step(state, [1, 2])
    with pytest.raises(ValueError, match="must be integers"):
        game.step(state, [1.5])
    c4 = make_game("connect4")
    full = c4.initial(1)
    for _ in range(6):
        full = c4.step(full, [3])
    with pytest.raises(IllegalMoveError, match="illegal move 4 .*legal moves: 1, 2, 3, 5, 6, 7"):
        c4.step(full, [3])
    with pytest.raises(UnknownNameError, match="choices: connect4, gomoku"):
        make_game("chess")


def test_human_move_parsing():
    ttt = make_game("tictactoe")
    state = ttt.initial(1)
    assert ttt.parse_move("b2", state) == 4 == ttt.parse_move(" 5 ", state)
    state = ttt.step(state, [4])
    with pytest.raises(IllegalMoveError, match="'b2' is not legal here .*legal moves: a1"):
        ttt.parse_move("b2", state)
    with pytest.raises(IllegalMoveError, match="'zz' is not a move"):
        ttt.parse_move("zz", state)
    oth = make_game("othello8")
    assert oth.action_to_text(oth.parse_move("d3", oth.initial(1))) == "d3"
    with pytest.raises(IllegalMoveError, match="legal moves: d3, c4, f5, e6"):
        oth.parse_move("pass", oth.initial(1))
    c4 = make_game("connect4")
    assert c4.parse_move("7", c4.initial(1)) == 6
    assert "1 2 3 4 5 6 7" in c4.render(c4.initial(1))


def test_othello_pass_is_the_only_move_when_stuck():
    game = make_game("othello6")
    state = game.initial(1)
    # Black fills a corner region so that white has no move but black still has.
    board = np.zeros((6, 6), np.int8)
    board[0, :3] = 1
    board[0, 3] = -1
    board[1, 0] = 1
    state.board[0] = board
    state.to_play[0] = 1  # white to move: no flips possible
    mask = game.legal_mask(state)[0]
    assert mask[game.pass_action] and mask.sum() == 1
    after = game.step(state, [game.pass_action])
    assert not after.done[0] and after.to_play[0] == 0 and after.passes[0] == 1
    assert game.legal_mask(after)[0, : game.pass_action].any()


def test_gomoku_size_and_five_in_a_row():
    game = make_game("gomoku", size=7)
    assert game.board_shape == (7, 7)
    state = game.initial(1)
    for col in range(4):  # X on row 1, O on row 3
        state = game.step(state, [col])
        state = game.step(state, [14 + col])
    assert not state.done[0]
    state = game.step(state, [4])
    assert state.done[0] and state.winner[0] == 0


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(GAMES), seed=st.integers(0, 2**31 - 1), moves=st.integers(0, 40), symmetry=st.integers(0, 7)
)
def test_random_sequences_keep_invariants_and_symmetries(name, seed, moves, symmetry):
    game = make_game(name)
    symmetry %= len(game.symmetries())
    rng = np.random.default_rng(seed)
    state = game.initial(1)
    mirrored = game.transform_state(state, symmetry)
    for _ in range(moves):
        if state.done[0]:
            with pytest.raises(IllegalMoveError):
                game.step(state, [0])
            break
        mask = game.legal_mask(state)[0]
        action = int(rng.choice(np.flatnonzero(mask)))
        moved = game.transform_action(np.array([action]), symmetry)
        # A symmetry maps the legal moves onto the legal moves of the mirrored position.
        mirrored_mask = game.legal_mask(mirrored)[0]
        assert np.array_equal(
            np.flatnonzero(mirrored_mask), np.sort(game.transform_action(np.flatnonzero(mask), symmetry))
        )
        before = (state.board != 0).sum()
        state = game.step(state, [action])
        mirrored = game.step(mirrored, moved)
        stones = (state.board != 0).sum()
        if action == game.pass_action:
            assert stones == before
        else:
            assert stones == before + 1  # one stone placed (Othello flips, never removes)
        assert np.array_equal(game.transform_state(state, symmetry).board, mirrored.board)
        assert state.done[0] == mirrored.done[0] and state.winner[0] == mirrored.winner[0]


def test_augment_applies_the_same_symmetry_to_planes_and_policy():
    game = make_game("connect4")
    state = game.step(game.initial(1), [0])
    planes = game.observation(state)
    policy = np.eye(7, dtype=np.float32)[[0]]
    (p0, pi0), (p1, pi1) = game.augment(planes, policy)
    assert np.array_equal(p0, planes) and np.array_equal(pi0, policy)
    assert p1[0, 1, 5, 6] == 1 and pi1[0, 6] == 1  # the stone in column 1 now sits in column 7
    assert len(make_game("othello8").augment(np.zeros((1, 2, 8, 8)), np.zeros((1, 65)))) == 8


@pytest.mark.parametrize("name", ["connect4", "tictactoe", "othello6"])
def test_winning_moves_are_the_moves_that_win(name):
    """Each game's winning_moves (Connect Four's on bitboards) equals stepping every legal
    move and looking at the winner, for the side to move and for its opponent."""
    from rlgen.envs.game import Game

    game, rng = make_game(name), np.random.default_rng(0)
    state, seen = game.initial(300), 0
    while not state.done.all():
        live = np.flatnonzero(~state.done)
        sub = state.take(live)
        legal = game.legal_mask(sub)
        for opponent in (False, True):
            wins = game.winning_moves(sub, opponent=opponent)
            assert np.array_equal(wins, Game.winning_moves(game, sub, opponent=opponent))
            seen += wins.sum()
            mover = sub.to_play if not opponent else 1 - sub.to_play
            for b, a in zip(*np.nonzero(wins), strict=True):  # spot-check against a full step
                one = sub.take([b])
                one.to_play[:] = mover[b]
                after = game.step(one, [a])
                assert after.done[0] and after.winner[0] == mover[b]
                break
        assert not (game.winning_moves(sub) & ~legal).any()
        state.put(live, game.step(sub, (rng.random(legal.shape) * legal).argmax(axis=1)))
    assert seen > 0
    assert not game.winning_moves(state).any()  # finished games have no moves
