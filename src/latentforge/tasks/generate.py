"""Generative use of a run: seeded samples (optionally of one class, for conditional
models; truncated in w for style models), their codings and their grid figure, items
decoded from given codings and from a path between two codings, and interpolation images
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
    number). Their codings: `prior_codings(run, n, seed)`."""
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


def prior_codings(run, n: int, seed: int = 0):
    """The codings z (n, coding_dim) float tensor that `generate(run, n, seed)` decodes:
    the first draws of its seeded generator (every generating model draws z ~ N(0, I)
    first, then any noise maps). A sample is `decode_codings` of its z, same label
    (style models: with their fixed noise maps, not the sample's)."""
    import torch

    from latentforge.config import check_seed
    from latentforge.evaluation.capabilities import require

    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    require(run, "generate", "generate")
    check_seed(seed, "The sampling seed")
    return torch.randn(n, run.model.coding_dim, generator=torch.Generator().manual_seed(seed))


def decode_codings(run, codings, label: int | None = None):
    """Items (n, *sample_shape) numpy in the data range decoded from codings (n,
    coding_dim): an autoencoder's decoder, a GAN's generator (`label`: every item's class,
    conditional models only), a style model's synthesis of mapping(z) with fixed noise."""
    import torch

    from latentforge.evaluation.capabilities import can, require
    from latentforge.generation.styles import StyleSpace

    require(run, "decode", "decode")
    codings = torch.as_tensor(codings, dtype=torch.float32)
    dim = int(run.model.coding_dim)
    if codings.dim() != 2 or codings.shape[1] != dim:
        raise ConfigError(f"The codings must be (n, {dim}) numbers (the model's "
                          f"{dim}-D codings), got shape {tuple(codings.shape)}.")
    if not torch.isfinite(codings).all():
        raise ConfigError("The codings must be finite numbers (no NaN or infinity).")
    kwargs = {}
    if label is not None:
        check_label(run, label)
        kwargs["labels"] = label
    run.model.eval()
    with torch.inference_mode():
        if can(run.model, "styles"):
            return StyleSpace(run.model, "z").decode(codings).float().cpu().numpy()
        return run.model.decode(codings, **kwargs).float().cpu().numpy()


def interpolate_codings(run, start, end, steps: int = 8, method: str = "lerp",
                        label: int | None = None):
    """Items (steps, *sample_shape) numpy decoded (`decode_codings`) along the `method`
    path ("lerp" / "slerp", `generation.latent.PATH_METHODS`) from codings `start` to
    `end` (coding_dim,), both ends included."""
    import torch

    from latentforge.generation.latent import PATH_METHODS, interpolate as path

    if method not in PATH_METHODS:
        raise ConfigError(f"Unknown method '{method}'. Available: {', '.join(PATH_METHODS)}")
    if steps < 2:
        raise ConfigError(f"--steps must be >= 2, got {steps}")
    start, end = (torch.as_tensor(c, dtype=torch.float32).reshape(-1) for c in (start, end))
    return decode_codings(run, path(start, end, steps, method), label)


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
