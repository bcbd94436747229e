"""`rlgen play RUN`: a human against a trained game agent in the terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from rlgen.envs.game import IllegalMoveError


def play_terminal(
    run_dir: str | Path,
    human_first: bool = False,
    simulations: int | None = None,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
) -> int:
    """Play one game; returns the winner from the human's view: 1 win, 0 draw, -1 loss
    (or -2 when the human quits). Malformed or illegal moves are refused with the legal
    moves listed; the game goes on."""
    from rlgen.agents import load_agent

    agent = load_agent(run_dir, simulations=simulations)
    game = agent.game
    state = game.initial(1)
    human = 0 if human_first else 1
    write(
        f"{game.name}: you are {'X (first)' if human == 0 else 'O (second)'}. {game.notation_help()}; 'quit' to stop."
    )
    while not state.done[0]:
        write(game.render(state))
        if state.to_play[0] == human:
            try:
                text = read("your move: ")
            except EOFError:
                write("no more input; stopping.")
                return -2
            if text.strip().lower() in ("quit", "exit", "q"):
                write("stopped.")
                return -2
            try:
                action = game.parse_move(text, state)
            except IllegalMoveError as exc:
                write(f"refused: {exc}")
                continue
        else:
            result = agent.search(state)
            action = int(result.best_actions()[0])
            value = float(result.value[0])
            write(
                f"agent plays {game.action_to_text(action)}  "
                f"(its value {value:+.2f}: expects to score {(value + 1) / 2:.0%})"
            )
        state = game.step(state, np.array([action]))
    write(game.render(state))
    winner = int(state.winner[0])
    outcome = 0 if winner < 0 else (1 if winner == human else -1)
    write({1: "you win!", 0: "a draw.", -1: "the agent wins."}[outcome])
    return outcome
