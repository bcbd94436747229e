"""Exceptions with messages that say what was wrong and what would be right."""

from __future__ import annotations


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


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when none is close."""
    import difflib

    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


def unknown_name(kind: str, name: str, choices: list[str] | tuple[str, ...]) -> UnknownNameError:
    """Build the error for an unknown `kind` called `name`, listing the valid choices."""
    listed = ", ".join(sorted(choices)) or "(none registered)"
    return UnknownNameError(f"unknown {kind} '{name}'; choices: {listed}.{closest(name, choices)}")
