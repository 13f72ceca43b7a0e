"""Generative use of a run: seeded samples (optionally of one class, for conditional
models; truncated in w for style models) and their grid figure, and interpolation images
(lerp / slerp paths, the book's grid, traversals, in z or w space: `generation.paths`) and
their figure."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import ConfigError

MAX_GRID = 256  # samples drawn in a sample figure (a grid of millions would not fit)


def check_label(run, label: int) -> None:
    """Refuse a label the run's model cannot honour; suggest model.conditional=true only
    to models whose config has that option."""
    from latentforge.evaluation.capabilities import can
    from latentforge.registry import get_spec, names

    cfg = run.model.cfg
    if not can(run.model, "conditional"):
        hint = ("train one with --set model.conditional=true" if _has_option(type(cfg))
                else "models with a model.conditional option: " + ", ".join(
                    n for n in names() if _has_option(get_spec(n).config_cls)))
        raise ConfigError(f"--label needs a conditional model; '{run.path}' is an "
                          f"unconditional {run.config.model_name} ({hint}).")
    if not 0 <= label < int(cfg.n_classes):
        raise ConfigError(f"--label must be in [0, {int(cfg.n_classes) - 1}], got {label}")


def _has_option(config_cls, option: str = "conditional") -> bool:
    import dataclasses

    return dataclasses.is_dataclass(config_cls) and \
        option in {f.name for f in dataclasses.fields(config_cls)}


def generate(run, n: int = 64, seed: int = 0, label: int | None = None,
             truncation: float | None = None):
    """`n` seeded samples (n, *sample_shape) numpy in the data range; `label`: the class
    of every sample (conditional models); `truncation`: the truncation trick's psi (style
    models: w = mean_w + psi (w - mean_w); 1 = none, 0 = the mean-w image; any finite
    number)."""
    import math

    from latentforge.evaluation.capabilities import require
    from latentforge.generation.sampling import draw_samples

    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    require(run, "generate", "generate")
    if label is not None:
        check_label(run, label)
    if truncation is not None:
        if not math.isfinite(truncation):
            raise ConfigError(f"--truncation must be a finite number, got {truncation}")
        require(run, "styles", "generate --truncation")
    return draw_samples(run.model, n, seed, label, truncation=truncation).numpy()


def samples_png(run, images, out: str | Path | None = None, n_cols: int = 8) -> Path:
    """The first `MAX_GRID` samples as a grid of `n_cols` columns (default
    RUN/figures/generated.png); returns the path."""
    from latentforge.evaluation.capabilities import require
    from latentforge.viz.figures import image_grid, save_figure

    require(run, "images", "The sample figure")
    shown = images[:MAX_GRID]
    path = Path(out) if out else Path(run.path) / "figures" / "generated.png"
    return save_figure(image_grid(shown, n_cols=min(n_cols, len(shown))), path)


@dataclass
class Interpolation:
    """images (rows * n_cols, *sample_shape) numpy, row after row; n_cols; the method."""

    images: object
    n_cols: int
    method: str


def interpolate(run, method: str = "lerp", steps: int = 8, pairs: int = 4,
                split: str = "valid", seed: int = 0, space: str = "z") -> Interpolation:
    """Decoded latent paths (`generation.paths.interpolation_grid`): `pairs` rows of
    `steps` (lerp, slerp), the book's 5x7 grid, or a row per dimension (traverse), in
    `space` "z" or "w" (style models)."""
    from latentforge.generation.paths import interpolation_grid

    images, cols = interpolation_grid(run, method, steps, pairs, split, seed, space)
    return Interpolation(images.float().cpu().numpy(), cols, method)


def interpolation_figure(run, method: str = "lerp", steps: int = 8, pairs: int = 4,
                         split: str = "valid", seed: int = 0,
                         out: str | Path | None = None, space: str = "z") -> Path:
    """Write the interpolation figure (default RUN/figures/interpolation_METHOD.png, or
    interpolation_METHOD_w.png in w space)."""
    from latentforge.viz.interpolation import interpolation_png

    return interpolation_png(run, method, steps, pairs, split, seed,
                             Path(out) if out else None, space)
