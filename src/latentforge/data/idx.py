"""Reader for IDX files, the format of MNIST and Fashion-MNIST (raw or gzip-compressed).

An IDX file is a 4-byte big-endian magic number ``0x0000TTNN`` (TT = element type, 0x08 for
unsigned bytes; NN = number of dimensions), then NN big-endian uint32 sizes, then the
payload in C order. MNIST-style files are images ``0x00000803`` ``(N, H, W)`` and labels
``0x00000801`` ``(N,)``. See http://yann.lecun.com/exdb/mnist/ (section "File formats").
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from latentforge.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_KNOWN_MAGICS = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | os.PathLike) -> bytes:
    """The decompressed content of ``path`` (gunzipped when it is gzip by name or content)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {path} ({exc.strerror or exc}); "
                        "check that the file exists and is readable.") from exc
    if not (path.suffix == ".gz" or raw[:2] == _GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is a corrupt or truncated gzip file ({exc}); "
                        "delete it and download or reinstall the dataset.") from exc


def parse_idx(data: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode the IDX bytes ``data`` (``path`` only names the file in errors).

    Returns uint8 ``(N, H, W)`` images or ``(N,)`` labels, a writable copy.
    """
    if len(data) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(data)} bytes); "
                        "delete it and download or reinstall the dataset.")
    magic = int.from_bytes(data[:4], "big")
    if magic not in _KNOWN_MAGICS:
        raise DataError(f"{path} is not an MNIST-style IDX file (magic number 0x{magic:08x}, "
                        "expected 0x00000803 for images or 0x00000801 for labels); "
                        "point data.data_dir at the original dataset files.")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its IDX header; "
                        "delete it and download or reinstall the dataset.")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(data) - header
    if actual != expected:
        problem = "is truncated" if actual < expected else "has trailing bytes"
        raise DataError(f"{path} {problem}: its header declares {dims} = {expected} bytes "
                        f"but the payload holds {actual}; "
                        "delete it and download or reinstall the dataset.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw): uint8 ``(N, H, W)`` images or ``(N,)`` labels.

    Raises `DataError` for a missing file, corrupt gzip, wrong magic number or a payload
    whose length disagrees with the header.
    """
    return parse_idx(read_bytes(path), path)


def load_idx_pair(images_path: str | os.PathLike,
                  labels_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read matching IDX images and labels.

    Returns ``(images, labels)``: uint8 ``(N, H, W)`` and uint8 ``(N,)``. Raises `DataError`
    when the first file is not images, the second not labels, or their counts differ.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(f"{images_path} holds {images.ndim}-D data, not (N, H, W) images; "
                        "pass the images file first and the labels file second.")
    if labels.ndim != 1:
        raise DataError(f"{labels_path} holds {labels.ndim}-D data, not (N,) labels; "
                        "pass the images file first and the labels file second.")
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has "
                        f"{len(labels)} labels; use the images and labels of the same split.")
    return images, labels
