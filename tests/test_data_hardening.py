"""Hardening of the data loaders (issue 9): bombs, absurd sizes, 16-bit images, flat image
arrays, label column indices, hints that fit the data. Every bad input is one
`LatentforgeError` (one ``error:`` line in the CLI), never a traceback or a silent fix."""
from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pytest

from latentforge.data import DataConfig, load_data, read_idx
from latentforge.data import mnist as mnist_mod
from latentforge.data.mnist import STEMS
from latentforge.errors import DataError, LatentforgeError, ResourceError


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """A private HOME and no data variables, so no test sees the real caches."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("LATENTFORGE_DATA", "LATENTFORGE_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    return home


def idx_header(dims: tuple[int, ...]) -> bytes:
    magic = (0x08 << 8) | len(dims)
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)


def gzip_bomb(path: Path, dims: tuple[int, ...], payload_mib: int) -> Path:
    """A small .gz whose content is a valid IDX header then ``payload_mib`` MiB of zeros."""
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(idx_header(dims))
        zeros = bytes(1 << 20)
        for _ in range(payload_mib):
            f.write(zeros)
    return path


# ---------------------------------------------------------------- item 9: IDX bombs

def test_idx_gzip_bomb_reads_no_more_than_the_header_declares(tmp_path):
    """64 MiB of zeros behind a header declaring 2x4x4 bytes: refused as trailing bytes
    after reading 33 bytes of payload, without decompressing the 64 MiB."""
    import tracemalloc

    p = gzip_bomb(tmp_path / "bomb.gz", (2, 4, 4), 64)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"bomb.gz has trailing bytes.*declares \(2, 4, 4\)"):
            read_idx(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak


def test_idx_header_claiming_1gb_is_refused_quickly(tmp_path):
    dims = (1 << 20, 32, 32)  # 1 GiB
    raw = tmp_path / "raw-idx"
    raw.write_bytes(idx_header(dims) + bytes(100))
    gz = tmp_path / "claim.gz"
    gz.write_bytes(gzip.compress(idx_header(dims) + bytes(100)))
    for p in (raw, gz):
        t = time.perf_counter()
        with pytest.raises(LatentforgeError, match="truncated|would need"):
            read_idx(p)
        assert time.perf_counter() - t < 1.0


def test_idx_absurd_header_is_refused_before_reading(tmp_path):
    p = tmp_path / "absurd.gz"
    p.write_bytes(gzip.compress(idx_header((2**32 - 1, 2**32 - 1, 2**32 - 1))))
    with pytest.raises(ResourceError, match="absurd.gz, whose IDX header declares.*would need"):
        read_idx(p)


def test_fashion_folder_with_gzip_bomb_is_one_error(tmp_path):
    folder = tmp_path / "fm"
    folder.mkdir()
    gzip_bomb(folder / f"{STEMS[0]}.gz", (3, 28, 28), 16)
    for stem in STEMS[1:]:
        (folder / f"{stem}.gz").write_bytes(gzip.compress(idx_header((3,)) + bytes(3)))
    with pytest.raises(DataError, match="trailing bytes"):
        load_data(DataConfig(source="fashion-mnist", data_dir=str(folder), download=False))
