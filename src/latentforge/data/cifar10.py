"""CIFAR-10 from the official *binary* archive (``cifar-10-binary.tar.gz``), read as raw bytes.

Only the binary version is read, never the pickled Python version (unpickling a downloaded
file can run arbitrary code). Each of ``data_batch_1.bin`` .. ``data_batch_5.bin`` and
``test_batch.bin`` holds 10,000 records of 3,073 bytes: one label byte in [0, 10), then
3,072 pixel bytes of a 32x32 image, channel-major (the 1,024 red bytes, then green, then
blue, each row-major). Images become uint8 ``(N, 3, 32, 32)``.

Search order (the first complete copy wins); in each folder the six ``.bin`` files are
used if present, else the archive ``cifar-10-binary.tar.gz``, whose members are read straight
from the tar without extracting anything:

1. ``data.data_dir`` and ``$LATENTFORGE_DATA``, each as ``DIR``, ``DIR/cifar10`` and
   ``DIR/cifar-10-batches-bin``;
2. this library's download cache ``~/.cache/latentforge/cifar10``;
3. when ``data.download`` is true, a download of the archive from the official site
   (override the base URL with ``$LATENTFORGE_MIRROR``) into that cache, atomic and
   checksum-verified.

Checksum: a download is verified against the SHA-256 of ``cifar-10-binary.tar.gz`` as
served (`ARCHIVE_DIGEST`, 170,052,171 bytes). The value was not computed here (no copy and
no network); it is the one published in three independent places that agree:
tensorflow/datasets ``tensorflow_datasets/url_checksums/cifar10.txt`` (with the size),
ankane/torchvision-ruby ``lib/torchvision/datasets/cifar10.rb`` and gomlx/gomlx
``examples/cifar/cifar.go``. (The CIFAR page publishes the MD5
c32a1d4ab5d03f1284b67883e8d87530, which the library checked before.)

Memory: what reading the six batches takes is checked with `memory.check_data_fits` from
the batch size before any is read (`check_batches_fit`).

Archive safety: a tar member whose name is not one of the archive's known names (the folder
``cifar-10-batches-bin``, its six ``.bin`` files, ``batches.meta.txt``, ``readme.html``) --
which includes any absolute or ``..`` path -- makes the whole archive refused; each ``.bin``
must be a regular file of exactly ``RECORDS_PER_BATCH * 3073`` bytes.

Split: train = the first ``50,000 - valid_size`` (45,000) records of the training batches in
order, valid = the last ``valid_size`` (5,000, i.e. the end of ``data_batch_5``), test =
``test_batch.bin`` (10,000).
"""
from __future__ import annotations

import logging
import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits, from_numpy
from latentforge.data.download import Digest, download_file, locate_or_download
from latentforge.data.memory import check_data_fits, image_bytes, shape_text
from latentforge.data.mnist import _user_dirs, cache_dir
from latentforge.errors import DataError

log = logging.getLogger(__name__)

NAME = "cifar10"
TITLE = "CIFAR-10"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]
ARCHIVE = "cifar-10-binary.tar.gz"
MEMBER_DIR = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
BIN_FILES = (*TRAIN_FILES, TEST_FILE)
EXTRA_FILES = ("batches.meta.txt", "readme.html")
MIRROR = "https://www.cs.toronto.edu/~kriz/"
ARCHIVE_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
ARCHIVE_DIGEST = Digest("sha256", ARCHIVE_SHA256, decompressed=False)

IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32
# Records in each batch file. The real files hold exactly 10,000; tests monkeypatch this
# (the only way a smaller file is accepted).
RECORDS_PER_BATCH = 10000

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _batch_bytes() -> int:
    return RECORDS_PER_BATCH * RECORD_BYTES


