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
first 2,000 items).

Spaces (`generation.styles.SPACES`): "z" (the default: codings, or a generator's input)
and "w" (models with a style space, stylegan: the end points are w = mapping(z) of seeded
prior codings, the traverse sweeps each w dimension over its range among 2,000 mapped
prior codings). A style model decodes with the same noise maps for every image, in both
spaces (`generation.styles.StyleSpace`). torch is imported inside the functions, so the
CLI reads `INTERPOLATIONS` without it.
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


def check_interpolation(run, method: str, steps: int, pairs: int, space: str = "z") -> None:
    """ConfigError / RunError unless `run` can draw `method` with these sizes in `space`."""
    from latentforge.generation.styles import SPACES

    if "decode" not in run.model.capabilities():
        raise RunError(f"Model '{run.config.model_name}' has no decoder to interpolate with.")
    if space not in SPACES:
        raise ConfigError(f"Unknown space '{space}'. Available: {', '.join(SPACES)}")
    if space == "w" and "styles" not in run.model.capabilities():
        raise ConfigError(f"--space w needs a model with a style space (stylegan); "
                          f"'{run.path}' holds a {run.config.model_name} (use --space z).")
    if method not in INTERPOLATIONS:
        raise ConfigError(f"Unknown method '{method}'. Available: {', '.join(INTERPOLATIONS)}")
    if steps < 2 or pairs < 1:
        raise ConfigError(f"--steps must be >= 2 and --pairs >= 1, got {steps} and {pairs}")


def _w_sweep(run, steps: int, seed: int):
    """(w_dim, steps) values per w dimension: its range over 2,000 mapped prior codings."""
    import torch

    from latentforge.generation.styles import prior_w

    ref = prior_w(run.model, 2000, seed)
    low, high = ref.min(0).values, ref.max(0).values
    return torch.stack([torch.linspace(float(a), float(b), steps) for a, b in zip(low, high)])


def _space(run, space: str, seed: int):
    """What decodes the points and how to draw n of them: the model itself and
    `_codings`, or for a style model a `StyleSpace` (z or w) and prior z or w."""
    from latentforge.generation.styles import StyleSpace, prior_w

    model = run.model
    if "styles" not in model.capabilities():
        return model, lambda n, split: _codings(run, n, split, seed)
    if space == "w":
        return StyleSpace(model, "w"), lambda n, split: prior_w(model, n, seed)
    return StyleSpace(model, "z"), lambda n, split: _prior_codings(model, n, seed)


def interpolation_grid(run, method: str = "lerp", steps: int = 8, pairs: int = 4,
                       split: str = "valid", seed: int = 0, space: str = "z"):
    """Decoded items (N, *sample_shape) of the figure, row after row, and its number of
    columns: lerp/slerp `pairs` rows of `steps`, grid 5x7, traverse one row per dimension
    (at most 10); in the latent `space` "z" or "w" (module docstring)."""
    from latentforge.generation.latent import decode_grid, decode_path, decode_traversals

    check_interpolation(run, method, steps, pairs, space)
    run.model.eval()
    model, draw = _space(run, space, seed)
    if method == "grid":
        rows, cols = BOOK_GRID
        prior = "generate" in run.model.capabilities() and space == "z"
        codes = (_prior_codings(run.model, rows * cols, seed) if prior
                 else draw(rows * cols, split))
        images = decode_grid(model, codes.reshape(rows, cols, -1), BOOK_RESIZED)
        return images.flatten(0, 1), BOOK_RESIZED[1]
    if method == "traverse":
        z = draw(1, split)[0]
        dims = range(min(MAX_TRAVERSED, z.shape[-1]))
        sweep = _w_sweep(run, steps, seed) if space == "w" else _sweep(run, z, split, steps)
        images = decode_traversals(model, z, sweep, dims)
        return images.flatten(0, 1), steps
    ends = draw(2 * pairs, split)
    images = decode_path(model, ends[:pairs], ends[pairs:], steps, method)  # (steps, pairs)
    return images.transpose(0, 1).flatten(0, 1), steps
