"""Images in and out of the server.

In: an uploaded PNG/JPEG (bytes) is refused before it is decoded when it is over
`limits.MAX_UPLOAD_BYTES` or its header (Pillow's `Image.open`, which reads no pixels)
claims more than `limits.MAX_IMAGE_SIDE` pixels a side; Pillow's own decompression-bomb
check (`Image.MAX_IMAGE_PIXELS`) is an error too (413). What is not an image is 415,
a broken image 422. Then: EXIF orientation applied, transparency composited over black
(the datasets' background), converted to the run's channels (1: grayscale "L", 3: RGB)
and resized to its H x W (Pillow's bilinear, antialiased when shrinking), as a float
tensor (C, H, W) in [0, 1].

Out: items (C, H, W) in [0, 1] as PNG bytes or "data:image/png;base64,..." URLs (1 or 3
channels as they are; other channel counts show their first channel), and a grid of them.
"""
from __future__ import annotations

import base64
import io
import math
import struct
import warnings
import zlib

from fastapi import HTTPException

from latentforge.serve.limits import MAX_IMAGE_SIDE, MAX_UPLOAD_BYTES

PNG_PREFIX = "data:image/png;base64,"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ACCEPTED = "PNG or JPEG"
# Modes whose pixels are not 8-bit: not accepted (16-bit, 32-bit integer, float).
WIDE_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N")


def check_size(n_bytes: int) -> None:
    """413 when an upload of `n_bytes` is over the limit."""
    if n_bytes > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"The image is {n_bytes / 2**20:.1f} MB, over the "
                                 f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB limit; send a smaller "
                                 "file.")


def decode_upload(data: bytes, sample_shape) -> "torch.Tensor":  # noqa: F821
    """The uploaded file `data` as the model's input (C, H, W) float in [0, 1]."""
    import numpy as np
    import torch

    channels, h, w = sample_shape
    if channels not in (1, 3):
        raise HTTPException(409, f"This run's images have {channels} channels; uploads "
                                 "convert to 1 (grayscale) or 3 (RGB) only.")
    im = _as_mode(open_image(data), "L" if channels == 1 else "RGB")
    if im.size != (w, h):
        from PIL import Image

        im = im.resize((w, h), Image.BILINEAR)
    a = np.array(im, dtype=np.uint8)  # a writable copy
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a)).float().div_(255)


def open_image(data: bytes):
    """The decoded Pillow image of `data`, after the size, header and bomb checks."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    check_size(len(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))  # the header only: no pixel is decoded yet
            _check_header(im)
            im.load()
            return ImageOps.exif_transpose(im)
    except HTTPException:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise HTTPException(413, f"The image is too large to decode safely; send one of at "
                                 f"most {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} pixels.") from None
    except UnidentifiedImageError:
        raise HTTPException(415, f"The upload is not an image Pillow can read; send a "
                                 f"{ACCEPTED} file.") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
            ZeroDivisionError, MemoryError) as exc:
        raise HTTPException(422, f"The image is broken or truncated ({type(exc).__name__}: "
                                 f"{str(exc)[:120]}); send a complete {ACCEPTED} "
                                 "file.") from None


def _check_header(im) -> None:
    """413 for more than MAX_IMAGE_SIDE pixels a side; 415 for non-8-bit pixels."""
    w, h = im.size
    if w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE:
        raise HTTPException(413, f"The image is {w}x{h} pixels, over the "
                                 f"{MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} limit; downscale it.")
    if im.mode in WIDE_MODES:
        raise HTTPException(415, f"The image has {im.mode!r} pixels (16-bit or float); "
                                 f"send an 8-bit {ACCEPTED} file.")


def _as_mode(im, mode: str):
    """`im` in `mode` ("L" or "RGB"), transparent pixels composited over black."""
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), im)
    return im.convert(mode)


def to_uint8(item) -> "np.ndarray":  # noqa: F821
    """An item (C, H, W) in [0, 1] (tensor or array) as uint8 (H, W) or (H, W, 3)."""
    import numpy as np

    a = np.asarray(item, dtype=np.float32)
    a = np.rint(np.clip(np.nan_to_num(a), 0.0, 1.0) * 255).astype(np.uint8)
    return a.transpose(1, 2, 0) if a.shape[0] == 3 else a[0]


def png_bytes(item) -> bytes:
    """An item (C, H, W) in [0, 1] as PNG file bytes: 8-bit grayscale or RGB, no row
    filters, zlib level 1. Written here: a tenth of Pillow's time for small images, which
    is most of a request's time otherwise."""
    import numpy as np

    pixels = to_uint8(item)
    h, w = pixels.shape[:2]
    rows = np.zeros((h, 1 + pixels[0].size), np.uint8)  # each row: filter type 0, pixels
    rows[:, 1:] = pixels.reshape(h, -1)
    header = struct.pack(">IIBBBBB", w, h, 8, 0 if pixels.ndim == 2 else 2, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def png_data_url(item) -> str:
    """An item (C, H, W) in [0, 1] as a "data:image/png;base64,..." URL."""
    return PNG_PREFIX + base64.b64encode(png_bytes(item)).decode("ascii")


def grid(items, n_cols: int = 8, pad: int = 2):
    """Items (N, C, H, W) in [0, 1] tiled row after row, `n_cols` a row, `pad` pixels of
    black between them: (C, rows * (H + pad) + pad, cols * (W + pad) + pad)."""
    import numpy as np

    items = np.asarray(items, dtype=np.float32)
    n, c, h, w = items.shape
    cols = max(1, min(n_cols, n))
    rows = math.ceil(n / cols)
    out = np.zeros((c, rows * (h + pad) + pad, cols * (w + pad) + pad), dtype=np.float32)
    for i, item in enumerate(items):
        top, left = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        out[:, top:top + h, left:left + w] = item
    return out
