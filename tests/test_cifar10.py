"""Tests of the cifar10 source (official binary archive format) and of data.pad_to."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from latentforge.data import DataConfig, load_data
from latentforge.data import cifar10 as cifar_mod
from latentforge.errors import DataError

R = 4  # records per batch file in the test archives


@pytest.fixture(autouse=True)
def small_batches(isolated_env, monkeypatch):
    """`conftest.isolated_env` (no real caches or variables), and test-sized batch files."""
    monkeypatch.setattr(cifar_mod, "RECORDS_PER_BATCH", R)
    return isolated_env


def make_batches(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random images (R, 3, 32, 32) and labels (R,) per batch file name."""
    rng = np.random.default_rng(seed)
    return {name: (rng.integers(0, 256, (R, 3, 32, 32), dtype=np.uint8),
                   rng.integers(0, 10, R).astype(np.uint8))
            for name in cifar_mod.BIN_FILES}


def record_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The official layout, written explicitly: label, then R plane, G plane, B plane."""
    out = bytearray()
    for img, lab in zip(images, labels):
        out.append(int(lab))
        for c in range(3):  # red, green, blue, each 32 rows of 32 bytes
            for row in range(32):
                out += bytes(int(v) for v in img[c, row])
    return bytes(out)


def write_archive(folder: Path, batches, extra: dict[str, bytes] | None = None,
                  override: dict[str, bytes] | None = None) -> Path:
    """A ``cifar-10-binary.tar.gz`` like the official one (plus ``extra`` members)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / cifar_mod.ARCHIVE
    members = {f"{cifar_mod.MEMBER_DIR}/batches.meta.txt": "\n".join(cifar_mod.CLASSES).encode()}
    for name, (x, y) in batches.items():
        members[f"{cifar_mod.MEMBER_DIR}/{name}"] = record_bytes(x, y)
    members.update(override or {})
    members.update(extra or {})
    with tarfile.open(path, "w:gz") as tar:
        d = tarfile.TarInfo(cifar_mod.MEMBER_DIR)
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_archive_parsed_exactly(tmp_path):
    batches = make_batches()
    write_archive(tmp_path / "d", batches)
    s = load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d"), valid_size=3))
    x_tr = np.concatenate([batches[n][0] for n in cifar_mod.TRAIN_FILES])
    y_tr = np.concatenate([batches[n][1] for n in cifar_mod.TRAIN_FILES])
    assert s.name == "cifar10"
    assert s.sizes() == {"train": 5 * R - 3, "valid": 3, "test": R}
    assert s.train.x.dtype == torch.uint8 and s.train.sample_shape == (3, 32, 32)
    np.testing.assert_array_equal(s.train.x.numpy(), x_tr[:-3])
    np.testing.assert_array_equal(s.valid.x.numpy(), x_tr[-3:])
    np.testing.assert_array_equal(s.train.y.numpy(), y_tr[:-3])
    np.testing.assert_array_equal(s.valid.y.numpy(), y_tr[-3:])
    np.testing.assert_array_equal(s.test.x.numpy(), batches["test_batch.bin"][0])
    np.testing.assert_array_equal(s.test.y.numpy(), batches["test_batch.bin"][1])
    assert s.train.classes == ["airplane", "automobile", "bird", "cat", "deer",
                               "dog", "frog", "horse", "ship", "truck"]
    assert s.info["path"] == str(tmp_path / "d")


def test_channel_order_is_r_then_g_then_b(tmp_path):
    batches = make_batches()
    x, y = batches["data_batch_1.bin"]
    x[0] = 0
    x[0, 0] = 200  # pure red
    x[0, 2, 5, 7] = 9  # one blue pixel at row 5, column 7
    write_archive(tmp_path / "d", batches)
    s = load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d"), valid_size=0))
    first = s.train.x[0].numpy()
    assert (first[0] == 200).all() and (first[1] == 0).all()
    assert first[2, 5, 7] == 9 and first[2].sum() == 9


