"""In-memory datasets: `TensorData` (one split as tensors) and `Splits` (train/valid/test).

Images stay uint8 ``(N, C, H, W)`` in memory and are scaled to float32 in ``[0, 1]`` per
batch (`TensorData.batch`), so 60,000 Fashion-MNIST images take 47 MB instead of 188 MB.
Tables and float images are stored as float32 already. Batches are taken by indexing with a
``torch.randperm`` permutation, not with a per-sample ``DataLoader`` (several times slower
for 28x28 data).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from latentforge.errors import DataError


@dataclass
class TensorData:
    """One split held as tensors.

    x: uint8 ``(N, C, H, W)`` images in ``[0, 255]``, or float32 ``(N, D)`` tables /
        ``(N, C, H, W)`` float images.
    y: int64 ``(N,)`` class labels in ``[0, K)``, or None when the source has no labels.
    classes: the K class names (``classes[y[i]]`` names sample i), or None.
    """

    x: torch.Tensor
    y: torch.Tensor | None
    classes: list[str] | None = None

    def __post_init__(self) -> None:
        if self.x.dtype not in (torch.uint8, torch.float32):
            raise DataError(f"TensorData.x must be uint8 or float32, got {self.x.dtype}; "
                            "convert the array before wrapping it.")
        if self.y is not None and (self.y.dtype != torch.int64 or self.y.dim() != 1
                                   or len(self.y) != len(self.x)):
            raise DataError(f"TensorData.y must be int64 of shape ({len(self.x)},), got "
                            f"{self.y.dtype} {tuple(self.y.shape)}; pass one label per sample.")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(1, 28, 28)`` or ``(3,)``."""
        return tuple(self.x.shape[1:])

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Samples ``idx`` as float32: ``(B, *sample_shape)``, uint8 images scaled to [0, 1].

        A 1-D index tensor goes through `index_select` (several times faster than
        advanced indexing for small batches).
        """
        if isinstance(idx, torch.Tensor) and idx.dim() == 1:
            return self.to_float(self.x.index_select(0, idx))
        return self.to_float(self.x[idx])

    def sample_indices(self, n: int | None, seed: int = 0) -> torch.Tensor:
        """Sorted int64 indices of a seeded random sample of `n` items; all when `n` is None
        or at least len(self). The same (n, seed) always picks the same items."""
        if n is None or n >= len(self):
            return torch.arange(len(self))
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return perm[:n].sort().values

    @staticmethod
    def to_float(xb: torch.Tensor) -> torch.Tensor:
        """Convert an already-indexed slice: uint8 -> float32 / 255 in [0, 1]; float -> float32."""
        if xb.dtype == torch.uint8:
            return xb.to(torch.float32).div_(255.0)
        return xb.to(torch.float32)

    def subset(self, idx: Any) -> TensorData:
        """A new `TensorData` with the rows ``idx`` (tensor, array, list or slice)."""
        if isinstance(idx, np.ndarray):
            idx = torch.from_numpy(idx)
        elif isinstance(idx, list):
            idx = torch.as_tensor(idx, dtype=torch.int64)
        y = None if self.y is None else self.y[idx]
        return TensorData(self.x[idx], y, self.classes)

    def head(self, n: int | None) -> TensorData:
        """The first ``n`` samples (all of them when ``n`` is None or >= len)."""
        if n is None or n >= len(self):
            return self
        return self.subset(slice(0, n))


@dataclass
class Splits:
    """The data of one run.

    name: the source, e.g. ``"fashion-mnist"`` or a file/folder name.
    train/valid: the training and validation splits (valid may be empty when the config
        asks for no validation data).
    test: the test split, or None when the source has none.
    info: JSON-serialisable facts: source path(s), split sizes, normalisation statistics.
    """

    name: str
    train: TensorData
    valid: TensorData
    test: TensorData | None
    info: dict = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """``{"train": N, "valid": N, "test": N}`` (test 0 when absent)."""
        return {"train": len(self.train), "valid": len(self.valid),
                "test": 0 if self.test is None else len(self.test)}

    def n_items(self) -> int:
        """Items in train, valid and test together."""
        return sum(self.sizes().values())

    def map_images(self, fn, info_key: str, info) -> Splits:
        """New splits whose every part's ``x`` is ``fn(x)`` (labels and class names kept),
        with ``info[info_key] = info`` added to a copy of `info`."""
        def mapped(part: TensorData | None) -> TensorData | None:
            return None if part is None else TensorData(fn(part.x), part.y, part.classes)

        out = Splits(self.name, mapped(self.train), mapped(self.valid), mapped(self.test),
                     dict(self.info))
        out.info[info_key] = info
        return out


def from_numpy(x: np.ndarray, y: np.ndarray | None,
               classes: list[str] | None = None) -> TensorData:
    """Wrap numpy arrays (uint8 or float32 ``x``, integer ``y``) without copying when possible."""
    xt = torch.from_numpy(np.ascontiguousarray(x))
    yt = None if y is None else torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    return TensorData(xt, yt, classes)
