"""PettingZoo classic envs as arenas for rlgen policies and opponents."""

from __future__ import annotations

import pytest

from rlgen.envs.arena import OpponentPolicy, RandomPolicy, load_pettingzoo, play_pettingzoo


def test_alphabeta_beats_random_inside_pettingzoo_connect_four():
    env = load_pettingzoo("pettingzoo:connect_four_v3")
    table = play_pettingzoo(
        env, {"alphabeta": OpponentPolicy("alphabeta:3", "connect4", seed=0), "random": RandomPolicy(1)}, games=10
    )
    assert table["alphabeta"]["wins"] >= 9
    assert table["random"]["losses"] == table["alphabeta"]["wins"]


def test_minimax_never_loses_inside_pettingzoo_tictactoe():
    env = load_pettingzoo("pettingzoo:tictactoe_v3")
    table = play_pettingzoo(
        env, {"minimax": OpponentPolicy("minimax", "tictactoe", seed=0), "random": RandomPolicy(2)}, games=20
    )
    assert table["minimax"]["losses"] == 0 and table["minimax"]["wins"] >= 15


def test_any_classic_env_hosts_a_match():
    env = load_pettingzoo("pettingzoo:go_v5", board_size=5, komi=0.5)
    table = play_pettingzoo(env, [RandomPolicy(0), RandomPolicy(1)], games=2)
    assert sum(table["policy_0"].values()) == 2


def test_bad_specs():
    with pytest.raises(ValueError, match="pettingzoo:NAME"):
        load_pettingzoo("connect_four_v3")
    with pytest.raises(ImportError, match="Classic envs"):
        load_pettingzoo("pettingzoo:checkers_v1")
