"""Training callbacks: the hooks of the engine, and the two that persist a run directory.

The engine (training/engine.py) writes no file itself. A `Trainer` given a run directory
puts `run_directory_callbacks(run_dir, cfg)` first: `RunLog` (metrics.jsonl every epoch;
config.json rewritten with the first epoch a resumed fit trains, so a change that fails or
diverges is never saved) and `Checkpointer` (a crash-safe checkpoint every epoch, restored
on resume). Their order within an epoch is the rule readers rely on: the metrics line is
written before the checkpoint that covers it (`rundir.read_history` trusts the checkpoint).
Other callbacks: TensorBoard (training/tensorboard.py), the sample grid (viz/samples.py).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from latentforge import rundir
from latentforge.training import checkpoint

log = logging.getLogger(__name__)


class Callback:
    """Hook into training; override what you need.

    on_fit_start: before the first epoch; `resume` asks to continue a saved run.
    on_batch_end: after every engine step; `step` counts the steps done (1, 2, ...),
        `losses` are the model's detached batch losses (tensors, not synced to the CPU).
    on_epoch_end: `record` is the epoch's metrics line (also in `trainer.history`).
    on_fit_end: after the last epoch (not after an error).
    on_diverged: a note on what this callback kept, for the divergence error, or None.
    """

    def on_fit_start(self, trainer, resume: bool) -> None:
        pass

    def on_batch_end(self, trainer, step: int, losses: dict) -> None:
        pass

    def on_epoch_end(self, trainer, record: dict) -> None:
        pass

    def on_fit_end(self, trainer) -> None:
        pass

    def on_diverged(self, trainer, epoch: int) -> str | None:
        return None


class RunLog(Callback):
    """RUN/metrics.jsonl, rewritten atomically every epoch; on resume the history the
    newest checkpoint covers is read back first, and `cfg` is saved as RUN/config.json
    with the first epoch trained."""

    def __init__(self, run_dir: Path, cfg):
        self.run_dir, self.cfg = Path(run_dir), cfg
        self.config_pending = False

    def on_fit_start(self, trainer, resume: bool) -> None:
        self.config_pending = resume
        if resume:
            upto = rundir.checkpoint_epoch(self.run_dir)
            trainer.history = rundir.read_history(self.run_dir, upto=upto)

    def on_epoch_end(self, trainer, record: dict) -> None:
        if not trainer.world.is_main:  # several processes: rank 0 writes
            return
        rundir.write_history(self.run_dir, trainer.history)
        if self.config_pending:
            self.cfg.save(self.run_dir / rundir.CONFIG)
            self.config_pending = False


class Checkpointer(Callback):
    """A checkpoint after every epoch (training/checkpoint.py); on resume, the newest one
    restores the model, optimizers, RNG states, schedule, average and gradient scaler.
    Several processes (training/distributed.py): every rank restores from it (its own RNG
    state); rank 0 writes it, with every rank's RNG state gathered."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)

    def on_fit_start(self, trainer, resume: bool) -> None:
        if not resume:
            return
        step = trainer.stepper
        state = checkpoint.load_checkpoint(self.run_dir, trainer.model, trainer.optimizers,
                                           trainer.generator, step.schedule, step.ema,
                                           trainer.world.rank, step.precision)
        if state is not None:
            trainer.state = state
        log.info("resuming %s after epoch %d", self.run_dir, trainer.state.epoch)

    def on_epoch_end(self, trainer, record: dict) -> None:
        from latentforge.training.distributed import gather_states

        states = gather_states(torch.get_rng_state(), trainer.world)  # every rank takes part
        if not trainer.world.is_main:
            return
        step = trainer.stepper
        checkpoint.save_checkpoint(self.run_dir, trainer.model, trainer.optimizers,
                                   trainer.generator, trainer.state, step.schedule, step.ema,
                                   states[1:], step.precision)

    def on_diverged(self, trainer, epoch: int) -> str:
        kept = checkpoint.latest_checkpoint(self.run_dir)
        keep = (f"the checkpoint after epoch {epoch} is kept" if kept else
                "no checkpoint was written")
        return f"{keep} in '{self.run_dir}'"


def run_directory_callbacks(run_dir: Path, cfg) -> list[Callback]:
    """What a run directory needs, in this order: the metrics log, then the checkpoint."""
    return [RunLog(run_dir, cfg), Checkpointer(run_dir)]
