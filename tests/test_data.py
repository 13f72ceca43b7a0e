"""Tests of latentforge.data: IDX reader, dataset search/download, every source, limits."""
from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from latentforge.data import (FASHION_CLASSES, DataConfig, Splits, TensorData, load_data,
                              load_idx_pair, read_idx)
from latentforge.data import mnist as mnist_mod
from latentforge.data.download import Digest
from latentforge.data.mnist import STEMS
from latentforge.data.sources import synthetic3d
from latentforge.errors import DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------- fixtures and helpers

@pytest.fixture(autouse=True)
def isolated(isolated_env):
    """Every test here runs in `conftest.isolated_env` (no real caches or variables)."""
    return isolated_env


@pytest.fixture
def no_system_dirs(monkeypatch, tmp_path):
    """Pretend the Debian package folders are absent."""
    for name, spec in mnist_mod.DATASETS.items():
        missing = (str(tmp_path / "no-system" / name),)
        monkeypatch.setitem(mnist_mod.DATASETS, name,
                            dataclasses.replace(spec, system_dirs=missing))


def idx_bytes(a: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array (1-D labels or 3-D images)."""
    magic = (0x08 << 8) | a.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in a.shape)
    return header + a.astype(np.uint8).tobytes()


def write_idx(path: Path, a: np.ndarray) -> Path:
    data = idx_bytes(a)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def tiny_mnist(folder: Path, n_train: int = 20, n_test: int = 6, gz: bool = True) -> dict:
    """Write four tiny IDX files (4x4 images) into ``folder``; returns the arrays by stem."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {STEMS[0]: rng.integers(0, 256, (n_train, 4, 4)),
              STEMS[1]: rng.integers(0, 10, n_train),
              STEMS[2]: rng.integers(0, 256, (n_test, 4, 4)),
              STEMS[3]: rng.integers(0, 10, n_test)}
    for stem, a in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), a)
    return arrays


def save_png(path: Path, size=(6, 5), mode="L", value=128) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 255 - value)).save(path)
    return path


# ---------------------------------------------------------------- IDX reader

@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    ip = write_idx(tmp_path / f"img{suffix}", images)
    lp = write_idx(tmp_path / f"lab{suffix}", labels)
    np.testing.assert_array_equal(read_idx(ip), images)
    x, y = load_idx_pair(ip, lp)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert x.dtype == np.uint8 and x.flags.writeable


def test_idx_wrong_magic(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes((0x00000D03).to_bytes(4, "big") + bytes(12))
    with pytest.raises(DataError, match=r"bad is not an MNIST-style IDX file.*0x00000d03"):
        read_idx(p)


def test_idx_truncated_and_trailing(tmp_path):
    data = idx_bytes(np.zeros((3, 4, 4), np.uint8))
    (tmp_path / "short").write_bytes(data[:-5])
    (tmp_path / "long").write_bytes(data + b"xx")
    (tmp_path / "header").write_bytes(data[:9])
    with pytest.raises(DataError, match=r"short is truncated.*download"):
        read_idx(tmp_path / "short")
    with pytest.raises(DataError, match="trailing bytes"):
        read_idx(tmp_path / "long")
    with pytest.raises(DataError, match="truncated inside its IDX header"):
        read_idx(tmp_path / "header")


def test_idx_corrupt_gzip(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((3, 4, 4), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "garbage.gz").write_bytes(b"\x1f\x8bnot really gzip data at all")
    for name in ("cut.gz", "garbage.gz"):
        with pytest.raises(DataError, match=rf"{name} is a corrupt or truncated gzip"):
            read_idx(tmp_path / name)


def test_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="Cannot read .*nope"):
        read_idx(tmp_path / "nope")


def test_idx_label_count_mismatch(tmp_path):
    ip = write_idx(tmp_path / "img", np.zeros((3, 2, 2), np.uint8))
    lp = write_idx(tmp_path / "lab", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="3 images but .*lab has 4 labels"):
        load_idx_pair(ip, lp)
    with pytest.raises(DataError, match="images file first"):
        load_idx_pair(lp, ip)


# ---------------------------------------------------------------- Fashion-MNIST / MNIST

@pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST is not installed: sudo apt-get install "
                           "dataset-fashion-mnist")
