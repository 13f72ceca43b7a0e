"""The run directory: its file names, who may write it, and how its files are read.

One place for the rules every command follows (torch is not imported here)::

    runs/<name>/
      config.json        the resolved RunConfig           (read_config_dict)
      model.safetensors  weights of the newest checkpoint (a hard link into trainer_state/;
                         the averaged weights when train.ema_decay is on)  (weights_path)
      trainer_state/     checkpoints; `latest` names the newest complete one
      metrics.jsonl      one line per epoch, rewritten atomically (read_history, write_history)
      .lock              held (flock) by the one process that writes the run (run_lock)

Rules: a run name is one path component of safe characters (`check_name`); a second
writer is refused while the first holds the lock, which the OS releases when that process
dies (even by kill -9); `--overwrite` removes only what a run writes, and only from a
folder that is a run (`clear_run`); readers trust the checkpoint, so history lines of an
epoch the newest checkpoint does not cover (a kill between the two writes) are not read.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from latentforge.errors import RunBusy, RunError, write_error

log = logging.getLogger(__name__)

CONFIG = "config.json"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
AVERAGED = "ema.safetensors"  # a checkpoint's averaged weights (train.ema_decay)
STATE_DIR = "trainer_state"
LOCK = ".lock"
CHECKPOINT_NAME = re.compile(r"ckpt-\d{6}-\d{9}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

# Everything a run and the commands on it write (names or glob patterns); `clear_run`
# removes these and nothing else.
RUN_OUTPUTS = (CONFIG, METRICS, WEIGHTS, STATE_DIR, "figures", "tensorboard", "report.html",
               "onnx", "evaluation.json", "probes.json", "anomalies.csv", "reconstructions.csv",
               "codings-*.npy",
               "pretrain-*.json", f".{WEIGHTS}.*.tmp", f".{CONFIG}.*.tmp", f".{METRICS}.*.tmp")


def check_name(name: str) -> str:
    """A run name is one folder name: letters, digits, '.', '_', '-' (not first), at most
    100 characters. Anything else (a path, '..', spaces) raises RunError."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in (".", ".."):
        raise RunError(f"Invalid run name {name!r}: use one folder name of letters, digits, "
                       "'.', '_' and '-' (starting with a letter or digit, at most 100 "
                       "characters); choose the parent folder with --runs-dir.")
    return name


def read_config_dict(run_dir: Path) -> dict:
    """The saved config.json of a run as a dict; RunError if absent or not a JSON table."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunError(f"'{run_dir}' is not a latentforge run directory (no {CONFIG}); "
                       "pass the folder `latentforge train` wrote, e.g. runs/stacked_ae-book.")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"'{path}' is not valid JSON ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("model_name"), str):
        raise RunError(f"'{path}' is not a latentforge config (a JSON table with model_name "
                       "and the model/data/train sections).")
    return data


def is_run(folder: Path) -> bool:
    """True when `folder` holds a readable latentforge config.json."""
    try:
        read_config_dict(folder)
    except RunError:
        return False
    return True


def clear_run(run_dir: Path) -> None:
    """Delete what a run wrote in `run_dir` (for --overwrite), keeping any other file.

    Refuses (RunError) a folder that is not empty and not a run, so a mistyped name never
    deletes someone's files.
    """
    run_dir = Path(run_dir)
    entries = [p for p in run_dir.iterdir() if p.name != LOCK] if run_dir.is_dir() else []
    if entries and not is_run(run_dir):
        raise RunError(f"Refusing to overwrite '{run_dir}': it is not a latentforge run "
                       f"(no readable {CONFIG}). Choose another --name.")
    for path in entries:
        if any(fnmatch.fnmatchcase(path.name, pattern) for pattern in RUN_OUTPUTS):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    kept = [p.name for p in run_dir.iterdir() if p.name != LOCK] if run_dir.is_dir() else []
    if kept:
        log.warning("--overwrite kept files latentforge did not write in %s: %s", run_dir,
                    ", ".join(sorted(kept)[:5]))


@contextmanager
def run_lock(run_dir: Path):
    """Hold the run's write lock (creating the folder) for the block; RunBusy when another
    process holds it. An OS-level flock: a killed process releases it at once."""
    import fcntl

    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a file where the folder should be, no permission, full disk
        raise write_error(exc, run_dir) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RunBusy(f"'{run_dir}' is being written by another latentforge process "
                          f"(pid {owner}); wait until it ends, or train into another "
                          "--name.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield run_dir
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def checkpoint_folder(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of the run, or None.

    `trainer_state/latest` is trusted only when it names a checkpoint folder of this run
    (ckpt-EEEEEE-SSSSSSSSS) holding state.json; otherwise the newest complete folder is used.
    """
    root = Path(run_dir) / STATE_DIR
    pointer = root / "latest"
    try:
        name = pointer.read_text().strip() if pointer.is_file() else ""
    except (OSError, UnicodeDecodeError):
        name = ""
    if name and CHECKPOINT_NAME.fullmatch(name) and (root / name / "state.json").is_file():
        return root / name
    if name:
        log.warning("%s names %r, not a checkpoint of this run; using the newest complete "
                    "checkpoint folder instead", pointer, name[:80])
    done = sorted(p for p in root.glob("ckpt-*")
                  if CHECKPOINT_NAME.fullmatch(p.name) and (p / "state.json").is_file())
    return done[-1] if done else None


def checkpoint_epoch(run_dir: Path) -> int:
    """Epochs the newest complete checkpoint covers (0 when there is none)."""
    folder = checkpoint_folder(run_dir)
    if folder is None:
        return 0
    try:
        epoch = json.loads((folder / "state.json").read_text()).get("epoch", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return epoch if isinstance(epoch, int) and epoch >= 0 else 0


def weights_path(run_dir: Path) -> Path:
    """The weights to load: the newest checkpoint's averaged weights (train.ema_decay), else
    its raw weights, else the top-level file."""
    folder = checkpoint_folder(run_dir)
    for name in (AVERAGED, WEIGHTS):
        if folder is not None and (folder / name).is_file():
            return folder / name
    return Path(run_dir) / WEIGHTS


def read_history(run_dir: Path, upto: int | None = None) -> list[dict]:
    """The epoch rows of metrics.jsonl that the checkpoint covers ([] if absent).

    upto: keep rows with epoch <= upto; default: the newest checkpoint's epoch when the run
    has checkpoints. Unreadable lines (a cut write) are skipped with a warning.
    """
    run_dir = Path(run_dir)
    path, rows = run_dir / METRICS, []
    if not path.is_file():
        return rows
    if upto is None and (run_dir / STATE_DIR).is_dir():
        upto = checkpoint_epoch(run_dir)
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line) if line.strip() else None
        except ValueError:
            log.warning("skipping an unreadable line of %s", path)
            continue
        if isinstance(row, dict) and (upto is None or _epoch(row) <= upto):
            rows.append(row)
    return rows


def _epoch(row: dict) -> int:
    epoch = row.get("epoch", 0)
    return epoch if isinstance(epoch, (int, float)) else 0


def write_history(run_dir: Path, rows: list[dict]) -> None:
    """Replace metrics.jsonl with `rows` atomically (never a cut line)."""
    from latentforge.atomic import atomic_write_text

    atomic_write_text(Path(run_dir) / METRICS, "".join(json.dumps(r) + "\n" for r in rows))
