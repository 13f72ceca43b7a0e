"""A folder of images as a dataset (Pillow), with optional class subfolders.

Layouts:

- ``root/*.png``: unlabelled images;
- ``root/<class>/**/*.png``: labelled images; class names are the subfolder names sorted,
  label ``i`` is ``classes[i]``. Image files directly in ``root`` are then refused.

Hidden entries (names starting with ``.``, e.g. ``.DS_Store``) are skipped. Any other file
that is not an image (by extension or content) is refused with its name. Images must share
one size unless ``data.image_size`` resizes them all: each decoded image is resized to a
square (aspect ratio not kept) by `latentforge.data.resize.resize_images`, the method every
source uses. ``data.grayscale``: True -> 1 channel, False -> RGB, None -> keep the mode
when every image is grayscale or every image is colour. Split by ``data.valid_fraction`` /
``data.test_fraction`` with a seeded permutation.

Safety: every file's header (mode, size) is read first; an image of more than
`MAX_PIXELS` pixels is refused before it is decoded (Pillow's decompression-bomb warning
and error become that `DataError`, nothing is printed). Only the items the splits keep
after ``data.limit_train`` / ``data.limit_eval`` are decoded, into one preallocated uint8
array of N x C x H x W bytes (H = W = ``data.image_size`` when set), after
`memory.check_data_fits` accepted that size; the splits are views of it.

Bit depths: 8-bit images are used as they are. 16-bit grayscale (modes ``I;16*``) and
32-bit integer images (mode ``I``, read as 16-bit values, which must lie in [0, 65535])
map ``v -> round(v / 257)``, the inverse of the usual 8- to 16-bit expansion ``v * 257``
(65535 -> 255). 32-bit float images (mode ``F``) must hold finite values in [0, 1] and map
``v -> round(v * 255)``; NaN, inf or values outside [0, 1] are refused.
"""
from __future__ import annotations

import logging
import struct
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits
from latentforge.data.memory import check_data_fits, image_bytes, shape_text
from latentforge.data.resize import METHOD, resize_images
from latentforge.data.splitting import gather, limit_indices, split_arrays, split_indices
from latentforge.errors import DataError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff",
                              ".webp", ".ppm", ".pgm", ".pbm"})
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
MAX_PIXELS = 89_478_485  # Pillow's default Image.MAX_IMAGE_PIXELS (about 9459 x 9459)


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


