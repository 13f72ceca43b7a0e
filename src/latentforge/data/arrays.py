"""``.npy`` / ``.npz`` array files as datasets, and the checks shared with CSV tables.

``.npz`` keys: ``x`` (or ``X`` / ``images``) is required, ``y`` (or ``Y`` / ``labels``) is
optional; a ``.npy`` file holds ``x`` only. Accepted ``x``:

- ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` with C in {1, 3}: images. Integer
  arrays (values in [0, 255]) become uint8 ``(N, C, H, W)``; float arrays must lie in
  [0, 1] and stay float32 ``(N, C, H, W)``; bool arrays become float32 0/1. When both
  axis 1 and the last axis could be channels, axis 1 is taken (channels first).
- ``(N, D)``: a table, float32, min-max scaled per feature to [0, 1] with TRAIN-split
  statistics (stored in ``Splits.info["minmax"]``), unless ``data.image_shape`` is set:
  then each row is one flattened image, reshaped to ``(N, *image_shape)`` (C, H, W; the
  product must equal D) and taken as images as above.

Images: the split indices are drawn first and cut to ``data.limit_train`` /
``data.limit_eval``, so only the kept rows are read (a ``.npy`` is memory-mapped) and
converted; before that, `memory.check_data_fits` accepts their size (the rows at the file's
dtype, converted at the output dtype, and resized to ``data.image_size`` when set). Tables:
the array plus two float32 copies (converted and split) are checked first. Files are read
with `latentforge.data.npyio` (header checked first; ``.npy`` memory-mapped).

``y`` must hold N integer labels >= 0 (integral floats such as ``3.0`` are accepted).
NaN or inf anywhere is refused. Split: seeded permutation by the config's fractions.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits
from latentforge.data.memory import check_data_fits, image_bytes, shape_text
from latentforge.data.npyio import npz_keys, read_npy, read_npz
from latentforge.data.splitting import (gather, limit_indices, minmax_scale, split_arrays,
                                        split_indices)
from latentforge.errors import DataError

log = logging.getLogger(__name__)

X_KEYS = ("x", "X", "images")
Y_KEYS = ("y", "Y", "labels")


def _check_finite(a: np.ndarray, path: Path, what: str) -> None:
    """Refuse NaN / inf in a float array."""
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = "NaN" if np.isnan(a).any() else "inf"
        raise DataError(f"{path} has {bad} values in {what}; remove or impute them first.")


def _channels_first(x: np.ndarray, path: Path) -> np.ndarray:
    """``(N, H, W)`` / ``(N, H, W, C)`` / ``(N, C, H, W)`` -> ``(N, C, H, W)``."""
    if x.ndim == 3:
        return x[:, None]
    if x.shape[1] in (1, 3):
        return x
    if x.shape[3] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    raise DataError(f"{path} holds 4-D data of shape {x.shape} with neither axis 1 nor "
                    "axis 3 of size 1 or 3; save images as (N, H, W, C) or (N, C, H, W).")


def as_images(x: np.ndarray, path: Path) -> np.ndarray:
    """Validate 3-D/4-D ``x``; uint8 or float32 ``(N, C, H, W)`` (see module docstring)."""
    x = _channels_first(x, path)
    if x.dtype.kind == "b":
        x = x.astype(np.float32)
    if x.dtype.kind in "iu":
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{path} has integer pixels outside [0, 255] ({x.min()}..{x.max()}); "
                            "save images as uint8 in [0, 255] or float in [0, 1].")
        return np.ascontiguousarray(x, dtype=np.uint8)
    if x.dtype.kind != "f":
        raise DataError(f"{path} holds {x.dtype} images; save them as uint8 or float.")
    _check_finite(x, path, "x")
    if x.size and (x.min() < 0 or x.max() > 1):
        low, high = float(x.min()), float(x.max())
        raise DataError(f"{path} has float pixels outside [0, 1] (values range "
                        f"{low:.4g}..{high:.4g}); {_scale_hint(low, high)}.")
    return np.ascontiguousarray(x, dtype=np.float32)


def _scale_hint(lo: float, hi: float) -> str:
    """How to bring float pixels of range ``lo..hi`` into [0, 1], fitting that range."""
    if lo >= 0:
        return (f"divide them by their maximum ({hi:.4g}), or by the maximum of their "
                "scale if it is larger, or save them as uint8 in [0, 255]")
    return (f"map them to [0, 1] with (x - ({lo:.4g})) / ({hi:.4g} - ({lo:.4g})), "
            "or save them as uint8 in [0, 255]")


def with_image_shape(x: np.ndarray, shape: list[int] | None, path: Path) -> np.ndarray:
    """``x`` as ``(N, *shape)`` images when ``data.image_shape`` is set (a view, no copy)."""
    if shape is None:
        return x
    per_item = math.prod(x.shape[1:]) if x.ndim >= 1 else 0
    if x.ndim < 2 or per_item != math.prod(shape):
        raise DataError(f"data.image_shape={list(shape)} holds {math.prod(shape)} values per "
                        f"image, but {path} holds {per_item} values per row (shape "
                        f"{x.shape}); set data.image_shape to a shape of {per_item} values.")
    return x.reshape(len(x), *shape)


def check_table_memory(x: np.ndarray, path: Path) -> None:
    """Refuse (`ResourceError`) a table whose loading would not fit in memory: the array
    plus two float32 copies (converted and split)."""
    check_data_fits(x.nbytes + 2 * x.size * 4, f"{path} ({x.shape} {x.dtype})",
                    "save fewer or smaller samples")


def _channels(x: np.ndarray) -> tuple[int, int, int]:
    """``(C, H, W)`` of 3-D / 4-D ``x`` as `_channels_first` will read it (or its last
    three axes when it cannot, which `_channels_first` then refuses)."""
    if x.ndim == 3:
        return 1, x.shape[1], x.shape[2]
    if x.shape[1] in (1, 3) or x.shape[3] not in (1, 3):
        return tuple(x.shape[1:])
    return x.shape[3], x.shape[1], x.shape[2]


def check_image_memory(x: np.ndarray, n: int, size: int | None, path: Path) -> None:
    """Refuse (`ResourceError`) ``n`` rows of the image array ``x`` that would not fit: the
    rows at ``x``'s dtype, converted (uint8 for integer images, else float32), and resized
    to ``size`` x ``size`` when given."""
    shape = _channels(x)
    out = 1 if x.dtype.kind in "iu" else 4
    need = image_bytes(n, shape, x.dtype.itemsize + out)
    what = f"{n:,} images of {shape_text(shape)} from {path}"
    if size is not None and tuple(shape[1:]) != (size, size):
        need += image_bytes(n, (shape[0], size, size), out)
        what += f" resized to {shape_text((shape[0], size, size))} (data.image_size={size})"
    check_data_fits(need, what)


def as_table(x: np.ndarray, path: Path) -> np.ndarray:
    """Validate a 2-D numeric ``(N, D)`` table; float32 copy."""
    if x.dtype.kind not in "iubf":
        raise DataError(f"{path} holds a {x.dtype} table; save numeric values only.")
    _check_finite(x, path, "x")
    return np.array(x, dtype=np.float32)


def check_labels(y: np.ndarray, n: int, path: Path) -> np.ndarray:
    """Validate labels: ``(n,)`` integers >= 0 (integral floats allowed); int64 copy."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{path} has labels of shape {y.shape} for {n} samples; "
                        f"save exactly one label per sample, shape ({n},).")
    if y.dtype.kind == "f":
        _check_finite(y, path, "y")
        if not np.array_equal(y, np.round(y)):
            raise DataError(f"{path} has non-integer labels (e.g. {y[y != np.round(y)][0]}); "
                            "save integer class indices 0..K-1.")
    elif y.dtype.kind not in "iub":
        raise DataError(f"{path} has labels of type {y.dtype}; save integer class indices 0..K-1.")
    if len(y) and y.min() < 0:
        raise DataError(f"{path} has negative labels ({y.min()}); save class indices 0..K-1.")
    return y.astype(np.int64)