def test_fashion_mnist_real_book_split():
    s = load_data(DataConfig(source="fashion-mnist", download=False))
    assert s.sizes() == {"train": 55000, "valid": 5000, "test": 10000}
    for part in (s.train, s.valid, s.test):
        assert part.x.dtype == torch.uint8 and part.sample_shape == (1, 28, 28)
        assert part.y.dtype == torch.int64 and 0 <= part.y.min() and part.y.max() <= 9
        assert part.classes == FASHION_CLASSES
    assert s.info["path"] == str(FASHION_DIR)


def test_nothing_found_lists_every_place(tmp_path, isolated_env, no_system_dirs):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as err:
        load_data(DataConfig(data_dir=str(empty), download=False))
    msg = str(err.value)
    for place in (str(empty), str(empty / "fashion-mnist"), "no-system",
                  str(isolated_env / ".keras/datasets/fashion-mnist"),
                  str(empty / "FashionMNIST/raw"),
                  str(isolated_env / ".cache/latentforge/fashion-mnist"),
                  "sudo apt-get install dataset-fashion-mnist", "--set data.data_dir="):
        assert place in msg
    assert "missing train-images-idx3-ubyte[.gz]" in msg


@pytest.mark.parametrize("layout", ["plain", "named", "env", "torchvision", "raw-files"])
def test_idx_dataset_found_in_user_dirs(tmp_path, monkeypatch, no_system_dirs, layout):
    root = tmp_path / "root"
    sub = {"plain": root, "named": root / "mnist", "env": root,
           "torchvision": root / "MNIST" / "raw", "raw-files": root}[layout]
    arrays = tiny_mnist(sub, gz=layout != "raw-files")
    if layout == "env":
        monkeypatch.setenv("LATENTFORGE_DATA", str(root))
        cfg = DataConfig(source="mnist", valid_size=5, download=False)
    else:
        cfg = DataConfig(source="mnist", data_dir=str(root), valid_size=5, download=False)
    s = load_data(cfg)
    assert s.sizes() == {"train": 15, "valid": 5, "test": 6}
    assert s.train.sample_shape == (1, 4, 4) and s.info["path"] == str(sub)
    np.testing.assert_array_equal(s.valid.x[:, 0].numpy(), arrays[STEMS[0]][15:])
    np.testing.assert_array_equal(s.test.y.numpy(), arrays[STEMS[3]])
    assert s.train.classes == [str(d) for d in range(10)]


def test_keras_mnist_npz(isolated_env, no_system_dirs):
    keras = isolated_env / ".keras" / "datasets"
    keras.mkdir(parents=True)
    rng = np.random.default_rng(1)
    np.savez(keras / "mnist.npz", x_train=rng.integers(0, 256, (12, 5, 5), dtype=np.uint8),
             y_train=np.arange(12) % 10, x_test=np.zeros((3, 5, 5), np.uint8),
             y_test=np.arange(3))
    s = load_data(DataConfig(source="mnist", valid_size=2, download=False))
    assert s.sizes() == {"train": 10, "valid": 2, "test": 3}
    assert s.train.sample_shape == (1, 5, 5)


def test_valid_size_too_large(tmp_path, no_system_dirs):
    tiny_mnist(tmp_path / "d")
    with pytest.raises(DataError, match=r"valid_size=20 must be in \[0, 20\)"):
        load_data(DataConfig(source="mnist", data_dir=str(tmp_path / "d"), valid_size=20))


