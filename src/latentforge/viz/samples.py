"""A fixed-noise sample grid of a generative model after every epoch of training.

The noise comes from a private `torch.Generator` seeded the same way each time, so the
grids of successive epochs show the same latent points (progress is visible), and drawing
them never touches the global RNG that the engine checkpoints (exact resume holds). With
train.ema_decay on, the samples come from the averaged weights (what the run will load).
"""
from __future__ import annotations

from pathlib import Path

from latentforge.generation.sampling import draw_samples
from latentforge.training.callbacks import Callback
from latentforge.viz.figures import image_grid, save_figure

SAMPLES_DIR = "samples"


class SampleGrid(Callback):
    """After every `every`-th epoch, RUN/figures/samples/epoch-NNN.png: `n` fixed-noise
    samples (rows by class for conditional models). run_dir: the run directory."""

    def __init__(self, run_dir: Path, n: int = 40, seed: int = 0, every: int = 1):
        self.folder = Path(run_dir) / "figures" / SAMPLES_DIR
        self.n, self.seed, self.every = n, seed, every

    def on_epoch_end(self, trainer, record: dict) -> None:
        epoch = int(record["epoch"])
        if epoch % self.every:
            return
        with trainer.averaged():
            images = draw_samples(trainer.model, self.n, self.seed).numpy()
        cfg = trainer.model.cfg
        cols = int(cfg.n_classes) if getattr(cfg, "conditional", False) else 10
        save_figure(image_grid(images, n_cols=cols), self.folder / f"epoch-{epoch:03d}.png")
