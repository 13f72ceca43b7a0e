"""The runs of RUNS_DIR: which folders are runs, the run-name check of every URL (one
path segment, resolved inside RUNS_DIR), and what the API says about a run."""
from __future__ import annotations

import logging
import math
import re
from pathlib import Path

from fastapi import HTTPException

from latentforge import rundir

log = logging.getLogger(__name__)
RUN_NAME = re.compile(r"[A-Za-z0-9._-]+")


def run_names(runs_dir: Path) -> list[str]:
    """The names of the folders directly inside `runs_dir` that are runs (a readable
    config.json) and that a URL can name, sorted."""
    root = Path(runs_dir).resolve()
    return sorted(p.name for p in root.iterdir()
                  if _addressable(p.name) and p.resolve().parent == root and p.is_dir()
                  and rundir.is_run(p))


def _addressable(name: str) -> bool:
    return bool(RUN_NAME.fullmatch(name)) and name not in (".", "..")


def run_path(runs_dir: Path, name: str) -> Path:
    """The folder of run `name`: 400 for a name that is not one safe path segment (or
    that would leave `runs_dir` once resolved), 404 when there is no such run."""
    if not _addressable(name):
        raise HTTPException(400, f"Invalid run name {name[:100]!r}: use one folder name of "
                                 "letters, digits, '.', '_' and '-'.")
    root = Path(runs_dir).resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise HTTPException(400, f"Run name {name!r} points outside the runs folder.")
    if not (path.is_dir() and rundir.is_run(path)):
        raise HTTPException(404, f"No run named {name!r} in {runs_dir}; GET /api/runs lists "
                                 "them.")
    return path


def summary(name: str, run, endpoints: list[str]) -> dict:
    """What GET /api/runs says about the loaded `run` (see the HTTP contract)."""
    from latentforge.evaluation.capabilities import can

    model = run.model
    latent = can(model, "encode") or can(model, "decode")
    n_classes, names = class_info(run)
    return {"name": name, "model": run.config.model_name, "recipe": run.config.recipe,
            "epochs": rundir.checkpoint_epoch(run.path) or _last_epoch(run.history),
            "capabilities": sorted(model.capabilities()),
            "sample_shape": list(model.sample_shape),
            "latent_dim": int(model.coding_dim) if latent else None,
            "endpoints": endpoints, "n_classes": n_classes, "class_names": names}


def _last_epoch(history: list[dict]) -> int:
    """The epoch of the last metrics row (runs without checkpoint folders), else 0."""
    epoch = history[-1].get("epoch", 0) if history else 0
    return int(epoch) if isinstance(epoch, (int, float)) and math.isfinite(epoch) else 0


def class_info(run) -> tuple[int | None, list[str] | None]:
    """(number of classes, their names): a conditional model's classes, else the test
    split's class names; (None, None) when the data has no labels or cannot be loaded."""
    from latentforge.errors import LatentforgeError
    from latentforge.evaluation.capabilities import can

    try:
        names = run.split("test").classes
    except (LatentforgeError, OSError) as exc:
        log.warning("run %s: its data cannot be loaded (%s); no class names", run.path, exc)
        names = None
    names = [str(c) for c in names] if names else None
    if can(run.model, "conditional"):
        return int(run.model.cfg.n_classes), names
    return (len(names), names) if names else (None, None)


def finite_json(value):
    """`value` (parsed JSON) with NaN and infinities replaced by None, so it can be sent
    as strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value