def test_extracted_bin_files_and_lookup_order(tmp_path, monkeypatch):
    batches = make_batches(1)
    bins = tmp_path / "env" / cifar_mod.MEMBER_DIR
    bins.mkdir(parents=True)
    for name, (x, y) in batches.items():
        (bins / name).write_bytes(record_bytes(x, y))
    monkeypatch.setenv("LATENTFORGE_DATA", str(tmp_path / "env"))
    s = load_data(DataConfig(source="cifar10", valid_size=R))
    assert s.info["path"] == str(bins)
    np.testing.assert_array_equal(s.valid.x.numpy(), batches["data_batch_5.bin"][0])
    # data.data_dir comes first
    other = make_batches(2)
    write_archive(tmp_path / "dd" / "cifar10", other)
    s2 = load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "dd"), valid_size=R))
    np.testing.assert_array_equal(s2.test.x.numpy(), other["test_batch.bin"][0])
    # a wrong-sized extracted file is refused
    (bins / "data_batch_2.bin").write_bytes(b"\0" * 10)
    with pytest.raises(DataError, match=r"data_batch_2\.bin has 10 bytes, expected 12292"):
        load_data(DataConfig(source="cifar10"))


def test_download_cache_used(tmp_path, isolated_env):
    write_archive(isolated_env / ".cache" / "latentforge" / "cifar10", make_batches())
    s = load_data(DataConfig(source="cifar10", download=False, valid_size=0))
    assert len(s.train) == 5 * R


def test_real_size_check_is_exact(monkeypatch, tmp_path):
    monkeypatch.setattr(cifar_mod, "RECORDS_PER_BATCH", 10000)
    write_archive(tmp_path / "d", make_batches())  # R records: not the real 10,000
    with pytest.raises(DataError, match=r"is 12292 bytes, expected a file of 30730000"):
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d")))


@pytest.mark.parametrize("override, match", [
    ({"cifar-10-batches-bin/data_batch_3.bin": b"\1" * 100}, r"data_batch_3\.bin is 100 bytes"),
    ({"cifar-10-batches-bin/test_batch.bin": b""}, r"test_batch\.bin is 0 bytes"),
])
def test_wrong_sized_member(tmp_path, override, match):
    write_archive(tmp_path / "d", make_batches(), override=override)
    with pytest.raises(DataError, match=match):
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d")))


def test_bad_label_refused(tmp_path):
    batches = make_batches()
    batches["data_batch_4.bin"][1][1] = 10
    write_archive(tmp_path / "d", batches)
    with pytest.raises(DataError, match=r"data_batch_4\.bin has label 10, outside \[0, 10\)"):
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d")))


def test_truncated_archive(tmp_path):
    path = write_archive(tmp_path / "d", make_batches())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"not a readable cifar-10-binary\.tar\.gz") as e:
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d")))
    assert "\n" not in str(e.value)


def test_missing_member(tmp_path):
    batches = make_batches()
    del batches["data_batch_5.bin"]
    write_archive(tmp_path / "d", batches)
    with pytest.raises(DataError, match=r"lacks cifar-10-batches-bin/data_batch_5\.bin"):
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d")))


@pytest.mark.parametrize("name", ["../evil.bin", "/etc/passwd", "cifar-10-batches-bin/../x",
                                  "cifar-10-batches-bin/data_batch_6.bin",
                                  "data_batch_1.bin", "cifar-10-batches-py/data_batch_1"])
def test_unexpected_or_traversal_member(tmp_path, name):
    write_archive(tmp_path / "d", make_batches(), extra={name: b"x"})
    with pytest.raises(DataError, match="unexpected member") as e:
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d")))
    assert "\n" not in str(e.value)
    assert not (tmp_path / "evil.bin").exists() and not (tmp_path / "d" / "x").exists()


def test_symlink_member_refused(tmp_path):
    path = tmp_path / "d" / cifar_mod.ARCHIVE
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as tar:
        link = tarfile.TarInfo(f"{cifar_mod.MEMBER_DIR}/data_batch_1.bin")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(DataError, match="not a regular file"):
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d")))


def test_missing_data_lists_places(tmp_path, monkeypatch, isolated_env):
    monkeypatch.setenv("LATENTFORGE_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as e:
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "dd"), download=False))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("CIFAR-10 was not found; tried: ")
    for place in (tmp_path / "dd", tmp_path / "dd" / "cifar10",
                  tmp_path / "dd" / "cifar-10-batches-bin", tmp_path / "env",
                  isolated_env / ".cache" / "latentforge" / "cifar10"):
        assert f" {place} (" in msg
    assert "data.download=true" in msg and "data.data_dir=DIR" in msg
    assert "cifar-10-binary.tar.gz" in msg


