"""MCTS over PettingZoo's own classic envs through the state-copying adapter."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.classic import connect_four_v3, tictactoe_v3

from rlgen.agents.alphazero.search import MCTS, MCTSConfig, rollout_evaluator, uniform_evaluator
from rlgen.envs import IllegalMoveError, make_game
from rlgen.envs.pettingzoo_game import PettingZooGame


def played(game, moves, batch=1):
    state = game.initial(batch)
    for move in moves:
        state = game.step(state, np.full(batch, move))
    return state


def test_search_matches_the_numpy_core_move_for_move():
    """Same layout, same seed, uniform evaluator: identical visit counts at every root."""
    adapter, core = PettingZooGame(tictactoe_v3.env()), make_game("tictactoe")
    for moves in ([], [4], [0, 3, 1, 4], [0, 4, 8]):
        config = MCTSConfig(simulations=60, reuse_tree=False)
        a = MCTS(adapter, uniform_evaluator(adapter), config, seed=3).run(played(adapter, moves, 2))
        b = MCTS(core, uniform_evaluator(core), config, seed=3).run(played(core, moves, 2))
        assert np.array_equal(a.visits, b.visits), moves
        assert np.allclose(a.value, b.value)


def test_connect_four_win_and_block_through_the_adapter():
    game = PettingZooGame("pettingzoo:connect_four_v3")
    win = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=100), seed=0).run(played(game, [0, 6, 0, 6, 0, 6]))
    assert win.best_actions()[0] == 0 and win.value[0] > 0.5
    gumbel = MCTSConfig(simulations=64, root_selection="gumbel")
    block = MCTS(game, uniform_evaluator(game), gumbel, seed=0).run(played(game, [0, 6, 0, 6, 0]))
    assert block.best_actions()[0] == 0
    # The win check works through the adapter (wins only: a foreign game's threats are not assumed blockable).
    checked = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=4, win_check=True), seed=0)
    proven = checked.run(played(game, [0, 6, 0, 6, 0, 6]))
    assert proven.best_actions()[0] == 0 and proven.value[0] == 1.0
    assert np.array_equal(game.winning_moves(played(game, [0, 6, 0, 6, 0, 6]))[0], np.arange(7) == 0)


def test_pure_mcts_beats_random_inside_connect_four():
    env = connect_four_v3.env()
    game = PettingZooGame(env)
    search = MCTS(game, rollout_evaluator(game, seed=0), MCTSConfig(simulations=24, reuse_tree=False), seed=0)
    rng = np.random.default_rng(0)
    wins = 0
    for episode in range(8):
        env.reset(seed=episode)
        ours = env.possible_agents[episode % 2]
        moves = 0
        for agent in env.agent_iter():
            observation, reward, terminated, truncated, _ = env.last()
            if terminated or truncated:
                wins += agent == ours and reward > 0
                env.step(None)
                continue
            if agent == ours:
                action = int(search.run(game.from_env(env, moves)).best_actions()[0])
            else:
                action = int(rng.choice(np.flatnonzero(observation["action_mask"])))
            env.step(action)
            moves += 1
    assert wins >= 7  # a searcher no better than its opponent gets 7 of 8 with probability 9 / 256


def test_positions_are_never_changed_in_place_and_illegal_moves_are_refused():
    game = PettingZooGame(tictactoe_v3.env())
    root = game.initial(1)
    before = root.envs[0].observe(root.envs[0].agent_selection)["observation"].copy()
    child = game.step(root, [4])
    assert np.array_equal(root.envs[0].observe(root.envs[0].agent_selection)["observation"], before)
    assert child.to_play[0] == 1 and game.legal_mask(child)[0, 4] == 0
    with pytest.raises(IllegalMoveError, match="legal moves: \\[0, 1, 2, 3, 5"):
        game.step(child, [4])
    over = played(game, [0, 3, 1, 4, 2])
    assert over.done[0] and over.winner[0] == 0 and over.to_play[0] == 1
    assert game.observation(child).shape == (1, 2, 3, 3)


def test_go_runs_through_the_adapter():
    from pettingzoo.classic import go_v5

    game = PettingZooGame(go_v5.env(board_size=5))
    assert game.num_actions == 26  # 25 points and the pass
    result = MCTS(game, uniform_evaluator(game), MCTSConfig(simulations=12)).run(game.initial(2))
    assert np.all(result.visits.sum(axis=1) == 12)
