"""Fashion-MNIST and MNIST: find the IDX files (or download them) and make the book's split.

Search order (the first complete copy wins):

1. ``data.data_dir`` and ``$LATENTFORGE_DATA`` (each as ``DIR`` and ``DIR/<name>``);
2. the Debian package's folder (``/usr/share/datasets/fashion-mnist`` from
   ``apt-get install dataset-fashion-mnist``; ``/usr/share/datasets/mnist`` for MNIST);
3. the Keras cache (``~/.keras/datasets/fashion-mnist/``, ``~/.keras/datasets/mnist.npz``);
4. torchvision roots: ``DIR/FashionMNIST/raw`` / ``DIR/MNIST/raw`` under the dirs of 1.;
5. this library's download cache ``~/.cache/latentforge/<name>``;
6. when ``data.download`` is true, a download from the official mirror (override the base
   URL with ``$LATENTFORGE_MIRROR``) into that cache, checksum-verified and atomic.

Each IDX file may be raw or ``.gz``. The split is the book's (Hands-On ML ch. 17):
train = the first ``N - valid_size`` (55,000) training images, valid = the last
``valid_size`` (5,000), test = the 10,000 test images.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits, from_numpy
from latentforge.data.download import Digest, download_file, locate_or_download
from latentforge.data.idx import load_idx_pair
from latentforge.errors import DataError

log = logging.getLogger(__name__)

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(d) for d in range(10)]
STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class IdxDataset:
    """Where one MNIST-format dataset lives.

    digests: per IDX stem (see `STEMS`), the `Digest` a download must match.
    system_dirs / keras_dir / keras_npz: OS package folders and Keras cache paths
        (``keras_*`` relative to ``~/.keras/datasets``).
    torchvision_dir: torchvision's folder name (files in ``<root>/<torchvision_dir>/raw``).
    """

    name: str
    title: str
    classes: tuple[str, ...]
    mirror: str
    digests: dict[str, Digest]
    system_dirs: tuple[str, ...]
    keras_dir: str | None
    keras_npz: str | None
    torchvision_dir: str
    apt_package: str | None


# Fashion-MNIST: SHA-256 of the decompressed IDX bytes, computed from the Debian package's
# files (whose .gz were recompressed, so the official .gz md5s do not match them).
_FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# MNIST: the official md5s of the .gz files as served (also used by torchvision for this
# mirror). No copy of MNIST was available to compute decompressed SHA-256s, so a download
# is checked on its compressed bytes.
_MNIST_MD5_GZ = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}

DATASETS: dict[str, IdxDataset] = {
    "fashion-mnist": IdxDataset(
        name="fashion-mnist", title="Fashion-MNIST", classes=tuple(FASHION_CLASSES),
        mirror="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        digests={k: Digest("sha256", v) for k, v in _FASHION_SHA256.items()},
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        keras_dir="fashion-mnist", keras_npz=None, torchvision_dir="FashionMNIST",
        apt_package="dataset-fashion-mnist"),
    "mnist": IdxDataset(
        name="mnist", title="MNIST", classes=tuple(MNIST_CLASSES),
        mirror="https://ossci-datasets.s3.amazonaws.com/mnist/",
        digests={k: Digest("md5", v, decompressed=False) for k, v in _MNIST_MD5_GZ.items()},
        system_dirs=("/usr/share/datasets/mnist",),
        keras_dir=None, keras_npz="mnist.npz", torchvision_dir="MNIST",
        apt_package=None),
}


def cache_dir(name: str) -> Path:
    """The download cache of dataset ``name``: ``~/.cache/latentforge/<name>``."""
    return Path.home() / ".cache" / "latentforge" / name


def _user_dirs(cfg: DataConfig) -> list[tuple[str, Path]]:
    """``(label, folder)`` for ``data.data_dir`` and ``$LATENTFORGE_DATA`` when set."""
    dirs = []
    if cfg.data_dir:
        dirs.append(("data.data_dir", Path(cfg.data_dir).expanduser()))
    if os.environ.get("LATENTFORGE_DATA"):
        dirs.append(("$LATENTFORGE_DATA", Path(os.environ["LATENTFORGE_DATA"]).expanduser()))
    return dirs


def candidates(spec: IdxDataset, cfg: DataConfig) -> list[tuple[str, Path]]:
    """Every ``(label, path)`` to search, in order; a path is an IDX folder or a ``.npz``."""
    user = _user_dirs(cfg)
    places = [p for label, d in user for p in ((label, d), (label, d / spec.name))]
    places += [("Debian package", Path(d)) for d in spec.system_dirs]
    keras = Path.home() / ".keras" / "datasets"
    if spec.keras_dir:
        places.append(("Keras cache", keras / spec.keras_dir))
    if spec.keras_npz:
        places.append(("Keras cache", keras / spec.keras_npz))
    places += [(f"torchvision root ({label})", d / spec.torchvision_dir / "raw")
               for label, d in user]
    places.append(("download cache", cache_dir(spec.name)))
    return places


def _idx_files(folder: Path) -> list[Path] | str:
    """The four IDX files in ``folder`` (raw preferred over ``.gz``), or why not."""
    if not folder.is_dir():
        return "no such folder"
    found, missing = [], []
    for stem in STEMS:
        hit = next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)
        (found if hit else missing).append(hit or stem)
    if missing:
        return "missing " + ", ".join(f"{s}[.gz]" for s in missing)
    return found


def _load_folder(files: list[Path]) -> Arrays:
    """Images and labels of both IDX pairs: uint8 (N, 28, 28), (N,), (M, 28, 28), (M,)."""
    return (*load_idx_pair(files[0], files[1]), *load_idx_pair(files[2], files[3]))


def _load_npz(path: Path) -> Arrays:
    """The Keras ``mnist.npz`` arrays ``x_train, y_train, x_test, y_test``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = tuple(np.array(z[k]) for k in _NPZ_KEYS)
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable Keras MNIST archive with keys "
                        f"{', '.join(_NPZ_KEYS)} ({exc}); delete it so it is not used.") from exc
    x_tr, y_tr, x_te, y_te = arrays
    if x_tr.ndim != 3 or len(x_tr) != len(y_tr) or x_te.ndim != 3 or len(x_te) != len(y_te):
        raise DataError(f"{path} holds arrays of shapes {[a.shape for a in arrays]}, not "
                        "(N, H, W) images with N labels; delete it so it is not used.")
    return tuple(a.astype(np.uint8, copy=False) for a in arrays)