def parse_batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(R, 3, 32, 32)`` and int64 labels ``(R,)`` of one batch file's bytes."""
    expected = _batch_bytes()
    if len(data) != expected:
        raise DataError(f"{where} has {len(data)} bytes, expected {expected} "
                        f"({RECORDS_PER_BATCH} records of {RECORD_BYTES} bytes); the file is "
                        "truncated or not a CIFAR-10 binary batch, so delete it and fetch "
                        f"{ARCHIVE} again.")
    records = np.frombuffer(data, dtype=np.uint8).reshape(RECORDS_PER_BATCH, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.size and labels.max() >= len(CLASSES):
        raise DataError(f"{where} has label {int(labels.max())}, outside [0, {len(CLASSES)}); "
                        "it is not a CIFAR-10 binary batch, so delete it and fetch "
                        f"{ARCHIVE} again.")
    images = records[:, 1:].reshape(RECORDS_PER_BATCH, *IMAGE_SHAPE).copy()
    return images, labels


def check_batches_fit(where: Path) -> None:
    """Refuse (`ResourceError`) the six batches (read before the limits apply) when they
    cannot fit in memory: their images twice (the batches and the joined training images)
    plus one batch file's bytes."""
    n = len(BIN_FILES) * RECORDS_PER_BATCH
    check_data_fits(2 * image_bytes(n, IMAGE_SHAPE) + _batch_bytes(),
                    f"the {n:,} {TITLE} images of {shape_text(IMAGE_SHAPE)} in {where}",
                    f"free memory: {TITLE} is read whole before data.limit_train / "
                    "data.limit_eval apply")


def _assemble(batches: dict[str, tuple[np.ndarray, np.ndarray]]) -> Arrays:
    x_tr = np.concatenate([batches[f][0] for f in TRAIN_FILES])
    y_tr = np.concatenate([batches[f][1] for f in TRAIN_FILES])
    return x_tr, y_tr, *batches[TEST_FILE]


def _read_folder(folder: Path) -> Arrays:
    """The six ``.bin`` files of ``folder``, size-checked before they are read."""
    batches = {}
    for name in BIN_FILES:
        path = folder / name
        size = path.stat().st_size
        if size != _batch_bytes():
            raise DataError(f"{path} has {size} bytes, expected {_batch_bytes()} "
                            f"({RECORDS_PER_BATCH} records of {RECORD_BYTES} bytes); it is "
                            "truncated or not a CIFAR-10 binary batch, so delete it.")
    check_batches_fit(folder)
    for name in BIN_FILES:
        path = folder / name
        batches[name] = parse_batch(path.read_bytes(), str(path))
    return _assemble(batches)


def _read_archive(path: Path) -> Arrays:
    """The six batches read straight from the tar ``path`` (nothing is extracted)."""
    allowed = {MEMBER_DIR, *(f"{MEMBER_DIR}/{n}" for n in (*BIN_FILES, *EXTRA_FILES))}
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    fix = "delete it and fetch the official archive again"
    check_batches_fit(path)
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = member.name.rstrip("/")
                if name not in allowed:
                    raise DataError(f"{path} holds an unexpected member {member.name!r} "
                                    f"(only {MEMBER_DIR}/ and its files are allowed); it is "
                                    f"not the official {ARCHIVE}, so {fix}.")
                base = name.rpartition("/")[2]
                if base not in BIN_FILES:
                    continue
                if not member.isfile() or member.size != _batch_bytes():
                    kind = f"{member.size} bytes" if member.isfile() else "not a regular file"
                    raise DataError(f"{path}: member {member.name} is {kind}, expected a file "
                                    f"of {_batch_bytes()} bytes ({RECORDS_PER_BATCH} records "
                                    f"of {RECORD_BYTES} bytes); {fix}.")
                if base in batches:
                    raise DataError(f"{path} holds {member.name} twice; {fix}.")
                f = tar.extractfile(member)
                data = f.read(_batch_bytes() + 1) if f is not None else b""
                batches[base] = parse_batch(data, f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path} is not a readable {ARCHIVE} ({exc}); it is truncated or "
                        f"corrupt, so {fix}.") from exc
    missing = [n for n in BIN_FILES if n not in batches]
    if missing:
        raise DataError(f"{path} lacks {', '.join(f'{MEMBER_DIR}/{n}' for n in missing)}; "
                        f"it is not the complete {ARCHIVE}, so {fix}.")
    return _assemble(batches)


def candidates(cfg: DataConfig) -> list[tuple[str, Path]]:
    """Every ``(label, folder)`` to search, in order."""
    places = [(label, p) for label, d in _user_dirs(cfg)
              for p in (d, d / NAME, d / MEMBER_DIR)]
    places.append(("download cache", cache_dir(NAME)))
    return places


def _try(folder: Path) -> Arrays | str:
    """Load CIFAR-10 from ``folder`` or return why it is not there (corrupt files raise)."""
    if not folder.is_dir():
        return "no such folder"
    if all((folder / n).is_file() for n in BIN_FILES):
        log.info("reading the CIFAR-10 batches in %s", folder)
        return _read_folder(folder)
    if (folder / ARCHIVE).is_file():
        log.info("reading %s", folder / ARCHIVE)
        return _read_archive(folder / ARCHIVE)
    return f"neither the six {MEMBER_DIR} .bin files nor {ARCHIVE}"


def _download() -> Path:
    """Fetch the archive into the cache (verified); returns the cache folder."""
    base = os.environ.get("LATENTFORGE_MIRROR") or MIRROR
    dest = cache_dir(NAME)
    download_file(f"{base.rstrip('/')}/{ARCHIVE}", dest / ARCHIVE, ARCHIVE_DIGEST)
    return dest


def locate(cfg: DataConfig) -> tuple[Arrays, Path]:
    """The four arrays and where they came from; `DataError` listing every place tried."""
    data_dir = (f"--set data.data_dir=DIR with {ARCHIVE} (the binary version from "
                f"{MIRROR}) or its six .bin files")
    return locate_or_download(TITLE, candidates(cfg), _try, _download, cfg.download,
                              f"pass --set data.download=true or {data_dir}",
                              f"pass {data_dir}")


def load_cifar10(cfg: DataConfig) -> Splits:
    """CIFAR-10: uint8 ``(N, 3, 32, 32)`` images, int64 labels in [0, 10) (see the module).

    train = the first ``N - valid_size`` training records, valid = the last ``valid_size``,
    test = ``test_batch.bin``.
    """
    (x_tr, y_tr, x_te, y_te), path = locate(cfg)
    n = len(x_tr)
    if not 0 <= cfg.valid_size < n:
        raise DataError(f"data.valid_size={cfg.valid_size} must be in [0, {n}) for the {n} "
                        f"training images of {TITLE}; set --set data.valid_size=5000.")
    cut = n - cfg.valid_size
    info = {"source": NAME, "path": str(path),
            "split": "train = first N - valid_size of data_batch_1..5 in order, "
                     "valid = their last valid_size, test = test_batch",
            "sizes": {"train": cut, "valid": cfg.valid_size, "test": len(x_te)}}
    log.info("%s from %s: %s", TITLE, path, info["sizes"])
    return Splits(NAME, from_numpy(x_tr[:cut], y_tr[:cut], list(CLASSES)),
                  from_numpy(x_tr[cut:], y_tr[cut:], list(CLASSES)),
                  from_numpy(x_te, y_te, list(CLASSES)), info)
