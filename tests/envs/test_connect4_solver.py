"""The exact Connect Four solver against an independent minimax, its own negamax consistency
and the core game; the committed position set and `solver_accuracy`."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from rlgen.envs import make_game
from rlgen.envs.connect4_solver import (
    ILLEGAL,
    PHASES,
    SolverPositions,
    load_positions,
    random_position,
    solver_accuracy,
    to_bitboards,
)
from rlgen.envs.game import GameState

GAME = make_game("connect4")


@pytest.fixture(scope="module")
def solver():
    from rlgen.envs.connect4_solver import Connect4Solver

    return Connect4Solver(tt_size_log2=20)


def play(columns: list[int]) -> GameState:
    state = GAME.initial(1)
    for col in columns:
        state = GAME.step(state, col)
    return state


# ------------------------------------------------------------------ an independent minimax


def _four(cells: dict[tuple[int, int], int], col: int, row: int, stone: int) -> bool:
    for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)):
        run = 1
        for sign in (1, -1):
            c, r = col + sign * dc, row + sign * dr
            while cells.get((c, r)) == stone:
                run += 1
                c, r = c + sign * dc, r + sign * dr
        if run >= 4:
            return True
    return False


def minimax_score(state: GameState) -> int:
    """22 - (winner's stones at its win) for the side to move, by memoised plain minimax
    over columns of (bottom-up) stones, sharing no code with the solver or the core."""
    board = state.board[0]
    columns = tuple(tuple(int(board[r, c]) for r in range(5, -1, -1) if board[r, c]) for c in range(7))
    stone = 1 - 2 * int(state.to_play[0])

    @functools.cache
    def value(columns: tuple[tuple[int, ...], ...], stone: int) -> int:
        stones = sum(len(column) for column in columns)
        if stones == 42:
            return 0
        cells = {(c, r): s for c, column in enumerate(columns) for r, s in enumerate(column)}
        best = -100
        for col, column in enumerate(columns):
            if len(column) == 6:
                continue
            if _four(cells, col, len(column), stone):
                return 22 - (stones + 2) // 2  # our stone number (stones + 1 + 1) // 2
            child = columns[:col] + (column + (stone,),) + columns[col + 1 :]
            best = max(best, -value(child, -stone))
        return best

    return value(columns, stone)


def late_positions(count: int, first_ply: int, seed: int) -> list[GameState]:
    rng = np.random.default_rng(seed)
    return [random_position(int(rng.integers(first_ply, 39)), rng) for _ in range(count)]


# ------------------------------------------------------------------ board conversion


def test_bitboards_of_a_known_position():
    state = play([3, 3, 0])  # player 0 on d1 and a1, player 1 on d2; player 1 to move
    position, mask, moves = to_bitboards(state)
    assert moves == 3
    assert mask == (1 << 21) | (1 << 22) | (1 << 0)
    assert position == 1 << 22  # the side to move's stones: player 1's d2


def test_bitboards_reject_what_is_not_a_position_in_play():
    with pytest.raises(TypeError, match="GameState"):
        to_bitboards(np.zeros((1, 6, 7)))
    with pytest.raises(ValueError, match="shape"):
        to_bitboards(make_game("tictactoe").initial(1))
    won = play([0, 1, 0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="already over"):
        to_bitboards(won)
    won.done[:] = False
    with pytest.raises(ValueError, match="four in a row"):
        to_bitboards(won)
    floating = GAME.initial(1)
    floating.board[0, 2, 4] = 1
    floating.to_play[:] = 1
    with pytest.raises(ValueError, match="floating stone in column 5"):
        to_bitboards(floating)
    wrong_side = play([3])
    wrong_side.to_play[:] = 0
    with pytest.raises(ValueError, match="counts"):
        to_bitboards(wrong_side)


# ------------------------------------------------------------------ the solver


def test_exact_scores_match_an_independent_minimax_on_late_positions(solver):
    for state in late_positions(20, first_ply=31, seed=1):
        assert solver.score(state) == minimax_score(state), GAME.render(state)


def test_move_scores_match_minimax_children(solver):
    for state in late_positions(6, first_ply=32, seed=2):
        scores = solver.move_scores(state)
        legal = GAME.legal_mask(state)[0]
        assert ((scores == ILLEGAL) == ~legal).all()
        wins = GAME.winning_moves(state)[0]
        for col in np.flatnonzero(legal):
            child = GAME.step(state, col)
            expected = 22 - (int(state.moves[0]) + 2) // 2 if wins[col] else -minimax_score(child)
            if child.done[0] and not wins[col]:
                expected = 0
            assert scores[col] == expected, (GAME.render(state), col)


def test_negamax_consistency_on_mid_game_positions(solver):
    rng = np.random.default_rng(3)
    for _ in range(12):
        state = random_position(int(rng.integers(16, 30)), rng)
        scores = solver.move_scores(state)
        assert solver.score(state) == scores.max()
        assert solver.score(state, weak=True) == np.sign(scores.max())
        weak = solver.move_scores(state, weak=True)
        legal = scores != ILLEGAL
        assert (weak[legal] == np.sign(scores[legal])).all()
        assert (weak[~legal] == ILLEGAL).all()
        assert set(solver.best_moves(state).tolist()) == set(np.flatnonzero(scores == scores.max()).tolist())


def test_a_win_in_one_scores_it(solver):
    rng = np.random.default_rng(5)
    found = 0
    while found < 3:
        state = random_position(int(rng.integers(26, 34)), rng)
        wins = GAME.winning_moves(state)[0]
        if not wins.any():
            continue
        found += 1
        stones = int(state.moves[0])
        win_score = 22 - (stones + 2) // 2  # the winning stone is the mover's ((stones + 2) // 2)-th
        assert solver.score(state) == win_score
        scores = solver.move_scores(state)
        assert (scores[wins] == win_score).all()
        assert (scores[~wins] < win_score).all()
        assert solver.score(state, weak=True) == 1
    blocks = 0
    while blocks < 3:  # one opponent threat and no win of our own: only the block avoids losing at once
        state = random_position(int(rng.integers(26, 34)), rng)
        threats = GAME.winning_moves(state, opponent=True)[0] & GAME.legal_mask(state)[0]
        if GAME.winning_moves(state)[0].any() or threats.sum() != 1:
            continue
        blocks += 1
        scores = solver.move_scores(state)
        assert solver.best_moves(state).tolist() == np.flatnonzero(threats).tolist()
        lose_at_once = -(22 - (int(state.moves[0]) + 3) // 2)  # the opponent's next stone makes four
        assert (scores[~threats & (scores != ILLEGAL)] == lose_at_once).all()


def test_perfect_play_ends_with_the_predicted_winner(solver):
    rng = np.random.default_rng(4)
    checked = 0
    while checked < 4:
        state = random_position(int(rng.integers(20, 26)), rng)
        predicted = solver.score(state)
        mover = int(state.to_play[0])
        start = int(state.moves[0])
        while not state.done[0]:
            state = GAME.step(state, int(solver.best_moves(state)[0]))
        winner = int(state.winner[0])
        assert np.sign(predicted) == (0 if winner == -1 else (1 if winner == mover else -1))
        if predicted:  # the score also says when: the winner's stone count at its four
            winner_stones = (int(state.moves[0]) + 1) // 2
            assert abs(predicted) == 22 - winner_stones, (start, predicted, int(state.moves[0]))
        checked += 1


def test_solver_errors(solver):
    with pytest.raises(ValueError, match="already over"):
        solver.score(play([0, 1, 0, 1, 0, 1, 0]))
    with pytest.raises(ValueError, match="shape"):
        solver.move_scores(make_game("othello6").initial(1))


# ------------------------------------------------------------------ the committed position set


def test_the_committed_set_loads_balanced_and_informative():
    positions = load_positions()
    assert len(positions) >= 300
    assert positions.states.board.shape == (len(positions), 6, 7)
    plies = (positions.states.board != 0).sum(axis=(1, 2))
    assert (plies == positions.plies).all()
    assert positions.plies.min() >= 8 and positions.plies.max() <= 36
    assert set(positions.states.to_play.tolist()) == {0, 1}
    assert (positions.states.to_play == plies % 2).all()
    counts = [int((positions.phases == name).sum()) for name in PHASES]
    assert min(counts) >= len(positions) // 5, counts
    legal = GAME.legal_mask(positions.states)
    assert ((positions.scores == ILLEGAL) == ~legal).all()
    for row, mask in zip(positions.scores, legal, strict=True):
        assert len(set(row[mask].tolist())) > 1  # positions where every move scores the same were skipped
    assert len(set(positions.states.key().tolist())) == len(positions)


def test_the_committed_scores_match_the_solver_on_late_positions(solver):
    positions = load_positions()
    late = np.flatnonzero(positions.plies >= 30)[:8]
    assert len(late)
    for i in late:
        assert (solver.move_scores(positions.states, int(i)) == positions.scores[i]).all()


def _toy_positions() -> SolverPositions:
    states = GAME.initial(6)
    scores = np.array(
        [
            [1, 2, 3, 3, -2, ILLEGAL, 0],  # early
            [-5, -3, -3, -9, ILLEGAL, -5, -5],  # early, lost
            [0, 0, 4, -1, 0, 0, 0],  # middle
            [2, -1, -1, -1, -1, -1, -1],  # middle
            [0, -4, -4, 0, 0, -6, 0],  # late, drawn
            [7, 5, 7, ILLEGAL, ILLEGAL, 6, 1],  # late
        ],
        np.int16,
    )
    return SolverPositions(states, scores, np.array([8, 16, 17, 26, 27, 36], np.int16))


def test_solver_accuracy_perfect_and_bad_moves():
    positions = _toy_positions()
    perfect = solver_accuracy(positions, np.array([2, 1, 2, 0, 0, 0]))
    assert perfect["strict"] == perfect["wdl"] == 1.0
    assert all(perfect[f"{kind}/{name}"] == 1.0 for kind in ("strict", "wdl") for name in PHASES)

    # position 0: a winning but slower move (wdl kept); position 3: a losing move (both lost);
    # position 5: a full column (never correct)
    moves = np.array([0, 1, 2, 1, 3, 3])
    result = solver_accuracy(positions, moves)
    assert result["strict"] == pytest.approx(3 / 6)
    assert result["wdl"] == pytest.approx(4 / 6)
    assert result["strict/early"] == 0.5 and result["wdl/early"] == 1.0
    assert result["strict/middle"] == 0.5 and result["wdl/middle"] == 0.5
    assert result["strict/late"] == 0.5 and result["wdl/late"] == 0.5
    assert result["illegal"] == pytest.approx(1 / 6)
    for kind in ("strict", "wdl"):  # the phases add up to the whole
        total = sum(result[f"{kind}/{name}"] * result[f"positions/{name}"] for name in PHASES)
        assert total / result["positions"] == pytest.approx(result[kind])


def test_solver_accuracy_rejects_malformed_moves():
    positions = _toy_positions()
    with pytest.raises(ValueError, match="shape"):
        solver_accuracy(positions, np.zeros(5, int))
    with pytest.raises(ValueError, match="columns 0..6"):
        solver_accuracy(positions, np.full(6, 7))


def test_solver_accuracy_on_the_committed_set_ranks_play():
    positions = load_positions()
    best = positions.scores.argmax(axis=1)
    assert solver_accuracy(positions, best)["strict"] == 1.0
    rng = np.random.default_rng(0)
    legal = GAME.legal_mask(positions.states)
    random_moves = (rng.random(legal.shape) * legal).argmax(axis=1)
    random_result = solver_accuracy(positions, random_moves)
    assert random_result["strict"] < 0.8 and random_result["illegal"] == 0.0


def test_solver_opponent_converts_won_positions_and_holds_draws(solver):
    """From committed late positions, the 'solver' opponent moving for the side to move
    against random replies wins every position the solver scores as won and loses none it
    scores as drawn; its first moves are all among the best ones."""
    from rlgen.envs.opponents import make_opponent

    positions = load_positions()
    late = positions.take(np.flatnonzero(positions.plies >= 27))
    state = late.states  # a copy: take() copies
    best = late.scores.max(axis=1)
    opponent = make_opponent("solver:0", GAME, seed=0)
    first = opponent.act(GAME, state)
    assert (late.scores[np.arange(len(late)), first] == best).all()
    side, rng = state.to_play.copy(), np.random.default_rng(0)
    while not state.done.all():
        live = np.flatnonzero(~state.done)
        sub = state.take(live)
        mine = sub.to_play == side[live]
        moves = (rng.random((len(live), 7)) * GAME.legal_mask(sub)).argmax(axis=1)
        if mine.any():
            moves[mine] = opponent.act(GAME, sub.take(mine))
        state.put(live, GAME.step(sub, moves))
    assert (state.winner[best > 0] == side[best > 0]).all()
    assert not ((state.winner >= 0) & (state.winner != side))[best == 0].any()


def test_solver_opponent_is_for_connect4_only():
    from rlgen.envs.opponents import make_opponent
    from rlgen.errors import ConfigError

    with pytest.raises(ConfigError, match="Connect Four only"):
        make_opponent("solver", make_game("tictactoe"))
    with pytest.raises(ConfigError, match="'solver:8'"):
        make_opponent("solver:x", GAME)
