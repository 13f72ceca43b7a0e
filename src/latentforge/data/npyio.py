"""Bounded reading of ``.npy`` and ``.npz`` files.

The ``.npy`` header of an array (its shape and dtype) is read first; the size it declares
must match the bytes the file (or zip member) holds, and must fit in the available memory
(`resources.check_fits`), before anything is allocated. So a zip bomb in a ``.npz`` or a
header declaring terabytes ends in one `DataError` / `ResourceError`, not in a
`MemoryError`. A ``.npy`` file is memory-mapped (read-only): rows are read from disk when
they are used. Object arrays (pickles) are refused.
"""
from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from latentforge.errors import DataError, LatentforgeError
from latentforge.resources import check_fits

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}
_CHUNK = 1 << 20
_FIX = "save it with np.save / np.savez and without object arrays"
_READ_ERRORS = (ValueError, OSError, EOFError, SyntaxError, TypeError, OverflowError,
                zlib.error, zipfile.BadZipFile, NotImplementedError, RuntimeError,
                tokenize.TokenError)  # numpy parses old .npy headers with tokenize


def _header(fp: BinaryIO, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at the start of ``fp``."""
    version = np.lib.format.read_magic(fp)
    reader = _HEADER_READERS.get(version)
    if reader is None:
        raise DataError(f"{where} is a .npy of format version {version}, which is not "
                        f"supported; {_FIX}.")
    shape, fortran, dtype = reader(fp)
    if dtype.hasobject or dtype.names is not None or dtype.itemsize == 0:
        raise DataError(f"{where} holds a {dtype} array; save plain numbers "
                        "(uint8, int, float or bool).")
    return tuple(shape), fortran, dtype


def _check_payload(where: str, shape: tuple[int, ...], dtype: np.dtype, present: int) -> int:
    """The declared payload size; `DataError` when the file holds another size."""
    declared = math.prod(shape) * dtype.itemsize
    if present != declared:
        problem = "is truncated" if present < declared else "has trailing bytes"
        raise DataError(f"{where} {problem}: its header declares shape {shape} of {dtype} = "
                        f"{declared} bytes but it holds {present}; {_FIX}.")
    return declared


def read_npy(path: Path) -> np.ndarray:
    """The array of a ``.npy`` file, memory-mapped read-only (not copied into memory)."""
    try:
        with open(path, "rb") as f:
            shape, fortran, dtype = _header(f, str(path))
            offset = f.tell()
            present = os.fstat(f.fileno()).st_size - offset
        if _check_payload(str(path), shape, dtype, present) == 0:
            return np.zeros(shape, dtype)
        order = "F" if fortran else "C"
        return np.asarray(np.memmap(path, dtype, "r", offset, shape, order))
    except LatentforgeError:
        raise
    except _READ_ERRORS as exc:
        raise DataError(f"{path} is not a readable .npy file ({exc}); {_FIX}.") from exc


def npz_keys(path: Path) -> list[str]:
    """The array names of a ``.npz`` file (member names without ``.npy``)."""
    try:
        with zipfile.ZipFile(path) as z:
            return [n[:-4] if n.endswith(".npy") else n for n in z.namelist()]
    except _READ_ERRORS as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc}); {_FIX}.") from exc


def _fill(f: BinaryIO, buf: memoryview) -> int:
    """Read ``f`` into ``buf`` in 1 MiB steps (no second copy); bytes read."""
    done = 0
    while done < len(buf):
        chunk = f.read(min(len(buf) - done, _CHUNK))
        if not chunk:
            break
        buf[done:done + len(chunk)] = chunk
        done += len(chunk)
    return done


def _member(z: zipfile.ZipFile, key: str) -> zipfile.ZipInfo:
    names = z.namelist()
    return z.getinfo(f"{key}.npy" if f"{key}.npy" in names else key)


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """One member: header, size checks, then exactly the declared bytes."""
    with z.open(info) as f:
        shape, fortran, dtype = _header(f, where)
        declared = _check_payload(where, shape, dtype, info.file_size - f.tell())
        check_fits(declared, f"{where} (shape {shape}, {dtype})",
                   "save fewer or smaller samples, or save x alone with np.save as .npy "
                   "(memory-mapped)")
        buf = np.empty(declared, dtype=np.uint8)
        got = _fill(f, memoryview(buf))
        if got != declared or f.read(1):
            raise DataError(f"{where} holds {got} bytes, not the {declared} its header "
                            f"declares; {_FIX}.")
    a = buf.view(dtype)
    return a.reshape(shape[::-1]).T if fortran else a.reshape(shape)


def read_npz(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (each must exist, see `npz_keys`) of a ``.npz`` file, each read
    only after its header's declared size was checked."""
    try:
        with zipfile.ZipFile(path) as z:
            return {k: _read_member(z, _member(z, k), f"{path}[{k}]") for k in keys}
    except LatentforgeError:
        raise
    except _READ_ERRORS + (KeyError,) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc}); {_FIX}.") from exc
