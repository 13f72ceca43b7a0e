"""The one training engine: epochs, batching, device, seeds, logging, checkpoints, resume.

It never looks at the model's type: it calls `configure_optimizers`, `train_step` and
`eval_step`. Data stay in memory as tensors (uint8 images) on the training device; each
epoch draws a `torch.randperm` and slices it into batches (no per-sample DataLoader).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from latentforge import rundir
from latentforge.errors import TrainingDiverged
from latentforge.modes import evaluating
from latentforge.training import checkpoint
from latentforge.training.device import resolve_device
from latentforge.training.step import Stepper

log = logging.getLogger(__name__)
METRICS = rundir.METRICS
NAN_CHECK_EVERY = 200  # steps between finiteness checks (each check syncs the device)


class Callback:
    """Hook into training; override what you need. `record` is the epoch's metrics line."""

    def on_epoch_end(self, trainer: "Trainer", record: dict) -> None:
        pass

    def on_fit_end(self, trainer: "Trainer") -> None:
        pass


@dataclass
class FitResult:
    run_dir: Path
    history: list[dict] = field(default_factory=list)
    resumed_from_epoch: int = 0


class Trainer:
    """Train `model` on `splits` as `cfg.train` says, writing into `run_dir`."""

    def __init__(self, model, splits, cfg, run_dir: Path, callbacks=()):
        self.model, self.splits, self.cfg = model, splits, cfg
        self.run_dir = Path(run_dir)
        self.callbacks = list(callbacks)
        cfg.train.validate()
        self.device = resolve_device(cfg.train.device)
        self.generator = torch.Generator().manual_seed(cfg.train.seed)
        self.optimizers = model.configure_optimizers(cfg.train)
        self.stepper = Stepper(self.optimizers)

    def fit(self, resume: bool = False) -> FitResult:
        """Train until cfg.train.epochs. resume: continue from the run's newest checkpoint
        (from the start when it has none yet); the config is then rewritten with the first
        checkpoint of this fit, so a change that fails or diverges is never saved."""
        tc = self.cfg.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        self.model.to(self.device)
        state = checkpoint.TrainerState(0, 0)
        if resume:
            state = checkpoint.load_checkpoint(self.run_dir, self.model, self.optimizers,
                                               self.generator) or state
            log.info("resuming %s after epoch %d", self.run_dir, state.epoch)
        history = rundir.read_history(self.run_dir, upto=state.epoch) if resume else []
        train = _to_device(self.splits.train, self.device)
        valid = _to_device(self.splits.valid, self.device)
        result = FitResult(self.run_dir, history, state.epoch)
        for epoch in range(state.epoch, tc.epochs):
            start = time.perf_counter()
            record = {"epoch": epoch + 1}
            record.update(self._train_epoch(train, epoch))
            record.update({f"val_{k}": v for k, v in self.evaluate(valid).items()})
            state = checkpoint.TrainerState(epoch + 1, state.step + self.steps_per_epoch(train))
            record["step"], record["time_s"] = state.step, round(time.perf_counter() - start, 3)
            self._check_finite(record, epoch)
            history.append(record)
            rundir.write_history(self.run_dir, history)
            if resume and epoch == result.resumed_from_epoch:
                self.cfg.save(self.run_dir / rundir.CONFIG)
            checkpoint.save_checkpoint(self.run_dir, self.model, self.optimizers,
                                       self.generator, state)
            log.info("epoch %d: %s", epoch + 1, _fmt(record))
            for cb in self.callbacks:
                cb.on_epoch_end(self, record)
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return result

    def steps_per_epoch(self, data) -> int:
        """Batches per epoch; the last one may be smaller (as in Keras)."""
        return math.ceil(len(data) / self.cfg.train.batch_size)

    def _train_epoch(self, data, epoch: int) -> dict:
        """One pass over `data` in shuffled batches; returns batch-mean train losses."""
        self.model.train()
        n, bs = len(data), self.cfg.train.batch_size
        perm = torch.randperm(n, generator=self.generator).to(self.device)
        steps = self.steps_per_epoch(data)
        sums: dict[str, list] = {}
        bar = _progress(steps, epoch, self.cfg.train)
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            y = data.y.index_select(0, idx) if data.y is not None else None
            out = self.model.train_step(data.batch(idx), y, self.stepper)
            for k, v in out.items():
                sums.setdefault(k, []).append(v)
            if (i + 1) % NAN_CHECK_EVERY == 0:
                self._check_step(sums["loss"][-NAN_CHECK_EVERY:], epoch, i)
            if bar is not None:
                bar.update(1)
        means = {k: torch.stack(v).float().mean().item() for k, v in sums.items()}
        if bar is not None:
            bar.set_postfix(loss=f"{means['loss']:.4f}")
            bar.close()
        return means

    @torch.inference_mode()
    def evaluate(self, data) -> dict[str, float]:
        """Metrics of `eval_step` averaged over `data` (weighted by batch size)."""
        return evaluate_model(self.model, data, self.cfg.train.eval_batch_size)

    def _check_step(self, losses: list, epoch: int, step: int) -> None:
        if not bool(torch.isfinite(torch.stack(losses)).all()):
            self._diverged(epoch, f"step {step + 1}")

    def _check_finite(self, record: dict, epoch: int) -> None:
        if not all(math.isfinite(v) for v in record.values() if isinstance(v, float)):
            self._diverged(epoch, "the end of the epoch")

    def _diverged(self, epoch: int, where: str):
        kept = checkpoint.latest_checkpoint(self.run_dir)
        keep = (f"the checkpoint after epoch {epoch} is kept" if kept else
                "no checkpoint was written")
        raise TrainingDiverged(
            f"Training diverged (loss is NaN or infinite) in epoch {epoch + 1} at {where}; "
            f"{keep} in '{self.run_dir}'. Lower train.lr (now {self.cfg.train.lr}) and "
            "train again.")


@torch.inference_mode()
def evaluate_model(model, data, batch_size: int = 2000) -> dict[str, float]:
    """Average `model.eval_step` over `data` (a TensorData) in eval mode; {} when empty."""
    if data is None or len(data) == 0:
        return {}
    device = next(model.parameters()).device
    totals: dict[str, torch.Tensor] = {}
    with evaluating(model):
        for start in range(0, len(data), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(data)), device=data.x.device)
            y = data.y[idx].to(device) if data.y is not None else None
            out = model.eval_step(data.batch(idx).to(device), y)
            for k, v in out.items():
                totals[k] = totals.get(k, 0.0) + v.double() * len(idx)
    return {k: float(v) / len(data) for k, v in totals.items()}


def _to_device(data, device):
    if data is None or device.type == "cpu":
        return data
    return replace(data, x=data.x.to(device), y=None if data.y is None else data.y.to(device))


def _progress(steps: int, epoch: int, tc):
    if not tc.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=steps, desc=f"epoch {epoch + 1}/{tc.epochs}", leave=False,
                mininterval=0.5, disable=None)


def _fmt(record: dict) -> str:
    return " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in record.items())
