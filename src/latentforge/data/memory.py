"""The one memory check of the data loaders: a dataset that cannot fit is refused before it
is allocated, with what it needs, what is available and what to do.

Every image source calls `check_data_fits` with the bytes it is about to allocate: a folder
(N x C x H x W from the image headers and ``data.image_size``, before decoding), ``.npy`` /
``.npz`` images (from the array header, for the items the limits keep), CIFAR-10 (its six
batches, before reading them), and the shared steps of `load_data` (the output of
``data.image_size``'s resize and of ``data.pad_to``). A refusal is a `ResourceError`
(exit 4) whose message ends with `HINT` unless the caller knows a better fix.
"""
from __future__ import annotations

import math
from typing import Sequence

from latentforge.resources import check_fits

HINT = ("set a smaller --set data.image_size=N, or fewer images with "
        "--set data.limit_train=N and --set data.limit_eval=N")


def image_bytes(n: int, shape: Sequence[int], itemsize: int = 1) -> int:
    """Bytes of ``n`` images of ``shape`` (C, H, W) at ``itemsize`` bytes per value."""
    return int(n) * math.prod(int(v) for v in shape) * int(itemsize)


def shape_text(shape: Sequence[int]) -> str:
    """``(3, 64, 64)`` -> ``"3x64x64"``."""
    return "x".join(str(int(v)) for v in shape)


def check_data_fits(nbytes: int, what: str, hint: str = HINT) -> None:
    """Raise `ResourceError` when ``nbytes`` exceed the memory available now.

    what: the data that needs it ("100 images of 3x64x64 from cats/"); hint: what to do
    instead (default `HINT`: a smaller ``data.image_size``, ``data.limit_train`` /
    ``data.limit_eval``).
    """
    check_fits(nbytes, what, hint)
