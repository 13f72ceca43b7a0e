"""Colour and larger images through every image source (issue 11).

Every image source in colour at 32, 64 and 128 pixels (folders, .npz/.npy in NHWC and
NCHW, CSV rows, CIFAR-10's binary format), ``data.image_size`` checked by values (one
method for all sources, after the limits, before ``data.pad_to``), the one memory check
of the loaders (a monkeypatched available memory), and conv_ae, conv_vae and dcgan trained
on 3x32x32 and 3x64x64 data.
"""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

import latentforge as lf
import latentforge.resources as resources
from conftest import assert_one_error_line, make_tiny_cfg
from latentforge.data import DataConfig, load_data
from latentforge.data import cifar10 as cifar_mod
from latentforge.data import resize as resize_mod
from latentforge.data.mnist import STEMS
from latentforge.data.resize import resize_images
from latentforge.errors import DataError, ResourceError
from test_cifar10 import R, make_batches, write_archive

SIZES = (32, 64, 128)
ALL = dict(valid_fraction=0, test_fraction=0)  # every item in train, in file order


def colour_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Random uint8 NHWC colour images."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def write_pngs(folder, images: np.ndarray) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(images):
        Image.fromarray(a, "RGB").save(folder / f"{i:03d}.png")


def sorted_rows(x: torch.Tensor) -> list:
    """The images of a split as sortable byte strings (splits are permuted)."""
    return sorted(bytes(r) for r in x.flatten(1).numpy())


# ---------------------------------------------------------------- colour at 32/64/128

@pytest.mark.parametrize("size", SIZES)
def test_png_folder_in_colour(tmp_path, size):
    imgs = colour_images(3, size)
    write_pngs(tmp_path / "f", imgs)
    s = load_data(DataConfig(source=str(tmp_path / "f"), **ALL))
    assert s.train.sample_shape == (3, size, size) and s.train.x.dtype == torch.uint8
    assert sorted_rows(s.train.x) == sorted_rows(torch.from_numpy(imgs.transpose(0, 3, 1, 2)))


@pytest.mark.parametrize("size", SIZES)
def test_png_folder_of_mixed_sizes_resized(tmp_path, size):
    from PIL import Image

    (tmp_path / "f").mkdir()
    for i, (w, h) in enumerate([(40, 30), (17, 90), (size, size)]):
        Image.new("RGB", (w, h), (200, 10 * i, 70)).save(tmp_path / "f" / f"{i}.png")
    s = load_data(DataConfig(source=str(tmp_path / "f"), image_size=size, **ALL))
    assert s.train.sample_shape == (3, size, size)
    colours = sorted(tuple(int(v) for v in img[:, 0, 0]) for img in s.train.x)
    assert colours == [(200, 0, 70), (200, 10, 70), (200, 20, 70)]
    assert all((img == img[:, :1, :1]).all() for img in s.train.x)  # constant stays constant
    assert s.info["image_size"]["size"] == size


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_arrays_in_colour(tmp_path, size, layout, suffix):
    imgs = colour_images(4, size, seed=size)
    nchw = imgs.transpose(0, 3, 1, 2)
    data = imgs if layout == "nhwc" else np.ascontiguousarray(nchw)
    path = tmp_path / f"x{suffix}"
    np.savez(path, x=data) if suffix == ".npz" else np.save(path, data)
    s = load_data(DataConfig(source=str(path), **ALL))
    assert s.train.sample_shape == (3, size, size) and s.train.x.dtype == torch.uint8
    assert sorted_rows(s.train.x) == sorted_rows(torch.from_numpy(nchw))


@pytest.mark.parametrize("size", SIZES)
def test_csv_rows_as_colour_images(tmp_path, size):
    imgs = colour_images(2, size, seed=1).transpose(0, 3, 1, 2)
    path = tmp_path / "rows.csv"
    np.savetxt(path, imgs.reshape(2, -1), fmt="%d", delimiter=",")
    s = load_data(DataConfig(source=str(path), image_shape=[3, size, size], **ALL))
    assert s.train.sample_shape == (3, size, size) and s.train.x.dtype == torch.uint8
    assert sorted_rows(s.train.x) == sorted_rows(torch.from_numpy(imgs))


