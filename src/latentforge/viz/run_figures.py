"""The standard figures of a run, written into ``<run>/figures/``."""
from __future__ import annotations

from pathlib import Path

import torch

from latentforge.viz.figures import learning_curves, reconstruction_figure, save_figure


def reconstruction_pngs(run, n: int = 5, split: str = "valid", out: Path | None = None) -> Path:
    """Originals over reconstructions of the first `n` items of `split` (book figure 17-4)."""
    data = run.split(split)
    n = min(n, len(data))
    x = data.batch(torch.arange(n))
    recon = run.reconstruct(x).numpy()
    return save_figure(reconstruction_figure(x.numpy(), recon),
                       out or Path(run.path) / "figures" / "reconstructions.png")


def write_figures(run) -> list[Path]:
    """Learning curves, plus reconstructions for image autoencoders."""
    written = []
    if run.history:
        written.append(save_figure(learning_curves(run.history),
                                   Path(run.path) / "figures" / "learning_curves.png"))
    if hasattr(run.model, "reconstruct") and len(run.model.sample_shape) == 3:
        written.append(reconstruction_pngs(run))
    return written
