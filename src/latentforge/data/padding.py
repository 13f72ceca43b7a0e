"""``data.pad_to``: zero-padding (black) of every image to a square, the last data step.

`pad_offsets` checks ``pad_to`` against the image size and gives the margins; `pad_batch`
pads uint8 or float images ``(N, C, H, W)``; `pad_images` pads in-memory `Splits` (after a
memory check). Streaming folders (data/streaming.py) pad each decoded batch with the same
`pad_batch`, so both give the same pixels.
"""
from __future__ import annotations

import torch

from latentforge.data.dataset import Splits
from latentforge.data.memory import check_data_fits, image_bytes, shape_text
from latentforge.errors import DataError


def pad_offsets(name: str, sample_shape: tuple[int, ...], pad_to: int) -> dict:
    """``{"size", "from", "top", "left"}`` of padding ``sample_shape`` images of ``name``
    to ``pad_to``; `DataError` for tables and for ``pad_to`` smaller than the images.
    An odd margin puts the extra row / column at the bottom / right."""
    if len(sample_shape) != 3:
        raise DataError(f"data.pad_to={pad_to} pads images, but '{name}' is a table "
                        f"of samples shaped {tuple(sample_shape)}; remove data.pad_to (or set "
                        "data.image_shape to read its rows as images).")
    h, w = int(sample_shape[1]), int(sample_shape[2])
    if pad_to < max(h, w):
        raise DataError(f"data.pad_to={pad_to} is smaller than the {h}x{w} images of "
                        f"'{name}'; set --set data.pad_to={max(h, w)} or larger "
                        "(padding never crops).")
    return {"size": pad_to, "from": [h, w], "top": (pad_to - h) // 2,
            "left": (pad_to - w) // 2}


def pad_batch(images: torch.Tensor, pad: dict) -> torch.Tensor:
    """``images`` (N, C, H, W) zero-padded as `pad_offsets` says (same dtype)."""
    size, (h, w), top, left = pad["size"], pad["from"], pad["top"], pad["left"]
    out = images.new_zeros((images.shape[0], images.shape[1], size, size))
    out[:, :, top:top + h, left:left + w] = images
    return out


def pad_images(splits: Splits, pad_to: int | None) -> Splits:
    """Zero-pad (black) every image symmetrically to ``pad_to`` x ``pad_to``.

    Refuses tables and ``pad_to`` smaller than the images with a `DataError`, an output
    that cannot fit with a `ResourceError`; None returns ``splits``.
    """
    if pad_to is None:
        return splits
    x = splits.train.x
    pad = pad_offsets(splits.name, tuple(x.shape[1:]), pad_to)
    n = splits.n_items()
    check_data_fits(image_bytes(n, (x.shape[1], pad_to, pad_to), x.element_size()),
                    f"{n:,} images of {shape_text(x.shape[1:])} padded to "
                    f"{shape_text((x.shape[1], pad_to, pad_to))} ('{splits.name}', "
                    f"data.pad_to={pad_to})")
    return splits.map_images(lambda images: pad_batch(images, pad), "pad_to", pad)