def make_splits(name: str, x: np.ndarray, y: np.ndarray | None, cfg: DataConfig,
                path: Path, info: dict) -> Splits:
    """Validate ``x`` / ``y``, split them, and min-max scale tables (train statistics).

    ``x`` becomes images of ``cfg.image_shape`` first when that is set.
    """
    x = with_image_shape(x, cfg.image_shape, path)
    if x.ndim not in (2, 3, 4):
        raise DataError(f"{path} holds data of shape {x.shape}; save (N, D) tables or "
                        "(N, H, W), (N, H, W, C), (N, C, H, W) images.")
    if len(x) == 0:
        raise DataError(f"{path} holds no samples; save at least one row.")
    y = None if y is None else check_labels(y, len(x), path)
    if x.ndim > 2:
        return _image_splits(name, x, y, cfg, path, info)
    check_table_memory(x, path)
    log.info("%s: x %s is a table (one feature per column); if its rows are flattened "
             "images, set data.image_shape=[C,H,W]", path, x.shape)
    return minmax_scale(split_arrays(name, as_table(x, path), y, cfg, info=info))


def _image_splits(name: str, x: np.ndarray, y: np.ndarray | None, cfg: DataConfig,
                  path: Path, info: dict) -> Splits:
    """Images: only the rows the split and the limits keep are read, checked, converted."""
    idx = limit_indices(split_indices(len(x), cfg, name), cfg.limit_train, cfg.limit_eval)
    order, local = gather(idx)
    check_image_memory(x, len(order), cfg.image_size, path)
    x = as_images(x[order], path)
    y = None if y is None else y[order]
    return split_arrays(name, x, y, cfg, info=info, idx=local)


def _read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y)`` from a ``.npy`` (y None, memory-mapped) or ``.npz`` file."""
    if path.suffix == ".npy":
        return read_npy(path), None
    keys = npz_keys(path)
    xk = next((k for k in X_KEYS if k in keys), None)
    if xk is None:
        raise DataError(f"{path} has keys {sorted(keys)} but none of {list(X_KEYS)}; "
                        "save the samples under the key 'x' (labels under 'y').")
    yk = next((k for k in Y_KEYS if k in keys), None)
    arrays = read_npz(path, [xk] if yk is None else [xk, yk])
    return arrays[xk], arrays.get(yk)


def load_arrays(cfg: DataConfig) -> Splits:
    """The ``.npy`` / ``.npz`` file ``cfg.source`` as `Splits` (see the module docstring)."""
    path = Path(cfg.source).expanduser()
    x, y = _read_arrays(path)
    log.info("%s: x %s %s, %s", path, x.shape, x.dtype,
             "no labels" if y is None else f"y {y.shape}")
    return make_splits(path.stem, x, y, cfg, path, {"source": "arrays", "path": str(path)})