@pytest.mark.parametrize("size", SIZES)
def test_cifar10_resized(tmp_path, isolated_env, monkeypatch, size):
    monkeypatch.setattr(cifar_mod, "RECORDS_PER_BATCH", R)
    batches = make_batches()
    batches["test_batch.bin"][0][0] = 77  # one constant image
    write_archive(tmp_path / "d", batches)
    s = load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d"), valid_size=2,
                             image_size=size))
    assert s.sizes() == {"train": 5 * R - 2, "valid": 2, "test": R}
    for part in (s.train, s.valid, s.test):
        assert part.sample_shape == (3, size, size) and part.x.dtype == torch.uint8
    assert (s.test.x[0] == 77).all()
    first = torch.from_numpy(batches["data_batch_1.bin"][0][:1])
    assert torch.equal(s.train.x[:1], resize_images(first, size))  # the one method


# ---------------------------------------------------------------- the resize, by values

def test_constant_images_stay_constant():
    x = torch.tensor([0, 1, 128, 254, 255], dtype=torch.uint8).view(5, 1, 1, 1)
    for shape in ((5, 3, 32, 32), (5, 3, 37, 23)):
        img = x.expand(*shape).contiguous()
        for size in (8, 32, 64, 128):
            out = resize_images(img, size)
            assert out.shape == (5, 3, size, size) and out.dtype == torch.uint8
            assert torch.equal(out, x.expand(5, 3, size, size))
    f = torch.full((2, 3, 10, 10), 0.25)
    out = resize_images(f, 5)
    assert out.dtype == torch.float32 and torch.allclose(out, torch.full_like(out, 0.25))


def test_stripes_downscaled_2x_average_to_their_mean():
    """Columns alternating 0 / 200 at 64 px, downscaled to 32: the antialiased filter sees
    both values equally (interior pixels exactly 100), and the image mean stays 100;
    plain subsampling would give all 0 or all 200."""
    img = torch.zeros(1, 3, 64, 64, dtype=torch.uint8)
    img[..., 1::2] = 200
    out = resize_images(img, 32)
    assert (out[..., 1:-1] == 100).all()
    assert abs(out.double().mean().item() - 100) <= 0.5
    assert torch.equal(out[:, 0], out[:, 2])  # channels resized alike


def test_upscaling_keeps_the_range_and_the_mean():
    img = torch.from_numpy(colour_images(2, 32).transpose(0, 3, 1, 2).copy())
    out = resize_images(img, 128)
    assert out.min() >= img.min() and out.max() <= img.max()
    assert abs(out.double().mean() - img.double().mean()) < 1.0


def test_every_source_resizes_the_same_way(tmp_path):
    """A folder (decoded then resized per image) and an .npz of the same pixels (resized in
    load_data) give identical tensors."""
    imgs = colour_images(3, 40, seed=3)
    write_pngs(tmp_path / "f", imgs)
    np.savez(tmp_path / "a.npz", x=imgs)
    a = load_data(DataConfig(source=str(tmp_path / "f"), image_size=24, **ALL)).train.x
    b = load_data(DataConfig(source=str(tmp_path / "a.npz"), image_size=24, **ALL)).train.x
    assert a.shape == (3, 3, 24, 24) and sorted_rows(a) == sorted_rows(b)


def test_limits_apply_before_the_resize(tmp_path, monkeypatch):
    np.savez(tmp_path / "a.npz", x=colour_images(50, 32))
    resized = []
    real = resize_mod.resize_images
    monkeypatch.setattr(resize_mod, "resize_images",
                        lambda x, size: resized.append(len(x)) or real(x, size))
    s = load_data(DataConfig(source=str(tmp_path / "a.npz"), image_size=16, limit_train=5,
                             limit_eval=2))
    assert s.sizes() == {"train": 5, "valid": 2, "test": 2} and sum(resized) == 9
    assert s.train.sample_shape == (3, 16, 16)


