"""Exceptions for users: each message says what was wrong and how to fix it.

The CLI turns any `LatentforgeError` into a one-line ``error: ...`` and exit code 2.
"""


class LatentforgeError(Exception):
    """Base class of every error meant for the user (bad input, missing data, bad config)."""


class DataError(LatentforgeError, ValueError):
    """Input data is missing, corrupt or of the wrong shape/type."""


class ConfigError(LatentforgeError, ValueError):
    """A config file, override or model name is invalid."""


class RunError(LatentforgeError, ValueError):
    """A run directory is missing, incomplete or unreadable."""


class TrainingDiverged(LatentforgeError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
