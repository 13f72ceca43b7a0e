"""Exceptions for users: each message says what was wrong and how to fix it.

The CLI turns any `LatentforgeError` into a one-line ``error: ...`` and exits with the
error's `exit_code`: 2 bad input (data, config, run directory), 3 training diverged,
4 the machine lacks a resource (disk full, not enough memory), 5 the run directory is in
use by another process. Ctrl-C exits with 130.
"""


class LatentforgeError(Exception):
    """Base class of every error meant for the user (bad input, missing data, bad config)."""

    exit_code = 2


class DataError(LatentforgeError, ValueError):
    """Input data is missing, corrupt or of the wrong shape/type."""


class ConfigError(LatentforgeError, ValueError):
    """A config file, override or model name is invalid."""


class RunError(LatentforgeError, ValueError):
    """A run directory is missing, incomplete or unreadable."""


class TrainingDiverged(LatentforgeError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3


class ResourceError(LatentforgeError, RuntimeError):
    """The machine lacks what the command needs: the disk is full, or the model, batch or
    dataset needs more memory than there is. Nothing saved before is lost."""

    exit_code = 4


class RunBusy(LatentforgeError, RuntimeError):
    """Another process is writing the same run directory."""

    exit_code = 5


class WriteError(LatentforgeError, OSError):
    """An output cannot be written there (not a folder, no permission, read-only)."""


def write_error(exc: BaseException, path, context: str = "") -> LatentforgeError:
    """The user-facing error for a failed write of `path`: ResourceError (exit 4) when the
    disk or quota is full, else WriteError (exit 2). `context` says what is kept or what to
    do next; an error that is already a LatentforgeError keeps its class."""
    import errno

    tail = f"; {context}" if context else ""
    if isinstance(exc, LatentforgeError):
        return type(exc)(f"{exc}{tail}")
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return ResourceError(f"The disk is full: could not write '{path}'{tail}.")
    reason = getattr(exc, "strerror", None) or str(exc)
    return WriteError(f"Cannot write '{path}': {reason}{tail}.")


def os_error(exc: OSError) -> LatentforgeError:
    """An OSError that reached the command line as a one-line user error: ResourceError
    when the disk is full, else WriteError naming the path and the system's reason."""
    path = exc.filename if exc.filename is not None else "a file"
    error = write_error(exc, path)
    if isinstance(error, WriteError):
        reason = exc.strerror or str(exc)
        return WriteError(f"Cannot use '{path}': {reason}.")
    return error
