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


# ---------------------------------------------------------------- item 9: .npz / .npy

def npz_bomb(path: Path, claim_shape: tuple[int, ...], payload: bytes) -> Path:
    """A .npz whose member x.npy has a header declaring ``claim_shape`` uint8."""
    import io
    import zipfile

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": claim_shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", buf.getvalue() + payload)
    return path


def test_npz_member_larger_than_declared_is_refused_without_reading_it(tmp_path):
    import tracemalloc

    p = npz_bomb(tmp_path / "bomb.npz", (4, 2, 2), bytes(64 << 20))  # 64 MiB of zeros
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"bomb.npz\[x\] has trailing bytes"):
            load_data(DataConfig(source=str(p)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak


def test_npz_and_npy_claiming_huge_sizes_are_refused_quickly(tmp_path):
    p = npz_bomb(tmp_path / "claim.npz", (1 << 30,), bytes(100))  # 1 GiB claimed
    q = tmp_path / "claim.npy"
    with open(q, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (1 << 40, 784)})
        f.write(bytes(100))
    for path in (p, q):
        t = time.perf_counter()
        with pytest.raises(DataError, match="is truncated: its header declares"):
            load_data(DataConfig(source=str(path)))
        assert time.perf_counter() - t < 1.0


def test_npz_member_too_large_for_memory_is_a_resource_error(tmp_path, monkeypatch):
    import latentforge.resources as resources

    monkeypatch.setattr(resources, "available_memory", lambda: 1000)
    p = tmp_path / "big.npz"
    np.savez_compressed(p, x=np.zeros((10, 20, 20), np.uint8))
    with pytest.raises(ResourceError, match=r"big.npz\[x\].*would need 3.9 KiB"):
        load_data(DataConfig(source=str(p)))


# ---------------------------------------------------------------- item 6: 16-bit images

def test_16bit_png_scaled_not_clipped(tmp_path):
    from PIL import Image

    folder = tmp_path / "deep"
    folder.mkdir()
    values = np.array([[0, 257, 32896, 65535]], np.uint16).repeat(4, axis=0)
    for i in range(4):
        Image.fromarray(values).save(folder / f"{i}.png")
    assert Image.open(folder / "0.png").mode.startswith("I;16")
    s = load_data(DataConfig(source=str(folder), test_fraction=0, valid_fraction=0))
    np.testing.assert_array_equal(s.train.x[0, 0, 0].numpy(), [0, 1, 128, 255])


def test_32bit_int_and_float_tiffs(tmp_path):
    from PIL import Image

    ok, bad = tmp_path / "ok", tmp_path / "bad"
    ok.mkdir(), bad.mkdir()
    Image.fromarray(np.array([[0, 65535]], np.int32)).save(ok / "i.tif")
    Image.fromarray(np.array([[0.0, 0.5]], np.float32)).save(ok / "f.tif")
    s = load_data(DataConfig(source=str(ok), test_fraction=0, valid_fraction=0))
    got = sorted(tuple(r) for r in s.train.x[:, 0, 0].tolist())
    assert got == [(0, 128), (0, 255)]
    Image.fromarray(np.array([[0.0, np.nan]], np.float32)).save(bad / "n.tif")
    with pytest.raises(DataError, match="n.tif is a float image with NaN or inf"):
        load_data(DataConfig(source=str(bad), test_fraction=0, valid_fraction=0))


# ---------------------------------------------------------------- item 8: pixel limit

def test_image_over_the_pixel_limit_refused_before_decoding(tmp_path, monkeypatch, recwarn):
    from PIL import Image

    import latentforge.data.folders as folders

    folder = tmp_path / "big"
    folder.mkdir()
    Image.new("L", (300, 300)).save(folder / "a.png")
    Image.new("L", (300, 300)).save(folder / "b.png")
    monkeypatch.setattr(folders, "MAX_PIXELS", 50_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30_000)  # Pillow would warn / refuse
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(1))
    with pytest.raises(DataError, match=r"a.png is too large to decode safely|a.png is 300x300"):
        load_data(DataConfig(source=str(folder)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # no Pillow check: ours refuses
    with pytest.raises(DataError, match=r"a.png is 300x300 pixels \(0 megapixels\), more"):
        load_data(DataConfig(source=str(folder)))
    assert not decoded and not [w for w in recwarn if "Decompression" in str(w.category)]


# ---------------------------------------------------------------- item 7: absurd sizes

def test_image_size_upper_bound():
    with pytest.raises(DataError, match=r"data.image_size must be None or an integer in "
                                        r"\[1, 4096\], got 100000"):
        load_data(DataConfig(source="digits", image_size=100000))


def test_folder_memory_checked_before_decoding(tmp_path, monkeypatch):
    from PIL import Image

    import latentforge.resources as resources

    folder = tmp_path / "f"
    folder.mkdir()
    for i in range(10):
        Image.new("L", (8, 8), i).save(folder / f"{i}.png")
    monkeypatch.setattr(resources, "available_memory", lambda: 10_000_000)
    with pytest.raises(ResourceError, match=r"10 images of 1x4096x4096 .* would need 160.0 MiB"
                                            r".*data.image_size.*data.limit_train"):
        load_data(DataConfig(source=str(folder), image_size=4096))
    # the limits reduce what is decoded: 2 train + 1 valid + 1 test at 1 MiB each
    s = load_data(DataConfig(source=str(folder), image_size=1024, limit_train=2,
                             limit_eval=1))
    assert s.sizes() == {"train": 2, "valid": 1, "test": 1}


def test_folder_limits_decode_the_same_items_as_before(tmp_path):
    from PIL import Image

    folder = tmp_path / "f"
    for c in range(2):
        (folder / f"c{c}").mkdir(parents=True)
        for i in range(15):
            Image.new("L", (4, 4), 10 * i + c).save(folder / f"c{c}" / f"{i}.png")
    full = load_data(DataConfig(source=str(folder)))
    lim = load_data(DataConfig(source=str(folder), limit_train=5, limit_eval=2))
    for part in ("train", "valid", "test"):
        a, b = getattr(full, part), getattr(lim, part)
        n = len(b)
        assert torch_equal(a.x[:n], b.x) and torch_equal(a.y[:n], b.y)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


# ---------------------------------------------------------------- item 17: label_column int

def test_label_column_index_from_the_command_line(tmp_path, capsys):
    from latentforge.cli import main

    body = "".join(f"{i % 3},{i}.5,{i * 2}\n" for i in range(30))
    (tmp_path / "t.csv").write_text(body)
    (tmp_path / "h.csv").write_text("y,a,b\n" + body)
    for name in ("t.csv", "h.csv"):
        code = main(["config", "stacked_ae", "--set", "data.label_column=0", "--set",
                     f"data.source={tmp_path / name}"])
        assert code == 0, capsys.readouterr().err
        s = load_data(DataConfig(source=str(tmp_path / name), label_column=0))
        assert s.train.sample_shape == (2,) and int(s.train.y.max()) == 2
    with pytest.raises(DataError, match=r"no column index 3 \(it has 3 columns, 0..2\)"):
        load_data(DataConfig(source=str(tmp_path / "t.csv"), label_column=3))
    with pytest.raises(DataError, match="label_column must be a column name or a 0-based"):
        load_data(DataConfig(source=str(tmp_path / "t.csv"), label_column=-1))


# ---------------------------------------------------------------- item 21: image_shape

def test_flat_uint8_rows_become_images(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (20, 784)).astype(np.uint8)
    np.save(tmp_path / "flat.npy", x)
    s = load_data(DataConfig(source=str(tmp_path / "flat.npy"), image_shape=[1, 28, 28]))
    assert s.train.x.dtype.is_floating_point is False and s.train.sample_shape == (1, 28, 28)
    rows = {bytes(r) for r in x}
    assert all(bytes(im.flatten().numpy()) in rows for im in s.train.x)
    csv = tmp_path / "flat.csv"
    np.savetxt(csv, x[:, :12], fmt="%d", delimiter=",")
    c = load_data(DataConfig(source=str(csv), image_shape=[3, 2, 2]))
    assert str(c.train.x.dtype) == "torch.uint8" and c.train.sample_shape == (3, 2, 2)
    with pytest.raises(DataError, match=r"image_shape=\[1, 27, 27\] holds 729 values per "
                                        r"image, but .*flat.npy holds 784"):
        load_data(DataConfig(source=str(tmp_path / "flat.npy"), image_shape=[1, 27, 27]))
    with pytest.raises(DataError, match="data.image_shape must be None or \\[C, H, W\\]"):
        load_data(DataConfig(source=str(tmp_path / "flat.npy"), image_shape=[2, 28, 14]))


def test_image_shape_accepted_by_the_config(capsys):
    from latentforge.cli import main

    assert main(["config", "conv_ae", "--set", "data.image_shape=[1,28,28]"]) == 0
    assert '"image_shape": [' in capsys.readouterr().out


# ---------------------------------------------------------------- item 23: range hints

def test_float_pixel_hint_fits_the_data(tmp_path):
    np.save(tmp_path / "d.npy", np.linspace(0, 16, 4 * 8 * 8).reshape(4, 8, 8))
    with pytest.raises(DataError, match=r"values range 0..16\); divide them by their "
                                        r"maximum \(16\)") as exc:
        load_data(DataConfig(source=str(tmp_path / "d.npy")))
    assert "255)" not in str(exc.value).split(";")[1].split("uint8")[0]


# ---------------------------------------------------------------- item 18: too few items

def test_single_item_dataset_says_how_many_are_needed(tmp_path, capsys):
    from conftest import assert_one_error_line
    from latentforge.cli import main

    np.save(tmp_path / "one.npy", np.zeros((1, 8, 8), np.uint8))
    code = main(["train", "stacked_ae", "--data", str(tmp_path / "one.npy"), "--epochs", "1",
                 "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, "only 1 item,", "need at least 3")
