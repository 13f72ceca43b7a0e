"""The loaded runs, a bounded LRU shared by every request thread.

A run directory is loaded once (`latentforge.api.load_run`, its data with it) and kept
with what is costly to compute from it (`Entry.memo`: the test split's codings, the
anomaly threshold, maps), at most `max_models` runs at a time (the least recently used
goes first). A run whose files changed since it was loaded (config.json, the weights,
the newest-checkpoint pointer: mtime, size) is loaded again on its next request, so a run
still training is served at its newest checkpoint. A run's summary (GET /api/runs) is
kept apart, per version of its files, so listing many runs does not keep reloading them.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from latentforge import rundir

MAX_MEMOS = 16  # results kept per run (codings, threshold, a few maps)


def stamp(path: Path) -> tuple:
    """What changes when the run's files do: the mtime and size of config.json, of the
    top-level weights and of trainer_state/latest (a new checkpoint replaces both; None
    for a missing file). Three stats, no read: it is taken on every request."""
    path = Path(path)
    return tuple(_stat(f) for f in (path / rundir.CONFIG, path / rundir.WEIGHTS,
                                    path / rundir.STATE_DIR / "latest"))


def _stat(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return (None, None)
    return (st.st_mtime_ns, st.st_size)


class Entry:
    """One loaded run (`run`) and its memos; `stamp` of the files it was loaded from."""

    def __init__(self, run, file_stamp: tuple):
        self.run, self.stamp = run, file_stamp
        self._memos: OrderedDict = OrderedDict()
        self._computing: dict = {}  # key -> the lock its computation holds
        self._lock = threading.Lock()

    def memo(self, key, compute: Callable):
        """compute(run), computed once per key (concurrent callers of the same key wait
        for the first; other keys go on meanwhile); the `MAX_MEMOS` most recently used
        results are kept."""
        with self._lock:
            if key in self._memos:
                return self._used(key)
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                if key in self._memos:
                    return self._used(key)
            value = compute(self.run)
            with self._lock:
                self._memos[key] = value
                self._computing.pop(key, None)
                while len(self._memos) > MAX_MEMOS:
                    self._memos.popitem(last=False)
            return value

    def _used(self, key):
        self._memos.move_to_end(key)
        return self._memos[key]


def load(path: Path):
    """The run at `path` with its data loaded (so concurrent requests do not load it
    twice); data that cannot be loaded is left for the requests that need it to report."""
    from latentforge.api import load_run
    from latentforge.errors import LatentforgeError

    run = load_run(path)
    try:
        run.data()
    except (LatentforgeError, OSError):
        pass
    return run


class RunCache:
    """At most `max_models` loaded runs, least recently used evicted; thread-safe."""

    def __init__(self, max_models: int = 4, loader: Callable = load):
        if max_models < 1:
            raise ValueError(f"max_models must be at least 1, got {max_models}")
        self.max_models, self._loader = max_models, loader
        self._entries: OrderedDict[Path, Entry] = OrderedDict()
        self._loading: dict[Path, threading.Lock] = {}
        self._summaries: dict[Path, tuple[tuple, dict]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def loaded(self) -> list[Path]:
        """The loaded runs' folders, least recently used first."""
        with self._lock:
            return list(self._entries)

    def get(self, path: Path) -> Entry:
        """The entry of the run at `path`, loaded (again) when absent or changed."""
        now = stamp(path)
        with self._lock:
            entry = self._fresh(path, now)
            if entry is not None:
                return entry
            loading = self._loading.setdefault(path, threading.Lock())
        with loading:  # one load per run at a time; other runs load meanwhile
            with self._lock:
                entry = self._fresh(path, now)
            if entry is None:
                entry = Entry(self._loader(path), now)
                self._put(path, entry)
        return entry

    def summary(self, path: Path, make: Callable[[Entry], dict]) -> dict:
        """make(entry) for the run at `path`, kept while its files stay the same."""
        now = stamp(path)
        with self._lock:
            kept = self._summaries.get(path)
        if kept is not None and kept[0] == now:
            return kept[1]
        entry = self.get(path)
        value = make(entry)
        with self._lock:
            self._summaries[path] = (entry.stamp, value)
        return value

    def _fresh(self, path: Path, now: tuple) -> Entry | None:
        """The entry of `path` if loaded from files with stamp `now` (marked most
        recently used); call with the lock held."""
        entry = self._entries.get(path)
        if entry is None or entry.stamp != now:
            return None
        self._entries.move_to_end(path)
        return entry

    def _put(self, path: Path, entry: Entry) -> None:
        with self._lock:
            self._entries[path] = entry
            self._entries.move_to_end(path)
            while len(self._entries) > self.max_models:
                self._entries.popitem(last=False)
