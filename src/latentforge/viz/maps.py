"""2-D maps of the codings, coloured by class, with image thumbnails (book ch. 17,
"Visualizing Fashion MNIST" / figure 17-5: t-SNE of the validation codings, a ``tab10``
scatter, and ``AnnotationBbox`` thumbnails of images spaced apart).

- `embed_2d`: codings (N, D) -> points (N, 2) by t-SNE, PCA or UMAP (if installed);
- `latent_map_figure`: pure, arrays in -> matplotlib `Figure` out (no pyplot);
- `latent_map_png`: a run's split -> codings -> map -> PNG (what ``latentforge map`` calls).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from latentforge.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

# numpy and matplotlib are imported inside the functions: the CLI reads MAP_METHODS
# without them.
MAP_METHODS = ("tsne", "pca", "umap")
# The book keeps a thumbnail only if its squared distance to every other one is > 0.02,
# on points scaled to [0, 1] (by the overall min and max).
BOOK_MIN_DISTANCE = math.sqrt(0.02)


def embed_2d(codes, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """Points (N, 2) float64 of codings (N, D).

    method: "tsne" (scikit-learn TSNE, PCA init, perplexity min(30, (N-1)/3)), "pca", or
        "umap" (needs the umap-learn package). seed: the embedding's random_state.
    """
    import numpy as np

    codes = np.asarray(codes, dtype=np.float64)
    if method not in MAP_METHODS:
        raise ConfigError(f"Unknown map method '{method}'. Available: "
                          f"{', '.join(MAP_METHODS)}")
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise DataError(f"A 2-D map needs codings of shape (N, D) with D >= 2, got "
                        f"{codes.shape}")
    if len(codes) < 4:
        raise DataError(f"A 2-D map needs at least 4 codings, got {len(codes)}; raise --n.")
    if not np.isfinite(codes).all():
        raise DataError("The codings contain NaN or infinite values; the model may have "
                        "diverged.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(codes)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ConfigError("--method umap needs the umap-learn package: "
                              "pip install umap-learn (or use --method tsne or pca)") from None
        return np.asarray(umap.UMAP(n_components=2, random_state=seed).fit_transform(codes),
                          dtype=np.float64)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(codes) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=seed).fit_transform(codes)


def _colormap(n_classes: int):
    """tab10 (the book's) for up to 10 classes, tab20 up to 20, else a continuous map."""
    from matplotlib import colormaps

    if n_classes <= 10:
        return colormaps["tab10"], 10
    if n_classes <= 20:
        return colormaps["tab20"], 20
    return colormaps["turbo"].resampled(n_classes), n_classes


def _thumbnail(img: np.ndarray) -> np.ndarray:
    """(C, H, W) / (H, W) in [0, 1] -> (H, W) or (H, W, 3) for imshow."""
    from latentforge.viz.figures import _as_hw

    return _as_hw(img)


def spaced_indices(points: np.ndarray, min_distance: float) -> list[int]:
    """Greedy, in index order: the indices of points at least `min_distance` from every
    point picked before (the book's thumbnail placement)."""
    import numpy as np

    picked: list[int] = []
    placed = np.empty((0, 2))
    threshold = min_distance ** 2
    for i, p in enumerate(points):
        if len(placed) == 0 or np.min(np.sum((placed - p) ** 2, axis=1)) > threshold:
            picked.append(i)
            placed = np.vstack([placed, p])
    return picked


def latent_map_figure(points, labels=None, images=None, class_names=None,
                      min_distance: float = BOOK_MIN_DISTANCE, title: str | None = None
                      ) -> Figure:
    """Scatter of `points` (N, 2) coloured by `labels` (int (N,), optional), with thumbnails
    of `images` ((N, C, H, W) or (N, H, W) in [0, 1], optional) framed in their class colour
    at points at least `min_distance` apart (points scaled to [0, 1] first, as the book).
    class_names: names of label values 0..K-1, shown in a legend."""
    import numpy as np
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise DataError(f"points must have shape (N, 2), got {points.shape}")
    span = points.max() - points.min() if len(points) else 0.0
    pts = (points - points.min()) / span if span > 0 else np.zeros_like(points)
    labels = None if labels is None else np.asarray(labels).astype(np.int64)
    if labels is not None and labels.shape != (len(pts),):
        raise DataError(f"labels must have shape ({len(pts)},), got {labels.shape}")
    if images is not None and len(images) != len(pts):
        raise DataError(f"images must hold {len(pts)} items, got {len(images)}")
    n_classes = int(max(labels.max() + 1 if labels is not None and len(labels) else 1,
                        len(class_names or ())))
    cmap, n_colors = _colormap(n_classes)
    colors = cmap(labels % n_colors) if labels is not None else "tab:blue"

    fig = Figure(figsize=(10, 8))
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(pts[:, 0], pts[:, 1], c=colors, s=10)
    if images is not None:
        images = np.asarray(images, dtype=np.float32)
        zoom = max(0.25, 28 / max(images.shape[-2:]))  # 28x28 at zoom 1, as the book
        for i in spaced_indices(pts, min_distance):
            edge = cmap(labels[i] % n_colors) if labels is not None else "gray"
            box = AnnotationBbox(OffsetImage(_thumbnail(images[i]), cmap="binary", zoom=zoom,
                                             norm=Normalize(0, 1)),
                                 pts[i], bboxprops={"edgecolor": edge, "lw": 2})
            ax.add_artist(box)
    if labels is not None and class_names:
        from matplotlib.lines import Line2D

        present = sorted(set(labels.tolist()))
        handles = [Line2D([], [], marker="o", linestyle="", color=cmap(k % n_colors),
                          label=str(class_names[k]) if k < len(class_names) else str(k))
                   for k in present]
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5),
                  frameon=False)
    if title:
        ax.set_title(title)
    ax.axis("off")
    return fig


def latent_map_png(run, method: str = "tsne", split: str = "valid", n: int | None = 5000,
                   out: Path | None = None, seed: int = 0) -> Path:
    """Encode `n` items of `run`'s `split` (a seeded sample when the split is larger; all
    when n is None), embed them in 2-D and write the map; returns the PNG path
    (default RUN/figures/latent_map_<method>_<split>.png). Shows the phases on a terminal.
    Table runs get the map without thumbnails."""
    from latentforge.evaluation.capabilities import is_image_shape, require
    from latentforge.evaluation.progress import phases
    from latentforge.viz.figures import png_path, save_figure

    if method not in MAP_METHODS:
        raise ConfigError(f"Unknown map method '{method}'. Available: "
                          f"{', '.join(MAP_METHODS)}")
    if n is not None and n < 4:
        raise DataError(f"--n must be at least 4, got {n}")
    require(run, "encode", "map")
    path = (png_path(out) if out
            else Path(run.path) / "figures" / f"latent_map_{method}_{split}.png")
    data = run.split(split)
    idx = data.sample_indices(n, seed)
    with phases("map", ["encode", method, "draw"]) as phase:
        phase("encode")
        x = data.batch(idx)
        codes = run.encode(x).reshape(len(idx), -1).numpy()
        phase(method)
        points = embed_2d(codes, method, seed)
        phase("draw")
        labels = None if data.y is None else data.y[idx].numpy()
        images = x.numpy() if is_image_shape(run.model.sample_shape) else None
        title = f"{run.config.model_name}: {method} of {len(idx)} {split} codings"
        fig = latent_map_figure(points, labels, images, data.classes, title=title)
        return save_figure(fig, path)
