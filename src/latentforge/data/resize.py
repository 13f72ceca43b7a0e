"""``data.image_size``: the one resize of every image source.

Method (`METHOD`): ``torch.nn.functional.interpolate(mode="bilinear", antialias=True,
align_corners=False)`` on float32 values, to a ``size`` x ``size`` square (the aspect ratio
is not kept). Downscaling averages over the whole footprint of each output pixel (a
triangle filter widened by the scale factor, as Pillow's resize), so no aliasing; its
weights are non-negative and sum to 1, so a constant image stays constant and values stay
in the input's range. uint8 images are rounded (half to even) back to uint8; float images
stay float32, clamped to [0, 1].

Folders resize each decoded image with `resize_images` (their images may differ in size);
every other source is resized by `resize_splits` in `load_data`, after the limits, so only
the kept items are resized, and before ``data.pad_to``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from latentforge.data.dataset import Splits
from latentforge.data.memory import check_data_fits, image_bytes, shape_text
from latentforge.errors import DataError

METHOD = "bilinear, antialiased (torch interpolate, align_corners=False), rounded to uint8"
CHUNK_VALUES = 1 << 22  # float32 values per resize step (16 MiB in, 16 MiB out at most)


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 or float32 ``(N, C, H, W)`` resized to ``(N, C, size, size)`` (same dtype) by
    `METHOD`; ``x`` itself when it already has that size. Works in chunks of at most
    `CHUNK_VALUES` float values."""
    n, c, h, w = x.shape
    if (h, w) == (size, size):
        return x
    out = torch.empty((n, c, size, size), dtype=x.dtype)
    step = max(1, CHUNK_VALUES // (c * max(h * w, size * size)))
    for start in range(0, n, step):
        part = F.interpolate(x[start:start + step].to(torch.float32), size=(size, size),
                             mode="bilinear", antialias=True, align_corners=False)
        if x.dtype == torch.uint8:
            part = part.round_().clamp_(0, 255)
        else:
            part = part.clamp_(0.0, 1.0)
        out[start:start + step] = part.to(x.dtype)
    return out


def resize_splits(splits: Splits, size: int | None) -> Splits:
    """Every image of ``splits`` resized to ``size`` x ``size`` (`resize_images`).

    None, or images already of that size, return ``splits``. Refuses tables (`DataError`)
    and an output that cannot fit in memory (`ResourceError`, checked before resizing).
    """
    if size is None:
        return splits
    x = splits.train.x
    if x.dim() != 4:
        raise DataError(f"data.image_size={size} resizes images, but '{splits.name}' is a "
                        f"table of samples shaped {tuple(x.shape[1:])}; remove "
                        "data.image_size (or set data.image_shape to read its rows as images).")
    c, h, w = (int(v) for v in x.shape[1:])
    if (h, w) == (size, size):
        return splits
    n = splits.n_items()
    check_data_fits(image_bytes(n, (c, size, size), x.element_size()),
                    f"{n:,} images of {shape_text((c, h, w))} resized to "
                    f"{shape_text((c, size, size))} ('{splits.name}', data.image_size={size})")

    return splits.map_images(lambda x: resize_images(x, size), "image_size",
                             {"size": size, "from": [h, w], "method": METHOD})
