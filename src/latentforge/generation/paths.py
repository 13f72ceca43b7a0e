"""A run's interpolation images (book ch. 17, "Semantic Interpolation"), for any model
with ``decode(z) -> items`` (autoencoders, VAEs, GANs): where the latent points come from,
then `generation.latent`'s decode helpers.

Where the latent points come from:
- models with ``encode`` (autoencoders, VAEs): the codings of real items of a split
  (seeded picks), so a path runs between two real items;
- models with a prior (``generate``: VAEs, GANs): ``grid`` and GAN paths start from
  codings z ~ N(0, I) drawn with a seeded private generator, as the book does.

Methods (`INTERPOLATIONS`): "lerp" / "slerp" (a row per pair of end points), "grid" (the
book's 3x4 grid of codings resized bilinearly to 5x7), "traverse" (one coding, one row per
dimension, that dimension swept over -3..3 in prior units; a plain autoencoder's codings
have no prior scale, so there the sweep spans each dimension's range over the split's
first 2,000 items). torch is imported inside the functions, so the CLI reads
`INTERPOLATIONS` without it.
"""
from __future__ import annotations

from latentforge.errors import ConfigError, RunError

INTERPOLATIONS = ("lerp", "slerp", "grid", "traverse")
BOOK_GRID, BOOK_RESIZED = (3, 4), (5, 7)
MAX_TRAVERSED = 10  # rows of a traversal figure


def _prior_codings(model, n: int, seed: int):
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, model.coding_dim, generator=gen)


def _real_codings(run, n: int, split: str, seed: int):
    import torch

    data = run.split(split)
    if len(data) < n:
        raise RunError(f"Split '{split}' has {len(data)} items; {n} are needed.")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return run.encode(data.batch(idx))


def _codings(run, n: int, split: str, seed: int):
    """n latent points: real items' codings when the model encodes, else prior draws."""
    if "encode" in run.model.capabilities():
        return _real_codings(run, n, split, seed)
    return _prior_codings(run.model, n, seed)


def _sweep(run, codes, split: str, steps: int):
    """(D, steps) values per dimension: -3..3 for models with a prior, else each
    dimension's range over the first 2,000 items of the split."""
    import torch

    if "generate" in run.model.capabilities():
        return torch.linspace(-3, 3, steps).expand(codes.shape[-1], steps)
    data = run.split(split)
    ref = run.encode(data.batch(torch.arange(min(2000, len(data)))))
    low, high = ref.min(0).values, ref.max(0).values
    return torch.stack([torch.linspace(float(a), float(b), steps) for a, b in zip(low, high)])


def check_interpolation(run, method: str, steps: int, pairs: int) -> None:
    """ConfigError / RunError unless `run` can draw `method` with these sizes."""
    if "decode" not in run.model.capabilities():
        raise RunError(f"Model '{run.config.model_name}' has no decoder to interpolate with.")
    if method not in INTERPOLATIONS:
        raise ConfigError(f"Unknown method '{method}'. Available: {', '.join(INTERPOLATIONS)}")
    if steps < 2 or pairs < 1:
        raise ConfigError(f"--steps must be >= 2 and --pairs >= 1, got {steps} and {pairs}")


def interpolation_grid(run, method: str = "lerp", steps: int = 8, pairs: int = 4,
                       split: str = "valid", seed: int = 0):
    """Decoded items (N, *sample_shape) of the figure, row after row, and its number of
    columns: lerp/slerp `pairs` rows of `steps`, grid 5x7, traverse one row per dimension
    (at most 10)."""
    from latentforge.generation.latent import decode_grid, decode_path, decode_traversals

    check_interpolation(run, method, steps, pairs)
    model = run.model
    model.eval()
    if method == "grid":
        rows, cols = BOOK_GRID
        prior = "generate" in model.capabilities()
        codes = (_prior_codings(model, rows * cols, seed) if prior
                 else _codings(run, rows * cols, split, seed))
        images = decode_grid(model, codes.reshape(rows, cols, -1), BOOK_RESIZED)
        return images.flatten(0, 1), BOOK_RESIZED[1]
    if method == "traverse":
        z = _codings(run, 1, split, seed)[0]
        dims = range(min(MAX_TRAVERSED, z.shape[-1]))
        images = decode_traversals(model, z, _sweep(run, z, split, steps), dims)
        return images.flatten(0, 1), steps
    ends = _codings(run, 2 * pairs, split, seed)
    images = decode_path(model, ends[:pairs], ends[pairs:], steps, method)  # (steps, pairs)
    return images.transpose(0, 1).flatten(0, 1), steps
