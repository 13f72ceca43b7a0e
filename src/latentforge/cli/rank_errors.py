"""`train --nproc N`: torchrun run inside this process, and the ranks' errors brought back
as the one `error: ...` line and exit code of a one-process command.

The protocol, both sides:
- `launch` (the parent) runs torch.distributed.run in this process, with the path of a
  fresh temporary folder in LATENTFORGE_RANK_ERRORS, which every rank inherits.
- A rank's CLI error handler calls `record`: with that variable set, the error (exit
  code, message, time) goes to the folder as rank<RANK>.json, written atomically, and is
  not printed (N ranks would print it N times).
- `peers_checked` (around a rank's training): an exception is a consequence when another
  rank has recorded an error already (that rank's exit broke a collective under this
  one); it becomes `PeerStopped`, recorded but never reported. Under any torchrun it also
  makes the rank leave the process group without waiting for the others.
- When torchrun reports failed ranks, `launch` prints the line of the first error
  recorded (by time) and returns its exit code, without torchrun's failure summary when
  every failed rank is accounted for (it recorded that error, or torchrun stopped it with
  SIGTERM/SIGKILL after the first failure); torchrun's log lines are left out once an
  error is recorded. A failure nothing accounts for (a segfault, an uncaught exception)
  keeps torchrun's summary (and its log lines, when no error was recorded before) and
  exits non-zero: 1, or the recorded error's code when there is one too (printed last).
- Ctrl-C (SIGINT to this process, the launcher): torchrun passes it to the ranks, waits
  for them, and `launch` raises KeyboardInterrupt (the CLI prints its `interrupted` line,
  exit 130); SIGTERM/SIGHUP/SIGQUIT stop the ranks the same way, exit 128 + signal.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import LatentforgeError

ENV = "LATENTFORGE_RANK_ERRORS"
# The signals torchrun handles in the launcher (its default --signals-to-handle).
HANDLED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
# How torchrun ends the other ranks after a failure: SIGTERM, SIGKILL after a timeout.
STOPPED = (-signal.SIGTERM, -signal.SIGKILL)


class PeerStopped(LatentforgeError):
    """Another rank of the run stopped on an error (its own message says why); this one
    stops too. Recorded under `train --nproc`, never reported."""


@dataclass(frozen=True)
class RankError:
    """One rank's recorded error."""

    rank: int
    exit_code: int
    message: str
    time_ns: int
    consequence: bool = False  # a PeerStopped: another rank's error came first


# ---------------------------------------------------------------- in the ranks

def record(exc: LatentforgeError) -> bool:
    """Under `train --nproc` (LATENTFORGE_RANK_ERRORS set): write `exc` to this rank's
    file for the launcher and return True (the caller prints nothing); False otherwise,
    and when the file cannot be written (the caller prints the error as usual)."""
    folder = os.environ.get(ENV)
    if not folder:
        return False
    from latentforge.atomic import atomic_write_text

    try:
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        return False
    entry = {"rank": rank, "exit_code": exc.exit_code, "message": str(exc),
             "time_ns": time.time_ns(), "consequence": isinstance(exc, PeerStopped)}
    try:
        atomic_write_text(Path(folder) / f"rank{rank}.json", json.dumps(entry))
    except LatentforgeError:
        return False
    return True


def launched() -> bool:
    """True in a rank that train --nproc's launcher started (LATENTFORGE_RANK_ERRORS set):
    the launcher speaks for it, e.g. prints the one `interrupted` line of a Ctrl-C."""
    return bool(os.environ.get(ENV))


@contextmanager
def peers_checked(world):
    """Around a rank's work under torchrun (`world`, a training.distributed.World): on
    any exception the rank leaves the process group at exit without waiting for the
    others (they may be inside another collective), and under `train --nproc` an
    exception that is not a LatentforgeError, raised once another rank has recorded an
    error, becomes PeerStopped. Nothing changes in a one-process world."""
    if not world.distributed:
        yield
        return
    from latentforge.training import distributed

    try:
        yield
    except BaseException as exc:
        distributed.failing()
        if isinstance(exc, Exception) and not isinstance(exc, LatentforgeError):
            folder = os.environ.get(ENV)
            if folder and any(e.rank != world.rank for e in read(Path(folder))):
                raise PeerStopped(f"another process of this run stopped ({exc})") from exc
        raise


