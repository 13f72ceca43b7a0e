"""Style mixing on a style-based generator (Karras et al. 2019, figure 3): the images of
source A (across the top) and source B (down the side), and for each group of style inputs
(coarse, middle, fine: `generation.styles.style_groups`) a block of rows where B's w is
copied into that group and A's w drives every other style input.

The sources are w = mapping(z) of cols + rows codings z ~ N(0, I) drawn from a generator
seeded with `seed` (the first `cols` are A, the next `rows` B); every image is synthesized
with the same noise maps (`generation.styles.decode_styles`), so images differ only by their
styles. No truncation.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import ConfigError

MAX_SIDE = 16  # rows and columns of the grid


@dataclass
class StyleMix:
    """sources_a (cols, *shape), sources_b (rows, *shape), groups (StyleGroup list),
    mixed (groups, rows, cols, *shape): numpy in [0, 1]; w_a (cols, w_dim), w_b (rows,
    w_dim) the sources' styles."""

    sources_a: object
    sources_b: object
    groups: list
    mixed: object
    w_a: object
    w_b: object


def style_mix(run, rows: int = 3, cols: int = 5, seed: int = 0) -> StyleMix:
    """The style-mixing grid of `run`'s style model (module docstring)."""
    import torch

    from latentforge.config import check_seed
    from latentforge.evaluation.capabilities import require
    from latentforge.generation.styles import (decode_styles, mix_styles, prior_w,
                                               style_groups)

    require(run, "styles", "style-mix")
    if not (1 <= rows <= MAX_SIDE and 1 <= cols <= MAX_SIDE):
        raise ConfigError(f"--rows and --cols must be in [1, {MAX_SIDE}], got {rows} and "
                          f"{cols}")
    check_seed(seed, "--seed")
    model = run.model
    model.eval()
    w = prior_w(model, cols + rows, seed)
    w_a, w_b = w[:cols], w[cols:]
    groups = style_groups(model.style_resolutions)
    mixed = torch.stack([torch.stack([
        decode_styles(model, mix_styles(w_a, w_b[b].expand(cols, -1), g.layers,
                                        model.n_styles)) for b in range(rows)])
        for g in groups])
    return StyleMix(decode_styles(model, w_a).numpy(), decode_styles(model, w_b).numpy(),
                    groups, mixed.numpy(), w_a.numpy(), w_b.numpy())


def style_mix_png(result: StyleMix, out: str | Path) -> Path:
    """Write the figure (`viz.style_mix.style_mix_figure`) to `out` (.png)."""
    from latentforge.viz.figures import png_path, save_figure
    from latentforge.viz.style_mix import style_mix_figure

    path = png_path(out)
    labels = [f"{g.label} from B" for g in result.groups]
    return save_figure(style_mix_figure(result.sources_a, result.sources_b, result.mixed,
                                        labels), path)
