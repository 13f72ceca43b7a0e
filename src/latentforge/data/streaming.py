"""``data.streaming``: an image folder whose pixels are decoded only when a batch asks.

`load_streaming_folder` scans the folder exactly as the in-memory folder source does
(`folders.scan_folder`: the file list, labels, header checks, mode, size, the seeded split
and the limits), so each split holds the same items in the same order; only the file paths
and labels stay in memory (no `memory.check_data_fits` of the pixels). `StreamingData`
decodes the files of a batch with the folder source's `decode_files` and pads them with
``data.pad_to``'s `pad_batch`, so a batch has the same pixels as the in-memory split's.

`StreamingData.batches` feeds index batches (the engine's, already cut to this process's
slice) to a `torch.utils.data.DataLoader` whose ``data.workers`` processes decode them
while the model trains; batches come back in the order asked.

Whole-split access (`StreamingData.x`, used by steps that read a split at once, e.g.
the sample metrics' reference images) decodes every item of the split, after a memory
check that names what to do when it cannot fit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits, TensorData
from latentforge.data.folders import decode_files, scan_folder
from latentforge.data.memory import check_data_fits, image_bytes, shape_text
from latentforge.data.padding import pad_batch, pad_offsets
from latentforge.data.splitting import split_info

log = logging.getLogger(__name__)
PREFETCH = 4  # batches each worker decodes ahead
WHOLE_SPLIT_HINT = ("this step reads a whole split at once; keep fewer items with --set "
                    "data.limit_eval=N (valid/test) or --set data.limit_train=N, or a smaller "
                    "--set data.image_size=N (data.streaming=true decodes batches only in "
                    "training and evaluation)")


@dataclass
class StreamingData:
    """One split of an image folder: file paths and labels; pixels decoded per batch.

    files: the split's image files, in split order; y: int64 ``(N,)`` labels or None;
    classes: the class names or None; mode: "L" or "RGB"; hw: ``(H, W)`` after decoding
    (and ``size``'s resize); size: ``data.image_size``; pad: `pad_offsets` or None.
    """

    files: list[Path]
    y: torch.Tensor | None
    classes: list[str] | None
    mode: str
    hw: tuple[int, int]
    size: int | None = None
    pad: dict | None = None

    sample_indices = TensorData.sample_indices
    to_float = staticmethod(TensorData.to_float)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one item as a batch gives it (after ``data.pad_to``)."""
        channels = 1 if self.mode == "L" else 3
        if self.pad is not None:
            return channels, self.pad["size"], self.pad["size"]
        return channels, *self.hw

    def decode(self, idx) -> torch.Tensor:
        """uint8 ``(B, C, H, W)`` of the items ``idx`` (int tensor, array or list)."""
        files = [self.files[i] for i in _as_list(idx)]
        x = torch.from_numpy(decode_files(files, self.mode, self.hw, self.size))
        return x if self.pad is None else pad_batch(x, self.pad)

    def batch(self, idx) -> torch.Tensor:
        """Items ``idx`` decoded as float32 in [0, 1], as `TensorData.batch` gives them."""
        return self.to_float(self.decode(idx))

    @property
    def x(self) -> torch.Tensor:
        """Every item of the split decoded (uint8), refused when it cannot fit in memory."""
        n = len(self)
        check_data_fits(image_bytes(n, self.sample_shape),
                        f"{n:,} images of {shape_text(self.sample_shape)} of a streaming "
                        "folder split decoded at once", WHOLE_SPLIT_HINT)
        return self.decode(range(n))

    def subset(self, idx) -> StreamingData:
        """A new `StreamingData` with the items ``idx`` (tensor, array, list or slice)."""
        rows = range(len(self))[idx] if isinstance(idx, slice) else _as_list(idx)
        y = None if self.y is None else self.y[torch.as_tensor(list(rows), dtype=torch.int64)]
        return StreamingData([self.files[i] for i in rows], y, self.classes, self.mode,
                             self.hw, self.size, self.pad)

    def head(self, n: int | None) -> StreamingData:
        """The first ``n`` items (all of them when ``n`` is None or >= len)."""
        if n is None or n >= len(self):
            return self
        return self.subset(slice(0, n))

    def batches(self, index_batches: Iterable, workers: int
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """``(x float32, y or None)`` of each index batch, in order, decoded by ``workers``
        DataLoader processes (0: in this process)."""
        from torch.utils.data import DataLoader

        loader = DataLoader(_BatchReader(self), sampler=[_as_list(i) for i in index_batches],
                            batch_size=None, num_workers=workers, persistent_workers=False,
                            prefetch_factor=PREFETCH if workers else None)
        for xb, yb in loader:
            yield self.to_float(xb), yb


class _BatchReader(torch.utils.data.Dataset):
    """A DataLoader dataset whose item is a whole index batch: ``(uint8 x, y or None)``."""

    def __init__(self, data: StreamingData):
        self.data = data

    def __getitem__(self, idx: list[int]):
        y = self.data.y
        return self.data.decode(idx), None if y is None else y[torch.as_tensor(idx)]


def _as_list(idx) -> list[int]:
    """Indices as a list of Python ints."""
    if isinstance(idx, torch.Tensor):
        return idx.cpu().tolist()
    if isinstance(idx, np.ndarray):
        return idx.tolist()
    return [int(i) for i in idx]


def load_streaming_folder(cfg: DataConfig) -> Splits:
    """The image folder ``cfg.source`` as `Splits` of `StreamingData` (module docstring);
    ``data.pad_to`` is applied to every decoded batch."""
    scan = scan_folder(cfg)
    pad = None if cfg.pad_to is None else pad_offsets(scan.name, scan.sample_shape, cfg.pad_to)
    files, labels = scan.kept_files(), scan.kept_labels()
    parts = {k: StreamingData([files[i] for i in v],
                              None if labels is None else torch.from_numpy(labels[v]),
                              scan.classes, scan.mode, scan.hw, cfg.image_size, pad)
             for k, v in scan.idx.items()}
    info = split_info(cfg, scan.idx, {**scan.info(cfg), "streaming": True})
    if pad is not None:
        info["pad_to"] = pad
    log.info("%s: streaming %d images %s, %s", scan.root, len(files), scan.sample_shape,
             f"classes {scan.classes}" if scan.classes else "no labels")
    test = parts["test"] if len(parts["test"]) else None
    return Splits(scan.name, parts["train"], parts["valid"], test, info)
