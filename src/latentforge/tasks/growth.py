"""The growth figure of a progan run: G's samples of the same fixed codings at the end of
every growth phase (kept in the weights during training), then at the end of training."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from latentforge.errors import ConfigError, RunError


def growth_rows(run, n: int | None = None) -> list[tuple[str, np.ndarray]]:
    """(label, images (n, C, R, R) in [0, 1]) for every finished growth phase, lowest
    resolution first, then the run's G now. n None: 8, or model.growth_samples if fewer.
    RunError for a model that does not grow; ConfigError for an `n` outside
    [1, model.growth_samples]."""
    from latentforge.evaluation.capabilities import can, models_that

    model = run.model
    if not can(model, "grow"):
        raise RunError(f"growth needs a progressively grown GAN; '{run.path}' holds a "
                       f"{run.config.model_name}. Models that grow: {models_that('grow')}.")
    kept = model.cfg.growth_samples
    if not kept:
        raise ConfigError(f"'{run.path}' kept no growth images (model.growth_samples=0).")
    n = min(8, kept) if n is None else n
    if not 1 <= n <= kept:
        raise ConfigError(f"--n must be in [1, {kept}] (the run kept model.growth_samples="
                          f"{kept} images per phase), got {n}")
    rows = [(f"{r}x{r}\n{seen:,} images", images[:n].cpu().numpy())
            for r, seen, images in model.growth_snapshots()]
    return rows + [(_now_label(model), model.render_level()[:n].cpu().numpy())]


def _now_label(model) -> str:
    level, alpha = model.growth()
    r = model.resolution(level)
    fading = f", fading in {alpha:.2f}" if alpha < 1 else ""
    return f"end: {r}x{r}{fading}\n{int(model.images_seen):,} images"


def growth_png(run, n: int | None = None, out: str | Path | None = None) -> Path:
    """Write the growth figure (default RUN/figures/growth.png); returns the path."""
    from latentforge.viz.figures import png_path, save_figure
    from latentforge.viz.growth import growth_figure

    path = png_path(out) if out else Path(run.path) / "figures" / "growth.png"
    return save_figure(growth_figure(growth_rows(run, n)), path)
