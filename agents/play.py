"""`rlgen play RUN`: a human against a trained game agent in the terminal.

Every run that learned a board game plays: AlphaZero and tabular Q-learning runs choose
from the core's positions (search, or a table lookup) and show their expected score;
DQN, PPO and SB3 runs on the `rlgen/...-v0` gymnasium envs act on the (H, W, 2) planes
those envs gave them in training.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.envs.game import GAMES, Game, GameState, IllegalMoveError, make_game
from rlgen.envs.gym_games import GYM_IDS
from rlgen.errors import ConfigError

Choice = tuple[int, "float | None"]  # (move, the agent's value of the position or None)


def planes_of(state: GameState) -> np.ndarray:
    """float32 (H, W, 2) planes of position 0 from the side to move (own stones first), as the
    gymnasium game envs and PettingZoo classic observe it."""
    board = state.board[0]
    own = 1 if state.to_play[0] == 0 else -1
    return np.stack([board == own, board == -own], axis=2).astype(np.float32)


def game_player(run_dir: str | Path, simulations: int | None = None) -> tuple[Game, Callable[[GameState], Choice]]:
    """The game a run learned and its agent as `choose(state) -> (move, value or None)`;
    a ConfigError saying what to do instead for a run that learned no board game."""
    from rlgen.agents import load_agent
    from rlgen.registry import get_algo
    from rlgen.run import read_config

    algo, config = read_config(run_dir)
    env = getattr(config, "env", None)
    name = env if env in GAMES else GYM_IDS.get(env or "")
    if name is None:
        if env:
            what = f"a {algo} run on --env {env}, not a board game"
            instead = f"rlgen eval {run_dir} --episodes 20"
        else:
            what = f"a {algo} run on --data {getattr(config, 'data', '?')}, which has no acting agent"
            generative = get_algo(algo).__module__.startswith("rlgen.generative")
            instead = f"rlgen sample {run_dir} --out samples.png" if generative else f"rlgen eval {run_dir}"
        raise ConfigError(
            f"rlgen play plays board games, and '{run_dir}' is {what}. Runs that play: alphazero or "
            f"qlearning on {', '.join(GAMES)}, or dqn / ppo / a2c / sb3 on {', '.join(GYM_IDS)}. "
            f"For this run: {instead}."
        )
    agent = load_agent(run_dir, simulations=simulations)
    if hasattr(agent, "search"):  # AlphaZero, Q-learning: values of core positions

        def choose(state: GameState) -> Choice:
            result = agent.search(state)
            return int(result.best_actions()[0]), float(result.value[0])

        return agent.game, choose
    game = make_game(name)

    def act(state: GameState) -> Choice:
        return int(agent.act(planes_of(state), game.legal_mask(state)[0])), None

    return game, act


def play_terminal(
    run_dir: str | Path,
    human_first: bool = False,
    simulations: int | None = None,
    read: Callable[[str], str] | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """Play one game; returns the winner from the human's view: 1 win, 0 draw, -1 loss
    (or -2 when the human quits, Ctrl-C included). Malformed or illegal moves are refused
    with the legal moves listed; the game goes on. `read` defaults to `input`."""
    read = read or input
    game, choose = game_player(run_dir, simulations)
    state = game.initial(1)
    human = 0 if human_first else 1
    write(
        f"{game.name}: you are {'X (first)' if human == 0 else 'O (second)'}. {game.notation_help()}; 'quit' to stop."
    )
    try:
        while not state.done[0]:
            write(game.render(state))
            if state.to_play[0] == human:
                action = _read_move(game, state, read, write)
                if action is None:
                    return -2
            else:
                action, value = choose(state)
                expected = (
                    "" if value is None else f"  (its value {value:+.2f}: expects to score {(value + 1) / 2:.0%})"
                )
                write(f"agent plays {game.action_to_text(action)}{expected}")
            state = game.step(state, np.array([action]))
    except KeyboardInterrupt:
        write("\nstopped.")
        return -2
    write(game.render(state))
    winner = int(state.winner[0])
    outcome = 0 if winner < 0 else (1 if winner == human else -1)
    write({1: "you win!", 0: "a draw.", -1: "the agent wins."}[outcome])
    return outcome


def _read_move(game: Game, state: GameState, read: Callable[[str], str], write: Callable[[str], None]) -> Any:
    """The human's next legal move, asking again after a refused one; None to stop."""
    while True:
        try:
            text = read("your move: ")
        except EOFError:
            write("no more input; stopping.")
            return None
        if text.strip().lower() in ("quit", "exit", "q"):
            write("stopped.")
            return None
        try:
            return game.parse_move(text, state)
        except IllegalMoveError as exc:
            write(f"refused: {exc}")
