"""Property test of the data loaders (issue 9): random bytes, truncated and mutated versions
of valid PNG, IDX(.gz), .npy, .npz and .csv files give a loaded dataset or a
`LatentforgeError` (one ``error:`` line in the CLI), never another exception, a hang or
unbounded memory. Derandomized, so CI sees the same examples every run."""
from __future__ import annotations

import gzip
import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentforge.data import DataConfig, Splits, load_data
from latentforge.data.mnist import STEMS
from latentforge.errors import LatentforgeError

SETTINGS = settings(max_examples=60, deadline=2000, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
PER_EXAMPLE_S = 2.0
RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (6, 4, 4)).astype(np.uint8)
LABELS = RNG.integers(0, 3, 6).astype(np.uint8)


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(IMAGES[0]).save(buf, "PNG")
    return buf.getvalue()


def _npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, IMAGES)
    return buf.getvalue()


def _npz() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, x=IMAGES, y=LABELS)
    return buf.getvalue()


def _csv() -> bytes:
    rows = [",".join(map(str, [int(l), *im.ravel()[:5]])) for im, l in zip(IMAGES, LABELS)]
    return ("y,a,b,c,d,e\n" + "\n".join(rows) + "\n").encode()


def _idx(a: np.ndarray) -> bytes:
    magic = (0x08 << 8) | a.ndim
    return (magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in a.shape)
            + a.tobytes())


VALID = {"png": _png(), "npy": _npy(), "npz": _npz(), "csv": _csv(),
         "idx": gzip.compress(_idx(IMAGES))}


@st.composite
def damaged(draw, valid: bytes):
    """Random bytes, or ``valid`` truncated, with bytes overwritten, or with bytes added."""
    kind = draw(st.sampled_from(["random", "truncate", "mutate", "extend"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "truncate":
        return valid[:draw(st.integers(0, len(valid)))]
    data = bytearray(valid)
    if kind == "extend":
        return bytes(data) + draw(st.binary(min_size=1, max_size=64))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    return bytes(data)


def _outcome(cfg: DataConfig) -> object:
    """Load ``cfg``: Splits or a LatentforgeError, within the per-example time bound;
    any other exception fails the test."""
    t = time.perf_counter()
    try:
        result = load_data(cfg)
    except LatentforgeError as exc:
        result = exc
    assert time.perf_counter() - t < PER_EXAMPLE_S
    assert isinstance(result, (Splits, LatentforgeError))
    return result


def _file_source(tmp_path: Path, fmt: str, data: bytes) -> DataConfig:
    """Write ``data`` as a file (or, for png, a folder of two images) and its config."""
    if fmt == "png":
        folder = tmp_path / "images"
        folder.mkdir(exist_ok=True)
        (folder / "a.png").write_bytes(data)
        (folder / "b.png").write_bytes(VALID["png"])
        return DataConfig(source=str(folder), test_fraction=0, valid_fraction=0)
    path = tmp_path / f"data.{fmt}"
    path.write_bytes(data)
    extra = {"label_column": "y"} if fmt == "csv" else {}
    return DataConfig(source=str(path), test_fraction=0, valid_fraction=0, **extra)


@pytest.mark.parametrize("fmt", ["png", "npy", "npz", "csv"])
def test_damaged_files_load_or_fail_cleanly(tmp_path, fmt):
    @SETTINGS
    @given(damaged(VALID[fmt]))
    def check(data):
        _outcome(_file_source(tmp_path, fmt, data))

    check()


def test_damaged_idx_in_a_fashion_mnist_folder(tmp_path):
    folder = tmp_path / "fm"
    folder.mkdir()
    (folder / f"{STEMS[1]}.gz").write_bytes(gzip.compress(_idx(LABELS)))
    (folder / f"{STEMS[2]}.gz").write_bytes(gzip.compress(_idx(IMAGES)))
    (folder / f"{STEMS[3]}.gz").write_bytes(gzip.compress(_idx(LABELS)))
    cfg = DataConfig(source="fashion-mnist", data_dir=str(folder), download=False,
                     valid_size=2)

    @SETTINGS
    @given(damaged(VALID["idx"]), st.booleans())
    def check(data, gunzipped):
        if gunzipped:  # the raw (not gzip) file, damaged the same way
            data = _idx(IMAGES)[:len(data)] if len(data) < len(VALID["idx"]) else data
        (folder / f"{STEMS[0]}.gz").write_bytes(data)
        _outcome(cfg)

    check()


def test_valid_files_load():
    """The unmutated files of the fuzz tests load (so the fuzzing starts from valid data)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for fmt in ("png", "npy", "npz", "csv"):
            assert isinstance(_outcome(_file_source(Path(d), fmt, VALID[fmt])), Splits)


@pytest.mark.parametrize("fmt, data", [
    ("npz", VALID["npz"][:-30]),
    ("npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, "
            b"'shape': (134217728,), }" + b" " * 50 + b"\n"),
])
def test_cli_prints_one_error_line(tmp_path, capsys, fmt, data):
    from conftest import assert_one_error_line
    from latentforge.cli import main

    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(data)
    code = main(["train", "stacked_ae", "--data", str(path), "--epochs", "1",
                 "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, str(path))


def test_one_gb_claims_are_refused_quickly(tmp_path):
    """Headers that declare 1 GiB in tiny files: refused within a second each."""
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        npy, {"descr": "|u1", "fortran_order": False, "shape": (1 << 30,)})
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("x.npy", npy.getvalue() + bytes(10))
    idx = (0x0803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big")
                                                 for d in (1 << 20, 32, 32))
    cases = {"npy": npy.getvalue() + bytes(10), "npz": zbuf.getvalue()}
    for fmt, data in cases.items():
        t = time.perf_counter()
        assert isinstance(_outcome(_file_source(tmp_path, fmt, data)), LatentforgeError)
        assert time.perf_counter() - t < 1.0
    folder = tmp_path / "fm"
    folder.mkdir()
    for stem in STEMS:
        (folder / f"{stem}.gz").write_bytes(gzip.compress(idx + bytes(10)))
    t = time.perf_counter()
    assert isinstance(_outcome(DataConfig(source="fashion-mnist", data_dir=str(folder),
                                          download=False)), LatentforgeError)
    assert time.perf_counter() - t < 1.0
