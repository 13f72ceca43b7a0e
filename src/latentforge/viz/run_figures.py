"""The standard figures of a run, written into ``<run>/figures/`` (and the table
counterpart of the reconstruction figure for runs trained on table rows)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latentforge.evaluation.capabilities import can, require
from latentforge.viz.figures import (image_grid, learning_curves, reconstruction_figure,
                                     save_figure)
from latentforge.viz.sparsity import activation_histograms, sparsity_loss_figure


def reconstruction_pngs(run, n: int = 5, split: str = "valid", out: Path | None = None) -> Path:
    """Originals over reconstructions of the first `n` items of `split` (book figure 17-4);
    runs trained on table rows are refused (RunError; see `reconstruction_csv`)."""
    require(run, "images", "The reconstruction figure")
    data = run.split(split)
    n = min(n, len(data))
    x = data.batch(torch.arange(n))
    recon = run.reconstruct(x).numpy()
    return save_figure(reconstruction_figure(x.numpy(), recon),
                       out or Path(run.path) / "figures" / "reconstructions.png")


def reconstruction_csv(run, n: int = 5, split: str = "valid", out: Path | None = None) -> Path:
    """Originals and reconstructions of the first `n` rows of a table run's `split`: a CSV
    with one row per item and kind ("original" / "reconstruction"), the features in the
    model's data range (default RUN/reconstructions.csv)."""
    from latentforge.atomic import atomic_write_text

    data = run.split(split)
    x = data.batch(torch.arange(min(n, len(data))))
    recon = run.reconstruct(x)
    columns = run.data().info.get("columns") or [str(j) for j in range(x.shape[1])]
    lines = [",".join(["item", "kind", *(csv_field(str(c)) for c in columns)])]
    for i in range(len(x)):
        for kind, row in (("original", x[i]), ("reconstruction", recon[i])):
            lines.append(",".join([str(i), kind, *(f"{v:.6g}" for v in row.tolist())]))
    path = Path(out) if out else Path(run.path) / "reconstructions.csv"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def csv_field(text: str) -> str:
    """`text` as one CSV field (quoted when it holds a comma, a quote or a newline)."""
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def codings_of(run, split: str = "valid", limit: int | None = None):
    """(codings (N, D) numpy, images (N, ...) float tensor, labels or None) of a split."""
    data = run.split(split)
    n = len(data) if limit is None else min(limit, len(data))
    x = data.batch(torch.arange(n))
    y = None if data.y is None else data.y[:n].numpy()
    return run.encode(x).numpy(), x, y


def hash_grid_png(run, split: str = "valid", top: int = 10, per_hash: int = 6,
                  out: Path | None = None) -> Path:
    """Images sharing the `top` most common binary hashes, one row per hash (image runs
    only: RunError otherwise)."""
    from latentforge.evaluation.hashing import hash_bits, hash_ints, most_common

    require(run, "images", "The hash grid")
    codes, x, _ = codings_of(run, split)
    rows = most_common(hash_ints(hash_bits(codes)), top)
    images, titles = [], []
    for h, idx in rows:
        for j in range(per_hash):
            has = j < len(idx)
            images.append(x[idx[j]].numpy() if has else np.zeros(x.shape[1:], np.float32))
            titles.append(f"{h:0{codes.shape[1]}b}" if j == 0 else "")
    fig = image_grid(np.stack(images), n_cols=per_hash, titles=titles)
    return save_figure(fig, out or Path(run.path) / "figures" / "hash_grid.png")


def write_figures(run) -> list[Path]:
    """Learning curves; reconstructions for image autoencoders; activation histograms and
    sparsity losses for sparse ones (figs. 17-11, 17-10); the common-hash grid for hashing
    ones."""
    figures = Path(run.path) / "figures"
    written = []
    if run.history:
        written.append(save_figure(learning_curves(run.history),
                                   figures / "learning_curves.png"))
    if can(run.model, "reconstruct") and can(run.model, "images") and len(run.split("valid")):
        written.append(reconstruction_pngs(run))
    cfg = run.config.model
    if getattr(cfg, "sparsity", "none") != "none" and len(run.split("valid")):
        codes = codings_of(run, "valid", limit=5000)[0]
        written.append(save_figure(activation_histograms(codes),
                                   figures / "activation_histograms.png"))
        written.append(save_figure(sparsity_loss_figure(cfg.sparsity_target),
                                   figures / "sparsity_losses.png"))
    if can(run.model, "hash") and can(run.model, "images") and len(run.split("valid")):
        written.append(hash_grid_png(run))
    return written
