"""Autoencoder tools on a run: the codings of a split (and their .npy files), the
reconstructions of given items, the reconstruction figure (or CSV for table runs), and
binary-hash statistics and grid."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import ConfigError


@dataclass
class Codings:
    """codings (N, D) float32 numpy; labels (N,) int numpy or None; the split encoded."""

    codings: object
    labels: object
    split: str


def encode_split(run, split: str = "test") -> Codings:
    """The codings of every item of `run`'s `split` (a model with an encoder)."""
    import torch

    from latentforge.evaluation.capabilities import require

    require(run, "encode", "encode")
    data = run.split(split)
    codings = run.encode(data.batch(torch.arange(len(data)))).numpy()
    return Codings(codings, None if data.y is None else data.y.numpy(), split)


@dataclass
class Reconstruction:
    """reconstructions (N, *sample_shape), codings (N, D) and errors (N,) (the mean
    squared error of each item, in the data range) as float tensors."""

    reconstructions: object
    codings: object
    errors: object


def reconstruct_items(run, x) -> Reconstruction:
    """Reconstructions, codings and per-item mean squared errors of items x (N,
    *sample_shape) in the data range (a model that reconstructs)."""
    from latentforge.evaluation.capabilities import require

    require(run, "reconstruct", "reconstruct")
    out = run.reconstruct(x)
    errors = (out - x).square().flatten(1).mean(1)
    return Reconstruction(out, run.encode(x), errors)


def codings_path(run, split: str, out: str | Path | None = None) -> Path:
    """Where `write_codings` writes (default RUN/codings-SPLIT.npy); must end in .npy."""
    path = Path(out) if out else Path(run.path) / f"codings-{split}.npy"
    if path.suffix != ".npy":
        raise ConfigError(f"--out must end in .npy, got '{path}'")
    return path


def write_codings(codings: Codings, path: str | Path) -> list[Path]:
    """Write the codings to `path` and the labels, if any, beside it (*.labels.npy)."""
    from latentforge.tasks.files import save_npy

    written = [save_npy(Path(path), codings.codings)]
    if codings.labels is not None:
        written.append(save_npy(Path(path).with_suffix(".labels.npy"), codings.labels))
    return written


def reconstruct(run, n: int = 5, split: str = "valid", out: str | Path | None = None) -> Path:
    """Write originals over reconstructions of the first `n` items of `split`: a PNG for
    image runs (default RUN/figures/reconstructions.png), a CSV for table runs (default
    RUN/reconstructions.csv); returns the path."""
    from latentforge.evaluation.capabilities import can, require
    from latentforge.viz.run_figures import reconstruction_csv, reconstruction_pngs

    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    require(run, "reconstruct", "reconstruct")
    images = can(run.model, "images")
    write, suffix = (reconstruction_pngs, ".png") if images else (reconstruction_csv, ".csv")
    if out and Path(out).suffix.lower() != suffix:
        kind = "images" if images else "table rows, written as a CSV"
        raise ConfigError(f"--out must end in {suffix} for this run ({kind}), got '{out}'")
    return write(run, n, split, Path(out) if out else None)


def hash_summary(run, split: str = "valid") -> dict:
    """Statistics of the binary hashes of `split` (`evaluation.hashing.hash_table`)."""
    from latentforge.evaluation.capabilities import require
    from latentforge.evaluation.hashing import hash_table
    from latentforge.viz.run_figures import codings_of

    require(run, "hash", "hashes")
    codes, _, labels = codings_of(run, split)
    return hash_table(codes, labels)


def hash_grid(run, split: str = "valid", top: int = 10, per_hash: int = 6,
              out: str | Path | None = None) -> Path:
    """Write the images sharing the `top` most common hashes (default
    RUN/figures/hash_grid.png); returns the path."""
    from latentforge.viz.run_figures import hash_grid_png

    if top < 1 or per_hash < 1:
        raise ConfigError("--top and --per-hash must be at least 1")
    return hash_grid_png(run, split, top, per_hash, Path(out) if out else None)