def test_download_failure_one_error(tmp_path, monkeypatch, isolated_env):
    monkeypatch.setenv("LATENTFORGE_MIRROR", "http://127.0.0.1:9/")  # discard port: refused
    with pytest.raises(DataError) as e:
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "dd")))
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("CIFAR-10 was not found (tried: data.data_dir ")
    assert "download failed: Could not download http://127.0.0.1:9/cifar-10-binary.tar.gz" in msg
    assert "otherwise pass --set data.data_dir=DIR" in msg
    assert not any((isolated_env / ".cache" / "latentforge" / "cifar10").iterdir())


def test_archive_digest_constant():
    """The published SHA-256 of the official archive as served (see the module docstring
    for its three sources)."""
    d = cifar_mod.ARCHIVE_DIGEST
    assert (d.algorithm, d.hexdigest, d.decompressed) == (
        "sha256", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", False)


def test_download_checked_by_sha256(tmp_path, monkeypatch, isolated_env):
    """A download through a file:// mirror: refused (nothing cached) when its SHA-256 is not
    the official archive's, accepted and cached when the expected digest is its own."""
    import hashlib

    from latentforge.data.download import Digest

    archive = write_archive(tmp_path / "mirror", make_batches())
    monkeypatch.setenv("LATENTFORGE_MIRROR", (tmp_path / "mirror").as_uri())
    cache = isolated_env / ".cache" / "latentforge" / "cifar10"
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(DataError, match=rf"has sha256 {actual}, expected c4a38c50a1bc"):
        load_data(DataConfig(source="cifar10"))
    assert not cache.exists() or not any(cache.iterdir())
    monkeypatch.setattr(cifar_mod, "ARCHIVE_DIGEST", Digest("sha256", actual, False))
    s = load_data(DataConfig(source="cifar10", valid_size=0))
    assert s.info["path"] == str(cache) and (cache / cifar_mod.ARCHIVE).is_file()
    assert len(s.train) == 5 * R


def test_valid_size_too_large(tmp_path):
    write_archive(tmp_path / "d", make_batches())
    with pytest.raises(DataError, match=rf"valid_size=20 must be in \[0, {5 * R}\)"):
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d"), valid_size=20))


# ---------------------------------------------------------------- data.pad_to

def test_pad_digits_to_12():
    base = load_data(DataConfig(source="digits"))
    s = load_data(DataConfig(source="digits", pad_to=12))
    assert s.sizes() == base.sizes()
    for part, orig in ((s.train, base.train), (s.valid, base.valid), (s.test, base.test)):
        assert part.x.shape == (len(orig), 1, 12, 12) and part.x.dtype == torch.uint8
        assert torch.equal(part.x[:, :, 2:10, 2:10], orig.x)
        inner = torch.zeros(12, 12, dtype=torch.bool)
        inner[2:10, 2:10] = True
        assert (part.x[:, :, ~inner] == 0).all()
        assert torch.equal(part.y, orig.y)
    assert s.info["pad_to"]["size"] == 12


def test_pad_same_size_and_odd_margin():
    base = load_data(DataConfig(source="digits", limit_train=5, limit_eval=5))
    same = load_data(DataConfig(source="digits", limit_train=5, limit_eval=5, pad_to=8))
    assert torch.equal(same.train.x, base.train.x)
    odd = load_data(DataConfig(source="digits", limit_train=5, limit_eval=5, pad_to=11))
    assert torch.equal(odd.train.x[:, :, 1:9, 1:9], base.train.x)
    assert odd.train.x[:, :, 9:].sum() == 0 and odd.train.x[:, :, :1].sum() == 0


def test_pad_cifar(tmp_path):
    write_archive(tmp_path / "d", make_batches())
    s = load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d"), valid_size=0,
                             pad_to=36))
    assert s.train.sample_shape == (3, 36, 36) and s.test.sample_shape == (3, 36, 36)


def test_pad_smaller_than_image_refused():
    with pytest.raises(DataError, match=r"pad_to=7 is smaller than the 8x8 images.*pad_to=8"):
        load_data(DataConfig(source="digits", pad_to=7))


def test_pad_table_refused():
    with pytest.raises(DataError, match=r"pad_to=4 pads images, but 'synthetic3d' is a table"):
        load_data(DataConfig(source="synthetic3d", pad_to=4))


@pytest.mark.parametrize("value", [0, -3, True, 2.5, "32", 5000])
def test_pad_to_validated(value):
    with pytest.raises(DataError, match=r"data\.pad_to must be None or an integer in \[1, 4096\]"):
        load_data(DataConfig(source="digits", pad_to=value))
