"""Reader for IDX files, the format of MNIST and Fashion-MNIST (raw or gzip-compressed).

An IDX file is a 4-byte big-endian magic number ``0x0000TTNN`` (TT = element type, 0x08 for
unsigned bytes; NN = number of dimensions), then NN big-endian uint32 sizes, then the
payload in C order. MNIST-style files are images ``0x00000803`` ``(N, H, W)`` and labels
``0x00000801`` ``(N,)``. See http://yann.lecun.com/exdb/mnist/ (section "File formats").

Files are read as a stream (gzip decompressed on the fly): the header first, then at most
the payload size it declares plus one byte (to detect trailing bytes), into one buffer
allocated after `resources.check_fits` accepted that size. A gzip bomb or a header that
declares an absurd size therefore never takes more memory than the header promises.
"""
from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from latentforge.errors import DataError
from latentforge.resources import check_fits

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_KNOWN_MAGICS = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_FIX = "delete it and download or reinstall the dataset"


@contextmanager
def open_content(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """``path`` opened for reading its content, gunzipped on the fly when it is gzip by
    name or by content. Raises `DataError` when the file cannot be opened."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise DataError(f"Cannot read {path} ({exc.strerror or exc}); "
                        "check that the file exists and is readable.") from exc
    with f:
        gz = path.suffix == ".gz" or f.read(2) == _GZIP_MAGIC
        f.seek(0)
        yield gzip.GzipFile(fileobj=f, mode="rb") if gz else f


def _read_into(fp: BinaryIO, buf: memoryview, path: object) -> int:
    """Fill ``buf`` from ``fp`` until it is full or the content ends; bytes read.
    A corrupt gzip stream or a read failure raises `DataError`."""
    done = 0
    try:
        while done < len(buf):
            n = fp.readinto(buf[done:done + _CHUNK])
            if not n:
                break
            done += n
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(fp, gzip.GzipFile):
            raise DataError(f"{path} is a corrupt or truncated gzip file ({exc}); "
                            f"{_FIX}.") from exc
        raise DataError(f"Cannot read {path} ({exc}); {_FIX}.") from exc
    return done


def read_chunks(path: str | os.PathLike) -> Iterator[bytes]:
    """The decompressed content of ``path`` in chunks of at most 1 MiB (for hashing)."""
    with open_content(path) as fp:
        buf = bytearray(_CHUNK)
        while n := _read_into(fp, memoryview(buf), path):
            yield bytes(buf[:n])


def _header(fp: BinaryIO, path: object) -> tuple[int, ...]:
    """Read the magic number and the sizes; the dims of the payload."""
    head = bytearray(4)
    got = _read_into(fp, memoryview(head), path)
    if got < 4:
        raise DataError(f"{path} is too short to be an IDX file ({got} bytes); {_FIX}.")
    magic = int.from_bytes(head, "big")
    if magic not in _KNOWN_MAGICS:
        raise DataError(f"{path} is not an MNIST-style IDX file (magic number 0x{magic:08x}, "
                        "expected 0x00000803 for images or 0x00000801 for labels); "
                        "point data.data_dir at the original dataset files.")
    sizes = bytearray(4 * (magic & 0xFF))
    if _read_into(fp, memoryview(sizes), path) < len(sizes):
        raise DataError(f"{path} is truncated inside its IDX header; {_FIX}.")
    return tuple(int.from_bytes(sizes[i:i + 4], "big") for i in range(0, len(sizes), 4))


def _remaining(fp: BinaryIO) -> int | None:
    """Bytes left in an uncompressed, seekable ``fp``; None for a gzip stream."""
    if isinstance(fp, gzip.GzipFile) or not fp.seekable():
        return None
    pos = fp.tell()
    end = fp.seek(0, io.SEEK_END)
    fp.seek(pos)
    return end - pos


def _size_error(path: object, dims: tuple[int, ...], expected: int,
                actual: int | None) -> DataError:
    """The error for a payload whose length disagrees with the header."""
    short = actual is not None and actual < expected
    holds = "more" if actual is None else str(actual)
    return DataError(f"{path} {'is truncated' if short else 'has trailing bytes'}: its header "
                     f"declares {dims} = {expected} bytes but the payload holds {holds}; {_FIX}.")


def _parse(fp: BinaryIO, path: object) -> np.ndarray:
    """Header, size checks, then the payload read into one buffer of the declared size."""
    dims = _header(fp, path)
    expected = math.prod(dims)
    actual = _remaining(fp)
    if actual is not None and actual != expected:
        raise _size_error(path, dims, expected, actual)
    check_fits(expected, f"{path}, whose IDX header declares {dims},",
               f"if the file is not that large it is corrupt: {_FIX}")
    out = np.empty(expected, dtype=np.uint8)
    got = _read_into(fp, memoryview(out), path)
    if got < expected:
        raise _size_error(path, dims, expected, got)
    if _read_into(fp, memoryview(bytearray(1)), path):
        raise _size_error(path, dims, expected, None)
    return out.reshape(dims)


def parse_idx(data: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode the IDX bytes ``data`` (``path`` only names the file in errors).

    Returns uint8 ``(N, H, W)`` images or ``(N,)`` labels, a writable copy.
    """
    return _parse(io.BytesIO(data), path)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw): uint8 ``(N, H, W)`` images or ``(N,)`` labels.

    Raises `DataError` for a missing file, corrupt gzip, wrong magic number or a payload
    whose length disagrees with the header (read no further than the header declares),
    `ResourceError` when the declared size exceeds the available memory.
    """
    with open_content(path) as fp:
        return _parse(fp, path)


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