# ---------------------------------------------------------------- in the launcher

def read(folder: Path) -> list[RankError]:
    """The errors recorded in `folder`, rank order (unreadable files are skipped)."""
    errors = []
    for path in sorted(Path(folder).glob("rank*.json")):
        try:
            errors.append(RankError(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(errors, key=lambda e: e.rank)


def first(errors: list[RankError]) -> RankError | None:
    """The first error recorded (time, then rank) that is not a consequence; None when
    there is none."""
    causes = [e for e in errors if not e.consequence]
    return min(causes, key=lambda e: (e.time_ns, e.rank)) if causes else None


def accounted(exitcodes: dict[int, int], errors: list[RankError]) -> bool:
    """Whether every failed rank ({rank: exit code}) recorded its error with that code
    or was stopped by torchrun (SIGTERM, SIGKILL) after another one failed."""
    codes = {e.rank: e.exit_code for e in errors}
    return all(code in STOPPED or codes.get(rank) == code
               for rank, code in exitcodes.items())


def report(exitcodes: dict[int, int], summary: str, folder: Path) -> int:
    """After torchrun reported `exitcodes` ({rank: exit code} of the failed ranks) and
    its `summary`: print the first recorded error's line (after the summary when some
    failure is not accounted for) and return the exit code."""
    errors = read(folder)
    cause = first(errors)
    if cause is None or not accounted(exitcodes, errors):
        print(summary, file=sys.stderr)
    if cause is None:
        return 1  # torchrun's own exit code for failed ranks
    print(f"error: {cause.message}", file=sys.stderr)
    return cause.exit_code


def launch(torchrun_args: list[str]) -> int:
    """Run `torchrun torchrun_args` in this process (the ranks report their errors to a
    temporary folder) and return the exit code: 0, a recorded error's code, 1 for other
    failures, 128 + signal when stopped by SIGTERM, SIGHUP or SIGQUIT; Ctrl-C raises
    KeyboardInterrupt once the ranks are stopped."""
    import tempfile

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(torchrun_args)
    with tempfile.TemporaryDirectory(prefix="latentforge-ranks-") as folder, \
            _environment({ENV: folder}), _signals_kept(), _quiet_when_recorded(Path(folder)):
        try:
            run(args)
        except ChildFailedError as exc:
            exitcodes = {rank: f.exitcode for rank, f in exc.failures.items()}
            return report(exitcodes, exc.format_msg(), Path(folder))
        except SignalException as exc:
            if exc.sigval == signal.SIGINT:
                raise KeyboardInterrupt from None
            return 128 + int(exc.sigval)
    return 0


@contextmanager
def _environment(values: dict[str, str]):
    """os.environ with `values` for the block, then as it was (torchrun also sets a few
    variables, e.g. OMP_NUM_THREADS, for its ranks)."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _signals_kept():
    """The handlers torchrun installs for its signals, undone after the block."""
    names = [n for n in HANDLED if hasattr(signal, n)]
    saved = {n: signal.getsignal(getattr(signal, n)) for n in names}
    try:
        yield
    finally:
        for n, handler in saved.items():
            if handler is not None:
                signal.signal(getattr(signal, n), handler)


class _RecordedFilter(logging.Filter):
    """Drops torch.distributed.elastic's log lines once a rank has recorded an error
    (which rank failed, which were sent SIGTERM: the one error line says it)."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def filter(self, rec: logging.LogRecord) -> bool:
        if not rec.name.startswith("torch.distributed.elastic"):
            return True
        return first(read(self.folder)) is None


@contextmanager
def _quiet_when_recorded(folder: Path):
    """`_RecordedFilter` on the handlers that print torch's log lines, for the block."""
    handlers, logger = [], logging.getLogger("torch.distributed.elastic")
    while logger is not None:  # the handlers its records reach, as logging walks up
        handlers += logger.handlers
        logger = logger.parent if logger.propagate else None
    quiet = _RecordedFilter(folder)
    for h in handlers:
        h.addFilter(quiet)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(quiet)
