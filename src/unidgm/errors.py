"""Typed errors. Every message names the problem and the fix; the CLI turns any of them into exit code 2."""

from __future__ import annotations

import difflib


class UnidgmError(Exception):
    """Base class for every error the library raises on bad input."""


class ConfigError(UnidgmError, ValueError):
    """A bad config value, an unknown key or an unknown model/technique name."""


class DataError(UnidgmError):
    """A dataset that is missing, unknown, corrupt or inconsistent."""


class CheckpointError(UnidgmError):
    """A checkpoint that is missing, tampered with, pickled or incompatible with the config."""


class NonFiniteError(UnidgmError, FloatingPointError):
    """A loss or gradient went NaN/inf; the message names the step, the phase and the part."""


class RunDirError(UnidgmError):
    """An output folder that cannot be written or already holds a different run."""


def did_you_mean(name: str, choices) -> str:
    """' Did you mean: a, b?' for the closest names, or a list of every valid name."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        return f" Did you mean: {', '.join(close)}? Valid: {', '.join(choices)}."
    return f" Valid: {', '.join(choices)}."
