"""The book's exercise 9 figure for autoencoders: for each coding unit, the items that
activate it most.

Any model that encodes (dense and conv autoencoders; VAEs use the posterior mean): `n`
seeded items of a split (train by default, as the exercise asks) are encoded; the units
shown are the `units` codings dimensions with the largest variance over those items (so
dead units of a sparse code are skipped; ties go to the lower index), and for each the
`per_unit` items with the largest activation, largest first.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import ConfigError


@dataclass
class TopActivations:
    """units (K,) unit indices, most variable first; indices (K, M) item indices into the
    split; values (K, M) their activations, largest first; images (K, M, *shape) numpy;
    split; n_items encoded."""

    units: object
    indices: object
    values: object
    images: object
    split: str
    n_items: int


def top_activations(run, units: int = 10, per_unit: int = 8, split: str = "train",
                    n: int | None = 10000, seed: int = 0) -> TopActivations:
    """The `per_unit` items of `split` (a seeded sample of `n`; None: all) that activate
    each of the `units` most variable coding units most (module docstring)."""
    from latentforge.config import check_seed
    from latentforge.evaluation.capabilities import require

    require(run, "encode", "top-activations")
    require(run, "images", "top-activations")
    _check_sizes(units, per_unit, n)
    check_seed(seed, "--seed")
    data = run.split(split)
    idx = data.sample_indices(n, seed)
    if len(idx) < per_unit:
        raise ConfigError(f"--per-unit {per_unit} is more than the {len(idx)} items encoded")
    codes = run.encode(data.batch(idx)).flatten(1)
    chosen = most_variable_units(codes, units)
    values, rows = codes[:, chosen].topk(per_unit, dim=0)  # (M, K), largest first
    picked = idx[rows.T]  # (K, M) split indices
    images = data.batch(picked.reshape(-1)).reshape(*picked.shape, *data.sample_shape)
    return TopActivations(chosen.numpy(), picked.numpy(), values.T.numpy(), images.numpy(),
                          split, len(idx))


def most_variable_units(codes, k: int):
    """The indices of the k columns of codes (N, D) with the largest variance, largest
    first (a stable sort: ties go to the lower index); all D when k > D."""
    import torch

    variance = codes.var(0, unbiased=False) if len(codes) > 1 else torch.zeros(codes.shape[1])
    return torch.sort(variance, descending=True, stable=True).indices[:k]


def _check_sizes(units: int, per_unit: int, n: int | None) -> None:
    if units < 1 or per_unit < 1:
        raise ConfigError(f"--units and --per-unit must be at least 1, got {units} and "
                          f"{per_unit}")
    if n is not None and n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")


def top_activations_png(result: TopActivations, out: str | Path) -> Path:
    """Write the figure (`viz.top_activations.top_activations_figure`) to `out` (.png)."""
    from latentforge.viz.figures import png_path, save_figure
    from latentforge.viz.top_activations import top_activations_figure

    path = png_path(out)
    title = (f"the {result.images.shape[1]} {result.split} items (of {result.n_items:,}) "
             "that activate each unit most")
    return save_figure(top_activations_figure(result.images, result.units, result.values,
                                              title), path)
