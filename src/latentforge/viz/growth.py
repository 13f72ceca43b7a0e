"""The growth figure of a progressively grown GAN (progan): one row per growth phase, the
same fixed codings in every row, each row labelled with its resolution and the images
seen when it was taken. Pure: arrays in, Figure out."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure


def growth_figure(rows: Sequence[tuple[str, np.ndarray]]) -> Figure:
    """rows: (label, images (n, C, H, W) in [0, 1]) per phase, top to bottom; every row has
    the same n. Grayscale images are drawn white on black (as stored), RGB as they are."""
    n_rows, n_cols = len(rows), max(len(images) for _, images in rows)
    fig = Figure(figsize=(n_cols * 1.1 + 1.6, n_rows * 1.15))
    for r, (label, images) in enumerate(rows):
        for c, image in enumerate(images):
            ax = fig.add_subplot(n_rows, n_cols, r * n_cols + c + 1)
            ax.imshow(_hwc(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    return fig


def _hwc(image: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) for one channel, (H, W, 3) for RGB; clipped to [0, 1]."""
    image = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    return image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))
