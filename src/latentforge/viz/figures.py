"""Pure figure functions: numpy arrays in, matplotlib `Figure` out (no global pyplot state).

Images are arrays (N, C, H, W) or (N, H, W) with values in [0, 1].
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def _as_hw(img: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) -> (H, W) for one channel or (H, W, 3) for RGB, clipped to [0, 1]."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3:
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
    return np.clip(img, 0.0, 1.0)


def _show(ax, img: np.ndarray) -> None:
    ax.imshow(_as_hw(img), cmap="binary", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")


def reconstruction_figure(originals: np.ndarray, reconstructions: np.ndarray) -> Figure:
    """The book's `show_reconstructions`: originals on the top row, reconstructions below."""
    n = len(originals)
    fig = Figure(figsize=(n * 1.5, 3))
    for i in range(n):
        _show(fig.add_subplot(2, n, 1 + i), originals[i])
        _show(fig.add_subplot(2, n, 1 + n + i), reconstructions[i])
    return fig


def image_grid(images: np.ndarray, n_cols: int = 8, titles=None) -> Figure:
    """Images in a grid of `n_cols` columns, optional title per image."""
    n = len(images)
    rows = max(1, -(-n // n_cols))
    fig = Figure(figsize=(n_cols * 1.2, rows * 1.2))
    for i in range(n):
        ax = fig.add_subplot(rows, n_cols, i + 1)
        _show(ax, images[i])
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    return fig


def learning_curves(history: list[dict]) -> Figure:
    """Train and validation loss per epoch (from metrics.jsonl rows)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    epochs = [r["epoch"] for r in history]
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        values = [r.get(key) for r in history]
        if any(v is not None for v in values):
            ax.plot(epochs, values, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def scatter_2d(points: np.ndarray, title: str = "codings") -> Figure:
    """2-D codings (N, 2) as points (book figure 17-2: the linear autoencoder's PCA plane)."""
    points = np.asarray(points)
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(points[:, 0], points[:, 1], "b.")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$", rotation=0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig


def png_path(path: str | Path) -> Path:
    """`path` as a Path; ConfigError unless it names a .png file (every figure is a PNG)."""
    from latentforge.errors import ConfigError

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"--out must end in .png, got '{path}'")
    return path


def save_figure(fig: Figure, path: Path) -> Path:
    """Write `fig` as PNG (atomically) and return the path."""
    from latentforge.atomic import atomic_path

    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return Path(path)
