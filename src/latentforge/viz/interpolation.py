"""Interpolation figures of a run (book ch. 17, "Semantic Interpolation"), for any model
with ``decode(z) -> images`` (autoencoders, VAEs, GANs).

Where the latent points come from:
- models with ``encode`` (autoencoders, VAEs): the codings of real images of a split
  (seeded picks), so a path runs between two real images;
- models with a prior (``generate``: VAEs, GANs): ``grid`` and GAN paths start from
  codings z ~ N(0, I) drawn with a seeded private generator, as the book does.

Methods: "lerp" / "slerp" (a row per pair of end points), "grid" (the book's 3x4 grid of
codings resized bilinearly to 5x7), "traverse" (one coding, one row per dimension, that
dimension swept over -3..3 in prior units; a plain autoencoder's codings have no prior
scale, so there the sweep spans each dimension's range over the split's first 2,000 items).
"""
from __future__ import annotations

from pathlib import Path

import torch

from latentforge.errors import ConfigError, RunError
from latentforge.generation.latent import grid_interpolation, interpolate, traversal
from latentforge.viz.figures import image_grid, save_figure

METHODS = ("lerp", "slerp", "grid", "traverse")
BOOK_GRID, BOOK_RESIZED = (3, 4), (5, 7)
MAX_TRAVERSED = 10  # rows of a traversal figure


def _prior_codings(model, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, model.coding_dim, generator=gen)


def _real_codings(run, n: int, split: str, seed: int) -> torch.Tensor:
    data = run.split(split)
    if len(data) < n:
        raise RunError(f"Split '{split}' has {len(data)} items; {n} are needed.")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return run.encode(data.batch(idx))


def _codings(run, n: int, split: str, seed: int) -> torch.Tensor:
    """n latent points: real images' codings when the model encodes, else prior draws."""
    if "encode" in run.model.capabilities():
        return _real_codings(run, n, split, seed)
    return _prior_codings(run.model, n, seed)


def _sweep(run, codes: torch.Tensor, split: str, steps: int) -> torch.Tensor:
    """(D, steps) values per dimension: -3..3 for models with a prior, else each
    dimension's range over the first 2,000 items of the split."""
    if "generate" in run.model.capabilities():
        return torch.linspace(-3, 3, steps).expand(codes.shape[-1], steps)
    data = run.split(split)
    ref = run.encode(data.batch(torch.arange(min(2000, len(data)))))
    low, high = ref.min(0).values, ref.max(0).values
    return torch.stack([torch.linspace(float(a), float(b), steps) for a, b in zip(low, high)])


@torch.no_grad()
def interpolation_grid(run, method: str = "lerp", steps: int = 8, pairs: int = 4,
                       split: str = "valid", seed: int = 0) -> tuple[torch.Tensor, int]:
    """Decoded images (N, *sample_shape) of the figure, and its number of columns."""
    model = run.model
    if "decode" not in model.capabilities():
        raise RunError(f"Model '{run.config.model_name}' has no decoder to interpolate with.")
    if method not in METHODS:
        raise ConfigError(f"Unknown method '{method}'. Available: {', '.join(METHODS)}")
    if steps < 2 or pairs < 1:
        raise ConfigError(f"--steps must be >= 2 and --pairs >= 1, got {steps} and {pairs}")
    model.eval()
    if method == "grid":
        rows, cols = BOOK_GRID
        prior = "generate" in model.capabilities()
        codes = (_prior_codings(model, rows * cols, seed) if prior
                 else _codings(run, rows * cols, split, seed))
        grid = grid_interpolation(codes.reshape(rows, cols, -1), BOOK_RESIZED)
        return model.decode(grid.reshape(-1, grid.shape[-1])), BOOK_RESIZED[1]
    if method == "traverse":
        z = _codings(run, 1, split, seed)[0]
        values = _sweep(run, z, split, steps)
        dims = range(min(MAX_TRAVERSED, z.shape[-1]))
        codes = torch.cat([traversal(z, d, values[d]) for d in dims])
        return model.decode(codes), steps
    ends = _codings(run, 2 * pairs, split, seed)
    path = interpolate(ends[:pairs], ends[pairs:], steps, method)  # (steps, pairs, D)
    codes = path.transpose(0, 1).reshape(-1, path.shape[-1])
    return model.decode(codes), steps


def interpolation_png(run, method: str = "lerp", steps: int = 8, pairs: int = 4,
                      split: str = "valid", seed: int = 0, out: Path | None = None) -> Path:
    """Write the figure (default RUN/figures/interpolation_<method>.png); returns its path.
    Runs trained on table rows are refused (RunError): the figure shows images."""
    from latentforge.evaluation.capabilities import require

    require(run, "images", "interpolate")
    path = Path(out) if out else Path(run.path) / "figures" / f"interpolation_{method}.png"
    if path.suffix.lower() != ".png":
        raise ConfigError(f"--out must end in .png, got '{path}'")
    images, cols = interpolation_grid(run, method, steps, pairs, split, seed)
    return save_figure(image_grid(images.float().cpu().numpy(), n_cols=cols), path)