@contextmanager
def _opened(path: Path):
    """``path`` opened lazily by Pillow (header only), at most `MAX_PIXELS` pixels.
    Raises `DataError` when Pillow cannot read the file or it is too large."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise DataError(f"{path} is {w}x{h} pixels ({w * h / 1e6:.0f} megapixels), "
                                    f"more than the limit of {MAX_PIXELS / 1e6:.0f} megapixels; "
                                    "downscale it (e.g. to 1024x1024) or remove it.")
                yield im
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{path} is too large to decode safely ({exc}); downscale it "
                        "(e.g. to 1024x1024) or remove it.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            IndexError, TypeError, KeyError, ZeroDivisionError, struct.error) as exc:
        raise DataError(f"{path} is not a readable image ({exc}); "
                        "delete or replace it.") from exc


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    """``(mode, (width, height))`` of an image file, from its header only."""
    with _opened(path) as im:
        return im.mode, im.size


def _to_8bit(im, path: Path):
    """``im`` with 16-bit / 32-bit integer / float pixels mapped to an 8-bit "L" image
    (rules in the module docstring); other modes unchanged."""
    from PIL import Image

    if im.mode not in ("I", "F") and not im.mode.startswith("I;16"):
        return im
    a = np.asarray(im)
    if im.mode == "F":
        if not np.isfinite(a).all():
            raise DataError(f"{path} is a float image with NaN or inf pixels; save it "
                            "without them (as 8-bit, or float in [0, 1]).")
        if a.size and (a.min() < 0 or a.max() > 1):
            raise DataError(f"{path} is a float image with values {a.min():.4g}..{a.max():.4g} "
                            "outside [0, 1]; save it with values in [0, 1] or as 8-bit.")
        return Image.fromarray(np.rint(a * 255.0).astype(np.uint8), "L")
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise DataError(f"{path} is a 32-bit integer image with values {a.min()}..{a.max()} "
                        "outside [0, 65535]; save it as an 8-bit or 16-bit image.")
    return Image.fromarray(np.rint(a / 257.0).astype(np.uint8), "L")


def _decode(path: Path, mode: str, size: int | None) -> np.ndarray:
    """Decode ``path``, convert it to ``mode`` ("L" or "RGB"), resize it to a ``size``
    square when given (`resize_images`); uint8 ``(C, H, W)``."""
    with _opened(path) as im:
        a = np.array(_to_8bit(im, path).convert(mode), dtype=np.uint8)  # writable
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if size is None:
        return a
    return resize_images(torch.from_numpy(np.ascontiguousarray(a))[None], size)[0].numpy()


def read_image(path: Path, sample_shape: tuple[int, ...]) -> np.ndarray:
    """One image file as uint8 ``sample_shape`` (C, H, W), converted to grayscale (C = 1)
    or RGB (C = 3) and resized to a square H = W, as a model of that input expects."""
    channels, h, w = sample_shape
    if h != w or channels not in (1, 3):
        raise DataError(f"Image queries need a model of square grayscale or RGB images; this "
                        f"one takes {tuple(sample_shape)}.")
    if not Path(path).is_file():
        raise DataError(f"Query image '{path}' does not exist.")
    return np.ascontiguousarray(_decode(Path(path), "L" if channels == 1 else "RGB", h))


def _target_mode(files: list[Path], modes: list[str], grayscale: bool | None) -> str:
    """"L" or "RGB" for the whole folder, following ``data.grayscale``."""
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


def _image_side(files: list[Path], sizes: list[tuple[int, int]],
                size: int | None) -> tuple[int, int]:
    """``(H, W)`` every decoded image will have; `DataError` for unequal sizes."""
    if size is not None:
        return size, size
    for f, s in zip(files, sizes):
        if s != sizes[0]:
            raise DataError(f"{f} is {s[0]}x{s[1]} pixels but {files[0]} is "
                            f"{sizes[0][0]}x{sizes[0][1]}; resize them all "
                            "with --set data.image_size=N.")
    return sizes[0][1], sizes[0][0]


def decode_files(files: list[Path], mode: str, hw: tuple[int, int], size: int | None) -> np.ndarray:
    """Decode every file into one uint8 ``(N, C, H, W)``, C = 1 for "L", 3 for "RGB"."""
    channels = 1 if mode == "L" else 3
    x = np.empty((len(files), channels, *hw), dtype=np.uint8)
    for i, f in enumerate(files):
        x[i] = _decode(f, mode, size)
    return x


@dataclass
class FolderScan:
    """What the headers of an image folder decide, before any pixel is decoded.

    files/labels/classes: as `list_images`; mode: "L" or "RGB"; hw: ``(H, W)`` of every
    decoded image; idx: the split indices into ``order`` (`gather`); order: the files'
    indices the splits keep (after ``data.limit_train`` / ``limit_eval``), in split order.
    """

    root: Path
    name: str
    files: list[Path]
    labels: list[int] | None
    classes: list[str] | None
    mode: str
    hw: tuple[int, int]
    order: np.ndarray
    idx: dict[str, np.ndarray]

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one decoded image."""
        return (1 if self.mode == "L" else 3, *self.hw)

    def kept_files(self) -> list[Path]:
        """The files the splits keep, in ``order``."""
        return [self.files[i] for i in self.order]

    def kept_labels(self) -> np.ndarray | None:
        """int64 labels of `kept_files`, or None for an unlabelled folder."""
        return None if self.labels is None else np.asarray(self.labels, np.int64)[self.order]

    def info(self, cfg: DataConfig) -> dict:
        """The `Splits.info` facts of the folder."""
        info = {"source": "folder", "path": str(self.root), "classes": self.classes,
                "mode": self.mode}
        if cfg.image_size is not None:
            info["image_size"] = {"size": cfg.image_size, "method": METHOD}
        return info


def scan_folder(cfg: DataConfig) -> FolderScan:
    """List the folder ``cfg.source``, read every header (refusing non-images and images
    over `MAX_PIXELS`), choose the mode and size, and draw the seeded split."""
    root = Path(cfg.source).expanduser()
    name = root.name or str(root)
    files, labels, classes = list_images(root)
    headers = [_header(f) for f in files]  # header only: also refuses non-images early
    mode = _target_mode(files, [m for m, _ in headers], cfg.grayscale)
    hw = _image_side(files, [s for _, s in headers], cfg.image_size)
    idx = limit_indices(split_indices(len(files), cfg, name), cfg.limit_train, cfg.limit_eval)
    order, local = gather(idx)
    return FolderScan(root, name, files, labels, classes, mode, hw, order, local)


def load_folder(cfg: DataConfig) -> Splits:
    """The image folder ``cfg.source`` as `Splits` of uint8 ``(N, C, H, W)`` in [0, 255].

    Labels are int64 class indices when the folder has class subfolders, else None.
    Only the items kept by ``data.limit_train`` / ``data.limit_eval`` are decoded.
    """
    scan = scan_folder(cfg)
    n = len(scan.order)
    check_data_fits(image_bytes(n, scan.sample_shape),
                    f"{n:,} images of {shape_text(scan.sample_shape)} from {scan.root}")
    x = decode_files(scan.kept_files(), scan.mode, scan.hw, cfg.image_size)
    log.info("%s: %d images %s, %s", scan.root, len(x), x.shape[1:],
             f"classes {scan.classes}" if scan.classes else "no labels")
    return split_arrays(scan.name, x, scan.kept_labels(), cfg, scan.classes, scan.info(cfg),
                        idx=scan.idx)