def _try(path: Path) -> Arrays | str:
    """Load the dataset at ``path`` or return why it is not there (corrupt files raise)."""
    if path.suffix == ".npz":
        return _load_npz(path) if path.is_file() else "no such file"
    files = _idx_files(path)
    if isinstance(files, str):
        return files
    log.info("reading %s", ", ".join(map(str, files)))
    return _load_folder(files)


def _download(spec: IdxDataset) -> Path:
    """Fetch the missing ``.gz`` files of ``spec`` into its cache; returns the cache folder."""
    base = os.environ.get("LATENTFORGE_MIRROR") or spec.mirror
    dest = cache_dir(spec.name)
    for stem in STEMS:
        if not (dest / f"{stem}.gz").is_file():
            download_file(f"{base.rstrip('/')}/{stem}.gz", dest / f"{stem}.gz",
                          spec.digests.get(stem))
    return dest


def _fix(spec: IdxDataset, alternative: str | None = None) -> str:
    """The command(s) that make ``spec`` available, as a clause of an error message."""
    data_dir = "--set data.data_dir=DIR with the four IDX files"
    if spec.apt_package:
        return f"run `sudo apt-get install {spec.apt_package}` or pass {data_dir}"
    return f"pass {alternative} or {data_dir}" if alternative else f"pass {data_dir}"


def locate(spec: IdxDataset, cfg: DataConfig) -> tuple[Arrays, Path]:
    """The arrays of ``spec`` and where they came from; `DataError` listing every place tried."""
    return locate_or_download(spec.title, candidates(spec, cfg), _try, lambda: _download(spec),
                              cfg.download, _fix(spec, "--set data.download=true"),
                              _fix(spec))


def load_idx_dataset(name: str, cfg: DataConfig) -> Splits:
    """Fashion-MNIST or MNIST with the book's split.

    Returns `Splits` of uint8 ``(N, 1, 28, 28)`` images in [0, 255] and int64 labels in
    [0, 10): train ``N - valid_size``, valid ``valid_size`` (the last of the training file),
    test 10,000.
    """
    spec = DATASETS[name]
    (x_tr, y_tr, x_te, y_te), path = locate(spec, cfg)
    n = len(x_tr)
    if not 0 <= cfg.valid_size < n:
        raise DataError(f"data.valid_size={cfg.valid_size} must be in [0, {n}) for the "
                        f"{n} training images of {spec.title}; set --set data.valid_size=5000.")
    x_tr, x_te = x_tr[:, None], x_te[:, None]
    cut = n - cfg.valid_size
    classes = list(spec.classes)
    info = {"source": name, "path": str(path),
            "split": "book: train = first N - valid_size of the training file, "
                     "valid = its last valid_size, test = the test file",
            "sizes": {"train": cut, "valid": cfg.valid_size, "test": len(x_te)}}
    log.info("%s from %s: %s", spec.title, path, info["sizes"])
    return Splits(name, from_numpy(x_tr[:cut], y_tr[:cut], classes),
                  from_numpy(x_tr[cut:], y_tr[cut:], classes),
                  from_numpy(x_te, y_te, classes), info)


def load_fashion_mnist(cfg: DataConfig) -> Splits:
    """Fashion-MNIST (the book's data): see `load_idx_dataset`."""
    return load_idx_dataset("fashion-mnist", cfg)


def load_mnist(cfg: DataConfig) -> Splits:
    """MNIST digits: see `load_idx_dataset`."""
    return load_idx_dataset("mnist", cfg)
