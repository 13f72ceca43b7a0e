"""`load_data`: validate a `DataConfig`, dispatch on ``cfg.source``, apply the limits.

Named sources live in `NAMED_SOURCES`; any other source must be an existing path,
dispatched by `PATH_SOURCES` (file suffix) or `load_folder` (a directory).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch

from latentforge.data.arrays import load_arrays
from latentforge.data.cifar10 import load_cifar10
from latentforge.data.codings import PREFIX as CODINGS_PREFIX
from latentforge.data.codings import load_codings
from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits
from latentforge.data.folders import load_folder
from latentforge.data.mnist import load_fashion_mnist, load_mnist
from latentforge.data.padding import pad_images
from latentforge.data.resize import resize_splits
from latentforge.data.sources import load_digits_source, load_synthetic3d
from latentforge.data.streaming import load_streaming_folder
from latentforge.data.tables import load_csv
from latentforge.errors import ConfigError, DataError

log = logging.getLogger(__name__)

Loader = Callable[[DataConfig], Splits]

MAX_IMAGE_SIZE = 4096  # data.image_size: a 4096x4096 RGB image is 48 MiB as uint8
MAX_IMAGE_SIDE = 1 << 16  # each of H and W in data.image_shape
MAX_WORKERS = 64  # data.workers

NAMED_SOURCES: dict[str, Loader] = {
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "digits": load_digits_source,
    "synthetic3d": load_synthetic3d,
    "cifar10": load_cifar10,
}
PATH_SOURCES: dict[str, Loader] = {".npy": load_arrays, ".npz": load_arrays, ".csv": load_csv}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _require(ok: bool, field: str, value: object, rule: str, example: str) -> None:
    """Raise `DataError` for ``data.<field>`` unless ``ok``."""
    if not ok:
        raise DataError(f"data.{field} must be {rule}, got {value!r}; "
                        f"set it with --set data.{field}={example}.")


def validate_config(cfg: DataConfig) -> None:
    """Refuse out-of-range or mistyped `DataConfig` values with an actionable `DataError`."""
    _require(isinstance(cfg.source, str) and cfg.source.strip() != "", "source",
             cfg.source, "a source name or a path", "fashion-mnist")
    _require(_is_int(cfg.valid_size) and cfg.valid_size >= 0, "valid_size", cfg.valid_size,
             "an integer >= 0", "5000")
    for name in ("valid_fraction", "test_fraction"):
        v = getattr(cfg, name)
        _require(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
                 name, v, "a number in [0, 1)", "0.1")
    _require(cfg.valid_fraction + cfg.test_fraction < 1, "valid_fraction",
             cfg.valid_fraction, f"< 1 - data.test_fraction ({cfg.test_fraction})", "0.1")
    _require(_is_int(cfg.split_seed), "split_seed", cfg.split_seed, "an integer", "0")
    for name in ("limit_train", "limit_eval"):
        v = getattr(cfg, name)
        _require(v is None or (_is_int(v) and v >= 1), name, v, "None or an integer >= 1", "64")
    size = cfg.image_size
    _require(size is None or (_is_int(size) and 1 <= size <= MAX_IMAGE_SIZE), "image_size",
             size, f"None or an integer in [1, {MAX_IMAGE_SIZE}]", "64")
    pad = cfg.pad_to
    _require(pad is None or (_is_int(pad) and 1 <= pad <= MAX_IMAGE_SIZE), "pad_to", pad,
             f"None or an integer in [1, {MAX_IMAGE_SIZE}] (>= the image size)", "32")
    _require(pad is None or size is None or pad >= size, "pad_to", pad,
             f">= data.image_size ({size}): images are resized first, then padded "
             "(padding never crops)", str(size))
    _require(isinstance(cfg.download, bool), "download", cfg.download, "true or false", "true")
    _require(cfg.grayscale is None or isinstance(cfg.grayscale, bool), "grayscale",
             cfg.grayscale, "true, false or None", "true")
    col = cfg.label_column
    _require(col is None or (isinstance(col, str) and col != "") or (_is_int(col) and col >= 0),
             "label_column", col, "a column name or a 0-based column index", "label")
    shape = cfg.image_shape
    _require(shape is None or (isinstance(shape, (list, tuple)) and len(shape) == 3
                               and all(_is_int(v) for v in shape) and shape[0] in (1, 3)
                               and all(1 <= v <= MAX_IMAGE_SIDE for v in shape[1:])),
             "image_shape", shape, f"None or [C, H, W] with C 1 or 3 and H, W in "
             f"[1, {MAX_IMAGE_SIDE}]", "[1,28,28]")
    _require(isinstance(cfg.streaming, bool), "streaming", cfg.streaming, "true or false",
             "true")
    _require(_is_int(cfg.workers) and 0 <= cfg.workers <= MAX_WORKERS, "workers",
             cfg.workers, f"an integer in [0, {MAX_WORKERS}]", "2")
    classes = cfg.train_classes
    _require(classes is None or (isinstance(classes, (list, tuple)) and len(classes) > 0
                                 and all(_is_int(c) and c >= 0 for c in classes)),
             "train_classes", classes, "None or a non-empty list of class labels", "[0]")


def resolve_loader(source: str) -> Loader:
    """The loader for ``source``: a name of `NAMED_SOURCES` or an existing path."""
    named = NAMED_SOURCES.get(source.strip().lower())
    if named is not None:
        return named
    if source.startswith(CODINGS_PREFIX):
        return load_codings
    path = Path(source).expanduser()
    if path.is_dir():
        return load_folder
    if path.is_file() and path.suffix.lower() in PATH_SOURCES:
        return PATH_SOURCES[path.suffix.lower()]
    kinds = "image folder or " + "/".join(sorted(PATH_SOURCES)) + " file"
    if path.is_file():
        raise DataError(f"{path} is not a supported data file (suffix '{path.suffix}'); "
                        f"use an {kinds}.")
    raise DataError(f"Unknown data source '{source}': use one of {', '.join(NAMED_SOURCES)}, "
                    f"codings:RUN_DIR, or the path of an existing {kinds}.")


def apply_limits(splits: Splits, limit_train: int | None, limit_eval: int | None) -> Splits:
    """Keep the first ``limit_train`` train items and ``limit_eval`` valid and test items."""
    if limit_train is None and limit_eval is None:
        return splits
    test = None if splits.test is None else splits.test.head(limit_eval)
    out = Splits(splits.name, splits.train.head(limit_train), splits.valid.head(limit_eval),
                 test, dict(splits.info))
    out.info["limits"] = {"train": limit_train, "eval": limit_eval}
    out.info["sizes"] = out.sizes()
    return out


def keep_classes(splits: Splits, classes: list[int] | None) -> Splits:
    """Keep only the items labelled one of ``classes`` in train and valid (test keeps all)."""
    if classes is None:
        return splits
    if splits.train.y is None:
        raise DataError(f"data.train_classes needs class labels, but '{splits.name}' has "
                        "none; use a labelled source (class subfolders, a label column).")
    n_classes = int(splits.train.y.max()) + 1
    unknown = sorted(set(classes) - set(range(n_classes)))
    if unknown:
        raise DataError(f"data.train_classes {unknown} are not labels of '{splits.name}' "
                        f"(labels 0..{n_classes - 1}).")
    wanted = torch.tensor(sorted(set(classes)))

    def keep(part):
        return part.subset(torch.nonzero(torch.isin(part.y, wanted)).squeeze(1))

    valid = keep(splits.valid) if len(splits.valid) else splits.valid
    out = Splits(splits.name, keep(splits.train), valid, splits.test, dict(splits.info))
    out.info["train_classes"] = sorted(set(classes))
    out.info["sizes"] = out.sizes()
    return out


def _load_source(cfg: DataConfig) -> Splits:
    """The source's splits: in memory, or streamed (``data.streaming``, folders only)."""
    load = resolve_loader(cfg.source)
    if not cfg.streaming:
        return load(cfg)
    if load is not load_folder:
        raise ConfigError(f"data.streaming=true streams image folders only, but "
                          f"'{cfg.source}' is not a folder; remove --set data.streaming=true "
                          "(this source is loaded in memory).")
    return load_streaming_folder(cfg)