@pytest.fixture
def mirror(tmp_path):
    """Serve ``tmp_path/mirror`` over HTTP on 127.0.0.1; yields (folder, base URL)."""
    folder = tmp_path / "mirror"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _patch_digests(monkeypatch, name, digests):
    spec = mnist_mod.DATASETS[name]
    monkeypatch.setitem(mnist_mod.DATASETS, name, dataclasses.replace(spec, digests=digests))


def test_download_verified_and_cached(mirror, monkeypatch, isolated_env, no_system_dirs):
    folder, url = mirror
    arrays = tiny_mnist(folder)
    digests = {s: Digest("sha256", hashlib.sha256(idx_bytes(a)).hexdigest())
               for s, a in arrays.items()}
    _patch_digests(monkeypatch, "fashion-mnist", digests)
    monkeypatch.setenv("LATENTFORGE_MIRROR", url)
    s = load_data(DataConfig(valid_size=4))
    cache = isolated_env / ".cache" / "latentforge" / "fashion-mnist"
    assert s.info["path"] == str(cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{st}.gz" for st in STEMS)
    np.testing.assert_array_equal(s.train.y.numpy(), arrays[STEMS[1]][:16])
    for p in folder.iterdir():  # the mirror is gone: the cache is used
        p.unlink()
    assert load_data(DataConfig(valid_size=4)).sizes() == s.sizes()


def test_download_md5_of_compressed_file(mirror, monkeypatch, isolated_env, no_system_dirs):
    folder, url = mirror
    tiny_mnist(folder)
    digests = {s: Digest("md5", hashlib.md5((folder / f"{s}.gz").read_bytes()).hexdigest(),
                         decompressed=False) for s in STEMS}
    _patch_digests(monkeypatch, "mnist", digests)
    monkeypatch.setenv("LATENTFORGE_MIRROR", url)
    assert len(load_data(DataConfig(source="mnist", valid_size=4)).test) == 6


def test_download_bad_digest_leaves_no_file(mirror, monkeypatch, isolated_env, no_system_dirs):
    folder, url = mirror
    tiny_mnist(folder)
    _patch_digests(monkeypatch, "fashion-mnist", {s: Digest("sha256", "0" * 64) for s in STEMS})
    monkeypatch.setenv("LATENTFORGE_MIRROR", url)
    with pytest.raises(DataError, match=r"download failed.*sha256 .* expected 0000.*apt-get"):
        load_data(DataConfig())
    cache = isolated_env / ".cache" / "latentforge" / "fashion-mnist"
    assert list(cache.iterdir()) == []


def test_download_unreachable(mirror, monkeypatch, no_system_dirs):
    _, url = mirror  # an empty mirror answers 404
    monkeypatch.setenv("LATENTFORGE_MIRROR", url)
    with pytest.raises(DataError, match=r"Could not download http://127\.0\.0\.1.*train-images"):
        load_data(DataConfig())


# ---------------------------------------------------------------- built-in sources

def test_digits_split_and_range():
    s = load_data(DataConfig(source="digits", valid_fraction=0.1, test_fraction=0.2))
    assert s.sizes() == {"train": 1258, "valid": 180, "test": 359}
    assert s.train.x.dtype == torch.uint8 and s.train.sample_shape == (1, 8, 8)
    assert int(s.train.x.max()) == 255 and set(s.train.y.unique().tolist()) == set(range(10))
    again = load_data(DataConfig(source="digits", valid_fraction=0.1, test_fraction=0.2))
    assert torch.equal(s.valid.x, again.valid.x)
    other = load_data(DataConfig(source="digits", split_seed=1))
    assert not torch.equal(load_data(DataConfig(source="digits")).valid.y, other.valid.y)


def test_digits_no_test_split():
    s = load_data(DataConfig(source="digits", test_fraction=0.0))
    assert s.test is None and len(s.train) + len(s.valid) == 1797


def test_synthetic3d():
    state = np.random.get_state()[1].copy()
    s = load_data(DataConfig(source="synthetic3d"))
    assert np.array_equal(np.random.get_state()[1], state)
    assert s.train.x.shape == (60, 3) and s.train.x.dtype == torch.float32
    assert s.train.y is None and len(s.valid) == len(s.test) == 60
    assert torch.allclose(s.train.x.mean(0), torch.zeros(3), atol=1e-6)
    np.random.seed(4)  # the book's own code gives the same points
    a = np.random.rand(60) * 3 * np.pi / 2 - 0.5
    x0 = np.cos(a) + np.sin(a) / 2 + 0.1 * np.random.randn(60) / 2
    np.testing.assert_allclose(synthetic3d()[:, 0], x0 - x0.mean(), atol=1e-6)


# ---------------------------------------------------------------- image folders

def test_folder_with_classes(tmp_path):
    for i in range(4):
        save_png(tmp_path / "imgs" / "dog" / f"{i}.png")
        save_png(tmp_path / "imgs" / "cat" / f"{i}.jpg", value=10)
    (tmp_path / "imgs" / "cat" / ".DS_Store").write_text("x")
    s = load_data(DataConfig(source=str(tmp_path / "imgs"), valid_fraction=0.25,
                             test_fraction=0))
    assert s.train.classes == ["cat", "dog"] and s.test is None
    assert s.sizes() == {"train": 6, "valid": 2, "test": 0}
    assert s.train.sample_shape == (1, 5, 6) and s.train.x.dtype == torch.uint8
    x = torch.cat([s.train.x, s.valid.x]).flatten(1)[:, 0]
    y = torch.cat([s.train.y, s.valid.y])
    assert torch.equal(x == 128, y == 1)


def test_folder_without_classes_rgb_grayscale_resize(tmp_path):
    for i in range(3):
        save_png(tmp_path / "flat" / f"{i}.png", size=(10 + i, 7), mode="RGB")
    cfg = dict(source=str(tmp_path / "flat"), valid_fraction=0, test_fraction=0, image_size=4)
    s = load_data(DataConfig(**cfg))
    assert s.train.y is None and s.train.sample_shape == (3, 4, 4)
    assert load_data(DataConfig(**cfg, grayscale=True)).train.sample_shape == (1, 4, 4)
    with pytest.raises(DataError, match=r"is 11x7 pixels .*--set data.image_size=N"):
        load_data(DataConfig(source=str(tmp_path / "flat")))


def test_folder_bad_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty contains no image files"):
        load_data(DataConfig(source=str(tmp_path / "empty")))
    save_png(tmp_path / "a" / "ok.png")
    (tmp_path / "a" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"notes.txt is not an image file.*remove it"):
        load_data(DataConfig(source=str(tmp_path / "a")))
    save_png(tmp_path / "b" / "ok.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png is not a readable image"):
        load_data(DataConfig(source=str(tmp_path / "b")))
    save_png(tmp_path / "c" / "gray.png")
    save_png(tmp_path / "c" / "rgb.png", mode="RGB")
    with pytest.raises(DataError, match="data.grayscale=true"):
        load_data(DataConfig(source=str(tmp_path / "c")))
    save_png(tmp_path / "d" / "cls" / "x.png")
    save_png(tmp_path / "d" / "stray.png")
    with pytest.raises(DataError, match="stray.png lies beside the class subfolders"):
        load_data(DataConfig(source=str(tmp_path / "d")))


# ---------------------------------------------------------------- arrays and tables

def test_npz_layouts(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (10, 5, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", images=x, labels=np.arange(10))
    s = load_data(DataConfig(source=str(tmp_path / "a.npz"), valid_fraction=0, test_fraction=0))
    assert s.train.sample_shape == (3, 5, 6) and s.train.x.dtype == torch.uint8
    full = torch.from_numpy(x).permute(0, 3, 1, 2)  # rows are permuted; labels say which
    assert torch.equal(s.train.x, full[s.train.y]) and sorted(s.train.y.tolist()) == list(range(10))
    np.save(tmp_path / "b.npy", x[..., 0])
    assert load_data(DataConfig(source=str(tmp_path / "b.npy"))).train.sample_shape == (1, 5, 6)
    np.save(tmp_path / "c.npy", np.zeros((4, 1, 5, 6), np.float64) + 0.5)
    s = load_data(DataConfig(source=str(tmp_path / "c.npy"), valid_fraction=0, test_fraction=0))
    assert s.train.x.dtype == torch.float32 and s.train.sample_shape == (1, 5, 6)
    assert float(s.train.batch(torch.arange(4)).max()) == 0.5


@pytest.mark.parametrize("x, y, match", [
    (np.array([[[0.1, np.nan]]] * 4), None, "has NaN values"),
    (np.array([[1.0, np.inf]] * 4), None, "has inf values"),
    (np.full((4, 2, 2), 2.0), None, r"outside \[0, 1\].*divide them by their maximum \(2\)"),
    (np.zeros((4, 2, 2), np.uint8), np.arange(3), r"labels of shape \(3,\) for 4 samples"),
    (np.zeros((4, 2, 2), np.uint8), np.array([0, 1.5, 2, 3]), "non-integer labels"),
    (np.zeros((4, 5, 5, 5), np.uint8), None, "neither axis 1 nor axis 3"),
])
def test_npz_bad_inputs(tmp_path, x, y, match):
    arrays = {"x": x} if y is None else {"x": x, "y": y}
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=r"bad.npz .*" + match):
        load_data(DataConfig(source=str(tmp_path / "bad.npz")))


def test_npz_missing_x_key(tmp_path):
    np.savez(tmp_path / "k.npz", data=np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"keys \['data'\].*key 'x'"):
        load_data(DataConfig(source=str(tmp_path / "k.npz")))


def test_table_minmax_uses_train_statistics(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 3)) * [1, 10, 100]
    np.save(tmp_path / "t.npy", x)
    s = load_data(DataConfig(source=str(tmp_path / "t.npy")))
    assert s.train.x.dtype == torch.float32 and s.train.sample_shape == (3,)
    assert torch.allclose(s.train.x.min(0).values, torch.zeros(3))
    assert torch.allclose(s.train.x.max(0).values, torch.ones(3))
    mm = s.info["minmax"]
    raw_valid = s.valid.x * torch.tensor(mm["scale"]) + torch.tensor(mm["min"])
    assert all(any(np.allclose(r, row, atol=1e-4) for row in x) for r in raw_valid.numpy())


def test_csv_with_labels(tmp_path):
    rows = ["a,b,label"] + [f"{i},{2 * i + 1},{i % 2}" for i in range(20)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n\n")
    s = load_data(DataConfig(source=str(tmp_path / "t.csv"), label_column="label"))
    assert s.train.sample_shape == (2,) and s.train.y.dtype == torch.int64
    assert s.info["columns"] == ["a", "b"] and set(s.train.y.tolist()) == {0, 1}
    assert float(s.train.x.min()) == 0.0 and float(s.train.x.max()) == 1.0
    train_a = s.train.x[:, 0] * s.info["minmax"]["scale"][0] + s.info["minmax"]["min"][0]
    assert torch.allclose(s.train.y.float(), train_a.round() % 2)


def test_csv_without_header_index_label(tmp_path):
    (tmp_path / "n.csv").write_text("".join(f"{i}.5,{i % 3}\n" for i in range(10)))
    s = load_data(DataConfig(source=str(tmp_path / "n.csv"), label_column="1"))
    assert s.train.sample_shape == (1,) and int(s.train.y.max()) <= 2


@pytest.mark.parametrize("body, match", [
    ("a,b\n1,2\n3,oops\n", r"line 3, column 'b' holds 'oops', not a number"),
    ("a,b\n1,2\n,4\n", r"line 3, column 'a' is empty"),
    ("a,b\n1,nan\n3,4\n", r"line 2, column 'b' holds nan, not a finite number"),
    ("a,b\n1,2\n3\n", "line 3 has 1 columns"),
    ("a,b\n", "no data rows"),
])
def test_csv_bad_inputs(tmp_path, body, match):
    (tmp_path / "bad.csv").write_text(body)
    with pytest.raises(DataError, match=match):
        load_data(DataConfig(source=str(tmp_path / "bad.csv")))


def test_csv_unknown_label_column(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match=r"no column 'y' \(columns are \['a', 'b'\]\)"):
        load_data(DataConfig(source=str(tmp_path / "t.csv"), label_column="y"))


# ---------------------------------------------------------------- config, limits, TensorData

def test_limits():
    s = load_data(DataConfig(source="digits", limit_train=100, limit_eval=7))
    full = load_data(DataConfig(source="digits"))
    assert s.sizes() == {"train": 100, "valid": 7, "test": 7} == s.info["sizes"]
    assert torch.equal(s.train.x, full.train.x[:100]) and torch.equal(s.test.y, full.test.y[:7])


@pytest.mark.parametrize("kwargs, match", [
    ({"source": "fashoin-mnist"}, r"Unknown data source 'fashoin-mnist'.*fashion-mnist, mnist, "
                                  r"digits, synthetic3d.*existing"),
    ({"source": "digits", "valid_fraction": 1.0}, r"valid_fraction must be a number in \[0, 1\)"),
    ({"source": "digits", "valid_fraction": 0.6, "test_fraction": 0.5}, "< 1 - data.test_frac"),
    ({"source": "digits", "limit_train": 0}, "limit_train must be None or an integer >= 1"),
    ({"source": "digits", "valid_size": -1}, "valid_size must be an integer >= 0"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(DataError, match=match):
        load_data(DataConfig(**kwargs))


def test_unsupported_file(tmp_path):
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(DataError, match=r"x.txt is not a supported data file"):
        load_data(DataConfig(source=str(tmp_path / "x.txt")))


def test_tensordata_batch_range_subset_head():
    x = torch.tensor([[0, 255], [128, 64], [1, 2]], dtype=torch.uint8).reshape(3, 1, 1, 2)
    d = TensorData(x, torch.tensor([0, 1, 2]), ["a", "b", "c"])
    b = d.batch(torch.tensor([1, 0]))
    assert b.dtype == torch.float32 and b.shape == (2, 1, 1, 2)
    assert float(b.min()) == 0.0 and float(b.max()) == 1.0
    assert torch.allclose(b[0], torch.tensor([128, 64]).float().reshape(1, 1, 2) / 255)
    assert torch.equal(d.to_float(x[:1]), d.batch(torch.tensor([0])))
    assert len(d.head(2)) == 2 and d.head(None) is d and d.sample_shape == (1, 1, 2)
    sub = d.subset(np.array([2, 0]))
    assert sub.y.tolist() == [2, 0] and sub.classes == d.classes
    f = TensorData(torch.rand(4, 3), None)
    assert torch.equal(f.batch(torch.arange(4)), f.x)
    with pytest.raises(DataError, match="one label per sample"):
        TensorData(x, torch.tensor([0, 1]))
    assert isinstance(load_data(DataConfig(source="synthetic3d")), Splits)


def test_sample_indices_seeded_sorted_and_complete():
    data = TensorData(torch.zeros(50, 3, dtype=torch.uint8), None)
    a, b = data.sample_indices(10, seed=3), data.sample_indices(10, seed=3)
    assert torch.equal(a, b) and len(a) == 10 and len(set(a.tolist())) == 10
    assert torch.equal(a, a.sort().values) and a.max() < 50
    assert not torch.equal(a, data.sample_indices(10, seed=4))
    assert torch.equal(data.sample_indices(None), torch.arange(50))
    assert torch.equal(data.sample_indices(80), torch.arange(50))
