"""PettingZoo: our AEC envs pass PettingZoo's own tests, and our core replays
PettingZoo's tic-tac-toe and Connect Four move for move."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.classic import connect_four_v3, tictactoe_v3
from pettingzoo.test import api_test, seed_test

from rlgen.envs import IllegalMoveError, make_game, pettingzoo_env

GAMES = ["tictactoe", "connect4", "othello6", "othello8", "gomoku"]


@pytest.mark.parametrize("name", GAMES)
def test_api_and_seed_tests_pass(name):
    api_test(pettingzoo_env(name), num_cycles=200)
    seed_test(lambda: pettingzoo_env(name), num_cycles=200)


@pytest.mark.parametrize(("name", "reference"), [("tictactoe", tictactoe_v3), ("connect4", connect_four_v3)])
def test_random_games_match_pettingzoo_move_for_move(name, reference):
    """10,000 random games replayed in PettingZoo's own env: same observation and legal
    moves every turn, same result."""
    game = make_game(name)
    rng = np.random.default_rng(0)
    theirs = reference.env()
    results = {0: 0, 1: 0, -1: 0}
    for _ in range(10_000):
        theirs.reset()
        ours = game.initial(1)
        while True:
            agent = theirs.agent_selection
            obs, _, term, trunc, _ = theirs.last()
            mask = game.legal_mask(ours)[0]
            if term or trunc:
                break
            assert np.array_equal(obs["action_mask"].astype(bool), mask)
            assert np.array_equal(obs["observation"], game.observation(ours)[0].transpose(1, 2, 0).astype(np.int8))
            action = int(rng.choice(np.flatnonzero(mask)))
            theirs.step(action)
            ours = game.step(ours, [action])
            assert bool(ours.done[0]) == all(theirs.terminations.values()), agent
        rewards = [theirs.rewards[a] for a in theirs.possible_agents]
        assert ours.done[0]
        assert rewards == game.returns(ours)[0].tolist()
        results[int(ours.winner[0])] += 1
    assert results[0] > 100 and results[1] > 100  # both sides won often
    assert results[-1] > (100 if name == "tictactoe" else 0)  # and draws occurred


def test_illegal_move_options():
    env = pettingzoo_env("tictactoe", illegal="error")
    env.reset()
    env.step(4)
    with pytest.raises(IllegalMoveError, match="legal moves: a1, b1, c1"):
        env.step(4)
    env = pettingzoo_env("tictactoe")  # PettingZoo's convention: the offender loses
    env.reset()
    env.step(4)
    env.step(4)
    assert env.rewards["player_1"] == -1 and all(env.terminations.values())
    with pytest.raises(ValueError, match="illegal must be one of"):
        pettingzoo_env("tictactoe", illegal="ignore")


def test_ansi_render():
    env = pettingzoo_env("connect4", render_mode="ansi")
    env.reset()
    env.step(3)
    lines = env.render().splitlines()
    assert lines[0] == "1 2 3 4 5 6 7" and lines[-2] == ". . . X . . ." and lines[-1] == "O to move"
    assert all(line == ". . . . . . ." for line in lines[1:-2])
