"""Exceptions with messages that say what was wrong and what would be right."""

from __future__ import annotations

import re


class RlgenError(Exception):
    """Base class of every error rlgen raises on purpose."""


class ConfigError(RlgenError, ValueError):
    """A config key, value or file is invalid."""


class UnknownNameError(RlgenError, KeyError):
    """An algorithm, environment, dataset or option name is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(RlgenError):
    """A checkpoint is missing, truncated, corrupted or from another run."""


class NonFiniteLossError(RlgenError, FloatingPointError):
    """A loss term became NaN or Inf and the NaN guard stopped the run."""


class MissingExtraError(RlgenError, ImportError):
    """An optional dependency is not installed."""


class RunDirError(RlgenError):
    """A run directory is missing, incomplete, or would be overwritten."""


MAX_LISTED = 12
"""Most choices an error lists; longer lists show the close matches first, then a count."""

LIST_COMMANDS = {"algorithm": "algos", "env": "envs", "environment": "envs", "dataset": "datasets"}
"""A word of an error's `kind` -> the `rlgen list` subcommand that shows every choice."""


def close_matches(name: str, choices: list[str] | tuple[str, ...], n: int = 5, cutoff: float = 0.5) -> list[str]:
    """Up to `n` choices closest to `name`, best first, ignoring case ('cartpole' finds 'CartPole-v1')."""
    import difflib

    by_lower: dict[str, list[str]] = {}
    for choice in choices:
        by_lower.setdefault(str(choice).lower(), []).append(str(choice))
    hits = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=cutoff)
    return [original for hit in hits for original in by_lower[hit]][:n]


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when none is close."""
    match = close_matches(name, choices, n=1)
    return f" Did you mean '{match[0]}'?" if match else ""


def list_command(kind: str) -> str:
    """Where every choice of `kind` is shown ('rlgen list envs'), or '' when no command lists them."""
    for word in re.findall(r"\w+", kind.lower()):  # \w keeps 'env_kwargs' one word, not 'env'
        if word in LIST_COMMANDS:
            return f"rlgen list {LIST_COMMANDS[word]}"
    return ""


def choices_sentence(
    choices: list[str] | tuple[str, ...], matches: list[str] | tuple[str, ...] = (), listed_by: str = ""
) -> str:
    """'Valid choices: a, b, c.' in the given order; past MAX_LISTED entries, the close `matches`
    first, then the others, then '... and N more (`listed_by`).'"""
    if not choices:
        return "Valid choices: none registered."
    choices = [str(c) for c in choices]
    if len(choices) <= MAX_LISTED:
        return f"Valid choices: {', '.join(choices)}."
    shown = list(dict.fromkeys(m for m in matches if m in choices))[:MAX_LISTED]
    shown += [c for c in choices if c not in shown][: MAX_LISTED - len(shown)]
    more = f"... and {len(choices) - len(shown)} more" + (f" ({listed_by})" if listed_by else "")
    return f"Valid choices: {', '.join(shown)}, {more}."


def unknown_name(
    kind: str, name: str, choices: list[str] | tuple[str, ...], *, listed_by: str | None = None
) -> UnknownNameError:
    """Build the error for an unknown `kind` called `name`: the closest choice first, then a
    short list of the valid ones (`listed_by` says where to see them all; default from `kind`)."""
    ordered = sorted(dict.fromkeys(str(c) for c in choices))
    matches = close_matches(str(name), ordered)
    suggestion = f" Did you mean '{matches[0]}'?" if matches else ""
    where = list_command(kind) if listed_by is None else listed_by
    return UnknownNameError(f"unknown {kind} '{name}'.{suggestion} {choices_sentence(ordered, matches, where)}")
