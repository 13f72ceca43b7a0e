"""The interpolation figure of a run: `generation.paths.interpolation_grid`'s decoded
images (lerp / slerp rows, the book's grid, traversals; in z or, for style models, w space)
drawn as one image grid."""
from __future__ import annotations

from pathlib import Path


def interpolation_png(run, method: str = "lerp", steps: int = 8, pairs: int = 4,
                      split: str = "valid", seed: int = 0, out: Path | None = None,
                      space: str = "z") -> Path:
    """Write the figure (default RUN/figures/interpolation_<method>.png, or
    interpolation_<method>_w.png in w space); returns its path. Runs trained on table rows
    are refused (RunError): the figure shows images."""
    from latentforge.evaluation.capabilities import require
    from latentforge.generation.paths import interpolation_grid
    from latentforge.viz.figures import image_grid, png_path, save_figure

    require(run, "images", "interpolate")
    name = f"interpolation_{method}" + ("_w" if space == "w" else "") + ".png"
    path = png_path(out) if out else Path(run.path) / "figures" / name
    images, cols = interpolation_grid(run, method, steps, pairs, split, seed, space)
    return save_figure(image_grid(images.float().cpu().numpy(), n_cols=cols), path)
