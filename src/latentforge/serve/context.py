"""What every request of one app shares (`app.state.served`): the runs folder and the
cache of loaded runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from latentforge.serve.cache import Entry, RunCache
from latentforge.serve.runs import run_path


@dataclass
class Served:
    runs_dir: Path
    cache: RunCache

    def entry(self, name: str) -> Entry:
        """The loaded run `name` (400/404 for a bad or unknown name; a run that cannot
        be loaded raises its RunError: 409)."""
        return self.cache.get(run_path(self.runs_dir, name))


def served(request: Request) -> Served:
    return request.app.state.served


def entry(request: Request, name: str) -> Entry:
    """The loaded run `name` of this request's app."""
    return served(request).entry(name)