def load_data(cfg: DataConfig) -> Splits:
    """Load the data ``cfg`` describes (see `DataConfig`) as `Splits`.

    Images: uint8 ``(N, C, H, W)`` in [0, 255] (float32 in [0, 1] for float arrays);
    tables: float32 ``(N, D)`` min-max scaled with train statistics; labels int64 or None.
    Order: the source is loaded (folders and ``.npy``/``.npz`` images read only the items
    the limits keep), then ``data.limit_train`` / ``limit_eval``, ``data.train_classes``,
    the resize to ``data.image_size`` (`resize_splits`, so only kept items are resized)
    and last the zero-padding to ``data.pad_to`` (`pad_images`). With ``data.streaming``
    (folders only, else `ConfigError`) the splits are `StreamingData`: file lists and
    labels, each batch decoded, resized and padded when asked (data/streaming.py).
    Raises `DataError` for bad config values, unknown sources and bad input files, and
    `ResourceError` for data that would not fit in memory (checked before allocating).
    """
    validate_config(cfg)
    splits = _load_source(cfg)
    splits = keep_classes(apply_limits(splits, cfg.limit_train, cfg.limit_eval),
                          cfg.train_classes)
    if not cfg.streaming:  # a streaming folder resizes and pads each decoded batch
        splits = pad_images(resize_splits(splits, cfg.image_size), cfg.pad_to)
    log.info("data %s: %s", splits.name, splits.sizes())
    return splits
