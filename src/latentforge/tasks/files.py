"""The files the tasks write: .npy arrays and JSON results, atomically (`latentforge.atomic`)."""
from __future__ import annotations

import json
from pathlib import Path


def save_npy(path: str | Path, array) -> Path:
    """Write `array` to `path` (.npy) atomically; returns the path."""
    import numpy as np

    from latentforge.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
    return path


def save_json(path: str | Path, value) -> Path:
    """Write `value` as indented JSON (and a final newline) atomically; returns the path."""
    from latentforge.atomic import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")
    return path
