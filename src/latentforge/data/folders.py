"""A folder of images as a dataset (Pillow), with optional class subfolders.

Layouts:

- ``root/*.png``: unlabelled images;
- ``root/<class>/**/*.png``: labelled images; class names are the subfolder names sorted,
  label ``i`` is ``classes[i]``. Image files directly in ``root`` are then refused.

Hidden entries (names starting with ``.``, e.g. ``.DS_Store``) are skipped. Any other file
that is not an image (by extension or content) is refused with its name. Images must share
one size unless ``data.image_size`` resizes them all (bilinear, to a square, aspect ratio
not kept). ``data.grayscale``: True -> 1 channel, False -> RGB, None -> keep the mode when
every image is grayscale or every image is colour. Split by ``data.valid_fraction`` /
``data.test_fraction`` with a seeded permutation.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits
from latentforge.data.splitting import split_arrays
from latentforge.errors import DataError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff",
                              ".webp", ".ppm", ".pgm", ".pbm"})
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


def _visible(folder: Path) -> list[Path]:
    """Entries of ``folder`` not starting with ``.``, sorted by name."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _files_under(folder: Path) -> list[Path]:
    """Every visible file below ``folder`` (recursively), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def list_images(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """``(files, labels, classes)`` of the folder; labels/classes None without subfolders."""
    entries = _visible(root)
    subdirs = [p for p in entries if p.is_dir()]
    if not subdirs:
        files, labels, classes = [p for p in entries if p.is_file()], None, None
    else:
        stray = [p for p in entries if p.is_file()]
        if stray:
            raise DataError(f"{stray[0]} lies beside the class subfolders of {root}; "
                            "move it into a class subfolder or delete it.")
        classes = [d.name for d in subdirs]
        per_class = [_files_under(d) for d in subdirs]
        files = [f for group in per_class for f in group]
        labels = [i for i, group in enumerate(per_class) for _ in group]
    if not files:
        raise DataError(f"{root} contains no image files; put .png/.jpg images in it "
                        "(optionally in one subfolder per class).")
    for f in files:
        if f.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"{f} is not an image file (extension '{f.suffix}'); remove it "
                            f"from {root} or convert it to one of .png, .jpg, .bmp, .tif.")
    return files, labels, classes


def _read(path: Path, mode: str | None = None, size: int | None = None):
    """Open ``path`` with Pillow; with ``mode`` also decode it, convert and resize.

    Returns the lazily opened image's mode (``mode`` None) or a uint8 array ``(H, W)`` /
    ``(H, W, 3)``. Raises `DataError` when Pillow cannot read the file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if mode is None:
                return im.mode
            im = im.convert(mode)
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), getattr(Image, "Resampling", Image).BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path} is not a readable image ({exc}); "
                        "delete or replace it.") from exc


def read_image(path: Path, sample_shape: tuple[int, ...]) -> np.ndarray:
    """One image file as uint8 ``sample_shape`` (C, H, W), converted to grayscale (C = 1)
    or RGB (C = 3) and resized to a square H = W, as a model of that input expects."""
    channels, h, w = sample_shape
    if h != w or channels not in (1, 3):
        raise DataError(f"Image queries need a model of square grayscale or RGB images; this "
                        f"one takes {tuple(sample_shape)}.")
    if not Path(path).is_file():
        raise DataError(f"Query image '{path}' does not exist.")
    a = _read(Path(path), "L" if channels == 1 else "RGB", h)
    return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))


def _target_mode(files: list[Path], grayscale: bool | None) -> str:
    """"L" or "RGB" for the whole folder, following ``data.grayscale``."""
    modes = [_read(f) for f in files]  # header only: also refuses non-images early
    if grayscale is not None:
        return "L" if grayscale else "RGB"
    gray = [m in _GRAY_MODES for m in modes]
    if all(gray):
        return "L"
    if not any(gray):
        return "RGB"
    g, c = files[gray.index(True)], files[gray.index(False)]
    raise DataError(f"{g} is grayscale but {c} is colour; choose one with "
                    "--set data.grayscale=true or --set data.grayscale=false.")


def _stack(files: list[Path], mode: str, size: int | None) -> np.ndarray:
    """Decode every file into uint8 ``(N, C, H, W)``, C = 1 for "L", 3 for "RGB"."""
    arrays = []
    for f in files:
        a = _read(f, mode, size)
        if arrays and a.shape != arrays[0].shape:
            raise DataError(f"{f} is {a.shape[1]}x{a.shape[0]} pixels but {files[0]} is "
                            f"{arrays[0].shape[1]}x{arrays[0].shape[0]}; resize them all "
                            "with --set data.image_size=N.")
        arrays.append(a)
    x = np.stack(arrays)
    return x[:, None] if x.ndim == 3 else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def load_folder(cfg: DataConfig) -> Splits:
    """The image folder ``cfg.source`` as `Splits` of uint8 ``(N, C, H, W)`` in [0, 255].

    Labels are int64 class indices when the folder has class subfolders, else None.
    """
    root = Path(cfg.source).expanduser()
    files, labels, classes = list_images(root)
    mode = _target_mode(files, cfg.grayscale)
    x = _stack(files, mode, cfg.image_size)
    y = None if labels is None else np.asarray(labels, dtype=np.int64)
    log.info("%s: %d images %s, %s", root, len(x), x.shape[1:],
             f"classes {classes}" if classes else "no labels")
    info = {"source": "folder", "path": str(root), "classes": classes, "mode": mode,
            "image_size": cfg.image_size}
    return split_arrays(root.name or str(root), x, y, cfg, classes, info)