def test_resize_then_pad():
    base = load_data(DataConfig(source="digits", limit_train=6, limit_eval=3, image_size=24))
    s = load_data(DataConfig(source="digits", limit_train=6, limit_eval=3, image_size=24,
                             pad_to=32))
    assert s.train.sample_shape == (1, 32, 32)
    assert torch.equal(s.train.x[:, :, 4:28, 4:28], base.train.x)
    assert s.train.x.sum() == base.train.x.sum()  # the border is black


def test_pad_smaller_than_image_size_refused_early():
    with pytest.raises(DataError, match=r"data\.pad_to must be >= data\.image_size \(64\).*"
                                        r"--set data\.pad_to=64"):
        load_data(DataConfig(source="digits", image_size=64, pad_to=32))


def test_tables_refuse_image_size(tmp_path):
    with pytest.raises(DataError, match=r"data\.image_size=8 resizes images, but "
                                        r"'synthetic3d' is a table of samples shaped \(3,\)"):
        load_data(DataConfig(source="synthetic3d", image_size=8))
    np.savetxt(tmp_path / "t.csv", np.arange(20.0).reshape(5, 4), delimiter=",")
    with pytest.raises(DataError, match="is a table"):
        load_data(DataConfig(source=str(tmp_path / "t.csv"), image_size=8))


