"""Opponents: perfect tic-tac-toe never loses, alpha-beta beats weaker players,
look-ahead takes wins and blocks losses."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.envs import make_game
from rlgen.envs.opponents import make_opponent, move_values
from rlgen.errors import UnknownNameError


def play_match(name, first, second, games, seed=0):
    """Score of `first` over `games`, alternating sides; returns (wins, draws, losses)."""
    game = make_game(name)
    a, b = make_opponent(first, game, seed), make_opponent(second, game, seed + 1)
    wins = draws = losses = 0
    for i in range(games):
        players = (a, b) if i % 2 == 0 else (b, a)
        state = game.initial(1)
        while not state.done[0]:
            state = game.step(state, players[state.to_play[0]].act(game, state))
        a_side = 0 if i % 2 == 0 else 1
        if state.winner[0] < 0:
            draws += 1
        elif state.winner[0] == a_side:
            wins += 1
        else:
            losses += 1
    return wins, draws, losses


def test_minimax_values_are_the_known_theory():
    empty = make_game("tictactoe").initial(1)
    values = move_values(empty.board[0].tobytes(), 0)
    assert set(values.values()) == {0}  # every first move draws with perfect play


def test_perfect_tictactoe_never_loses():
    assert play_match("tictactoe", "minimax", "random", 100)[2] == 0
    assert play_match("tictactoe", "minimax", "lookahead", 40)[2] == 0


def test_alphabeta_beats_random_and_lookahead_at_connect4():
    wins, _, losses = play_match("connect4", "alphabeta:4", "random", 20)
    assert wins >= 19
    wins, _, losses = play_match("connect4", "alphabeta:4", "lookahead", 10)
    assert wins >= 8


@pytest.mark.parametrize(("name", "depth"), [("othello6", 2), ("gomoku", 2)])
def test_alphabeta_beats_random_elsewhere(name, depth):
    wins, _, _ = play_match(name, f"alphabeta:{depth}", "random", 6)
    assert wins >= 5


def test_lookahead_takes_a_win_and_blocks_a_loss():
    game = make_game("connect4")
    opp = make_opponent("lookahead", game, 0)
    state = game.initial(1)
    for col in (0, 6, 0, 6, 0):  # X has three in column 1 and O three... X to win? O to move
        state = game.step(state, [col])
    assert opp.act(game, state)[0] == 0  # O blocks column 1
    state = game.step(state, [5])  # O plays elsewhere instead
    assert opp.act(game, state)[0] == 0  # X completes column 1


def test_bad_opponent_specs():
    with pytest.raises(UnknownNameError, match="choices: .*alphabeta:D"):
        make_opponent("greedy")
    with pytest.raises(ValueError, match="tic-tac-toe only"):
        make_opponent("minimax", make_game("connect4"))
    with pytest.raises(ValueError, match="needs a depth"):
        make_opponent("alphabeta")
    with pytest.raises(TypeError, match="act\\(game, state\\)"):
        make_opponent(object())


def test_opponents_act_on_batches():
    game = make_game("othello8")
    state = game.initial(5)
    for spec in ("random", "lookahead", "alphabeta:1"):
        actions = make_opponent(spec, game, 0).act(game, state)
        assert actions.shape == (5,)
        assert game.legal_mask(state)[np.arange(5), actions].all()
