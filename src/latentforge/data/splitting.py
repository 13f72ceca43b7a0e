"""Splitting sources that ship no split, and min-max scaling of tables.

`split_arrays` draws a seeded permutation (``data.split_seed``) and cuts it into test,
valid and train by ``data.test_fraction`` / ``data.valid_fraction``. `minmax_scale` scales
table features to [0, 1] with statistics of the TRAIN split only, so valid/test are scaled
exactly like new data would be (and may fall slightly outside [0, 1]).
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits, TensorData, from_numpy
from latentforge.errors import DataError

log = logging.getLogger(__name__)


def _count(n: int, fraction: float) -> int:
    """Items for ``fraction`` of ``n``: rounded, and at least 1 when the fraction is > 0."""
    return max(1, round(n * fraction)) if fraction > 0 else 0


def min_items(cfg: DataConfig) -> int:
    """The fewest items that leave at least one training item after the valid and test
    fractions (each non-zero fraction takes at least one item)."""
    n = 1
    while n - _count(n, cfg.test_fraction) - _count(n, cfg.valid_fraction) < 1:
        n += 1
    return n


def limit_indices(idx: dict[str, np.ndarray], limit_train: int | None,
                  limit_eval: int | None) -> dict[str, np.ndarray]:
    """The first ``limit_train`` train indices and ``limit_eval`` valid and test indices
    (what `loader.apply_limits` keeps), so a loader decodes only those items."""
    return {k: v[:limit_train if k == "train" else limit_eval] for k, v in idx.items()}


def gather(idx: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(order, local)``: every index of ``idx`` in one array (the items to read, in that
    order), and the split indices into ``order``'s positions."""
    order = np.concatenate([idx[k] for k in ("test", "valid", "train")]).astype(np.int64)
    local, start = {}, 0
    for k in ("test", "valid", "train"):
        local[k] = np.arange(start, start + len(idx[k]))
        start += len(idx[k])
    return order, local


def split_indices(n: int, cfg: DataConfig, what: str) -> dict[str, np.ndarray]:
    """Seeded ``{"train", "valid", "test"}`` index arrays covering ``range(n)`` once.

    ``what`` names the data in errors. Raises `DataError` when no training item is left.
    """
    if n < min_items(cfg):
        raise DataError(f"{what} has only {n} item{'s' if n != 1 else ''}, too few for "
                        f"data.valid_fraction={cfg.valid_fraction} and data.test_fraction="
                        f"{cfg.test_fraction}: they need at least {min_items(cfg)} (each "
                        "non-zero fraction takes at least one item, train keeps one); add "
                        "data or lower them, e.g. --set data.test_fraction=0.")
    n_test, n_valid = _count(n, cfg.test_fraction), _count(n, cfg.valid_fraction)
    perm = np.random.default_rng(cfg.split_seed).permutation(n)
    return {"test": perm[:n_test], "valid": perm[n_test:n_test + n_valid],
            "train": perm[n_test + n_valid:]}


def _take(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``x[v]``; a view (no copy) when ``v`` is a run of consecutive indices (`gather`)."""
    if len(v) and int(v[-1]) - int(v[0]) + 1 == len(v) and (np.diff(v) == 1).all():
        return x[int(v[0]):int(v[-1]) + 1]
    return x[v]


def split_arrays(name: str, x: np.ndarray, y: np.ndarray | None, cfg: DataConfig,
                 classes: list[str] | None = None, info: dict | None = None,
                 idx: dict[str, np.ndarray] | None = None) -> Splits:
    """`Splits` of ``x`` (uint8/float32, first axis = items) and optional int labels ``y``.

    ``idx``: the split indices into ``x`` when the caller already drew them (see `gather`:
    then each split is a view of ``x``, not a copy); else `split_indices`. The test split
    is None when ``data.test_fraction`` is 0; valid is empty when ``data.valid_fraction``
    is 0.
    """
    idx = split_indices(len(x), cfg, name) if idx is None else idx
    parts = {k: from_numpy(_take(x, v), None if y is None else y[v], classes)
             for k, v in idx.items()}
    test = parts["test"] if len(parts["test"]) else None
    return Splits(name, parts["train"], parts["valid"], test, split_info(cfg, idx, info))


def split_info(cfg: DataConfig, idx: dict[str, np.ndarray], info: dict | None) -> dict:
    """A copy of ``info`` with the split rule and the split sizes of ``idx`` added."""
    info = dict(info or {})
    info.update(split=f"seeded permutation (split_seed={cfg.split_seed}): "
                      f"valid_fraction={cfg.valid_fraction}, test_fraction={cfg.test_fraction}",
                sizes={k: len(v) for k, v in idx.items()})
    return info


def _scaled(data: TensorData | None, low: torch.Tensor,
            scale: torch.Tensor) -> TensorData | None:
    """``data`` with features mapped by ``(x - low) / scale``."""
    if data is None:
        return None
    return TensorData((data.x - low) / scale, data.y, data.classes)


def _short(v: torch.Tensor, k: int = 8) -> str:
    """The first ``k`` values of ``v`` for a log line."""
    head = ", ".join(f"{float(a):.4g}" for a in v[:k])
    return f"[{head}{', ...' if len(v) > k else ''}]"


def minmax_scale(splits: Splits) -> Splits:
    """Scale float32 ``(N, D)`` tables per feature to [0, 1] using train statistics.

    ``x' = (x - min_train) / scale`` with ``scale = max_train - min_train`` (1 for a
    constant feature). ``min`` and ``scale`` are stored in ``splits.info["minmax"]`` so the
    mapping can be reproduced or inverted (``x = x' * scale + min``).
    """
    x = splits.train.x
    low = x.min(dim=0).values
    scale = x.max(dim=0).values - low
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    splits.info["minmax"] = {"min": low.tolist(), "scale": scale.tolist()}
    log.info("%s: min-max scaling %d features with train statistics min=%s scale=%s",
             splits.name, len(low), _short(low), _short(scale))
    return Splits(splits.name, _scaled(splits.train, low, scale),
                  _scaled(splits.valid, low, scale), _scaled(splits.test, low, scale),
                  splits.info)