def test_fashion_mnist_format_resized_and_padded(tmp_path, isolated_env):
    """The IDX source (Fashion-MNIST / MNIST) goes through the same resize and pad."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "fm"
    folder.mkdir()
    arrays = {STEMS[0]: rng.integers(0, 256, (12, 28, 28)), STEMS[1]: rng.integers(0, 10, 12),
              STEMS[2]: rng.integers(0, 256, (4, 28, 28)), STEMS[3]: rng.integers(0, 10, 4)}
    for stem, a in arrays.items():
        head = ((0x08 << 8) | a.ndim).to_bytes(4, "big")
        head += b"".join(d.to_bytes(4, "big") for d in a.shape)
        (folder / f"{stem}.gz").write_bytes(gzip.compress(head + a.astype(np.uint8).tobytes()))
    for source in ("fashion-mnist", "mnist"):
        s = load_data(DataConfig(source=source, data_dir=str(folder), valid_size=2,
                                 image_size=64, download=False))
        assert s.train.sample_shape == (1, 64, 64) and len(s.test) == 4
        ref = resize_images(torch.from_numpy(arrays[STEMS[2]].astype(np.uint8))[:, None], 64)
        assert torch.equal(s.test.x, ref)
    padded = load_data(DataConfig(source="mnist", data_dir=str(folder), valid_size=2,
                                  pad_to=32, download=False))
    assert padded.train.sample_shape == (1, 32, 32)


# ---------------------------------------------------------------- the memory check

def _memory(monkeypatch, nbytes: int) -> None:
    monkeypatch.setattr(resources, "available_memory", lambda: nbytes)


def test_npz_memory_refused_before_rows_are_read(tmp_path, monkeypatch):
    import latentforge.data.arrays as arrays_mod

    np.save(tmp_path / "a.npy", colour_images(20, 32))
    converted = []
    monkeypatch.setattr(arrays_mod, "as_images", lambda *a: converted.append(1))
    _memory(monkeypatch, 100_000)
    # 20 rows of 3x32x32 at uint8, read and converted: 2 x 61,440 bytes = 120.0 KiB
    with pytest.raises(ResourceError, match=r"20 images of 3x32x32 from .*a\.npy would need "
                                            r"120\.0 KiB of memory, but only 97\.7 KiB"):
        load_data(DataConfig(source=str(tmp_path / "a.npy")))
    # resized to 128: plus 20 x 3x128x128 bytes, 1,105,920 in all
    with pytest.raises(ResourceError, match=r"20 images of 3x32x32 from .* resized to "
                                            r"3x128x128 \(data.image_size=128\) would need "
                                            r"1\.1 MiB.*data\.image_size.*data\.limit_train"):
        load_data(DataConfig(source=str(tmp_path / "a.npy"), image_size=128))
    assert not converted


def test_resize_output_checked_before_resizing(tmp_path, monkeypatch, isolated_env):
    monkeypatch.setattr(cifar_mod, "RECORDS_PER_BATCH", R)
    write_archive(tmp_path / "d", make_batches())
    monkeypatch.setattr(resize_mod, "resize_images", lambda *a: pytest.fail("resized"))
    _memory(monkeypatch, 1_000_000)  # the archive fits; 24 images of 3x128x128 do not
    with pytest.raises(ResourceError, match=r"24 images of 3x32x32 resized to 3x128x128 "
                                            r"\('cifar10', data.image_size=128\) would need "
                                            r"1\.1 MiB of memory, but only 976\.6 KiB"):
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d"), valid_size=2,
                             image_size=128))


def test_cifar10_batches_checked_before_reading(tmp_path, monkeypatch, isolated_env):
    monkeypatch.setattr(cifar_mod, "RECORDS_PER_BATCH", R)
    write_archive(tmp_path / "d", make_batches())
    monkeypatch.setattr(cifar_mod, "parse_batch", lambda *a: pytest.fail("read"))
    _memory(monkeypatch, 1000)
    with pytest.raises(ResourceError, match=r"the 24 CIFAR-10 images of 3x32x32 in .* would "
                                            r"need 156\.0 KiB"):
        load_data(DataConfig(source="cifar10", data_dir=str(tmp_path / "d")))


def test_folder_memory_from_headers_and_image_size(tmp_path, monkeypatch):
    import latentforge.data.folders as folders

    write_pngs(tmp_path / "f", colour_images(5, 32))
    _memory(monkeypatch, 100_000)
    real_decode = folders._decode
    monkeypatch.setattr(folders, "_decode", lambda *a: pytest.fail("decoded"))
    with pytest.raises(ResourceError, match=r"5 images of 3x128x128 from .* would need "
                                            r"240\.0 KiB"):
        load_data(DataConfig(source=str(tmp_path / "f"), image_size=128))
    monkeypatch.setattr(folders, "_decode", real_decode)
    assert load_data(DataConfig(source=str(tmp_path / "f"), image_size=64,
                                **ALL)).train.sample_shape == (3, 64, 64)


def test_cli_memory_error_is_one_line(tmp_path, monkeypatch, cli, in_tmp):
    np.savez(tmp_path / "big.npz", x=colour_images(40, 32))
    _memory(monkeypatch, 1_000_000)  # 40 x (2 x 3x32x32 + 3x128x128) = 2,211,840 bytes
    code, _, err = cli(["train", "conv_ae", "--data", tmp_path / "big.npz",
                        "--set", "data.image_size=128", "--epochs", "1", "--no-progress"])
    assert code == 4
    assert_one_error_line(err, "40 images of 3x32x32", "resized to 3x128x128",
                          "would need 2.1 MiB", "only 976.6 KiB is available",
                          "--set data.image_size=N", "--set data.limit_train=N")
    assert not (in_tmp / "runs").exists() or not any((in_tmp / "runs").rglob("*.safetensors"))


# ---------------------------------------------------------------- models on colour data

@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("name", ["conv_ae", "conv_vae", "dcgan"])
def test_models_train_on_colour_images(tmp_path, name, size):
    from latentforge.generation.sampling import draw_samples

    path = tmp_path / "c.npz"
    np.savez(path, x=colour_images(24, size, seed=size))
    cfg = make_tiny_cfg(name, f"data.source={json.dumps(str(path))}", "data.valid_fraction=0.25",
                        "data.test_fraction=0", "train.batch_size=8", epochs=1)
    run = lf.train(cfg, run_dir=False)
    assert run.model.sample_shape == (3, size, size)
    assert all(np.isfinite(v) for row in run.history for k, v in row.items()
               if isinstance(v, float))
    x = run.split("valid").batch(torch.arange(4))
    assert x.shape == (4, 3, size, size)
    if name == "dcgan":
        out = draw_samples(run.model, 5, seed=1)
        assert out.shape == (5, 3, size, size)
    else:
        out = run.reconstruct(x)
        assert out.shape == (4, 3, size, size)
        assert run.encode(x).shape[0] == 4
    assert out.min() >= 0 and out.max() <= 1 and out.std() > 0
