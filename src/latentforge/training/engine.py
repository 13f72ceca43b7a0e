"""The one training engine: epochs, batching, device, seeds, the step options, callbacks.

It never looks at the model's type: it calls `configure_optimizers`, `train_step` and
`eval_step`, and updates weights only through the `Stepper` (training/step.py). Data stay
in memory as tensors (uint8 images) on the training device; each epoch draws a
`torch.randperm` and slices it into batches (no per-sample DataLoader). A streaming folder
split (data.streaming) gets the same index batches, each rank only its slice, decoded by
data.workers DataLoader processes while the model trains (`batches`).

Three optional model hooks (`models.base.Model` has the defaults):
- `model.batch_size(train.batch_size)` is asked at the start of every epoch and gives that
  epoch's batch size (default: train.batch_size; progan answers its growth phase's size).
  A phase that changes mid-epoch takes its new batch size at the next epoch. The epoch's
  step count (`state.step`, metrics' "step") counts the batches really taken; a cosine
  schedule's length T is train.epochs times the step count the model answers when the
  Trainer is made (before any checkpoint is restored, so a resumed run gets the same T).
- `model.ema_parameters()` names the parameters train.ema_decay averages (default: all;
  a GAN's: its generator's).
- `model.compile_networks(backend)` compiles what train.compile compiles, for `fit`
  (training/compiling.py; default: every network the model holds).
  train.drop_last leaves out each epoch's last, smaller batch.

Mixed precision (train.precision, training/precision.py): each `train_step` runs under the
run's autocast, and the `Stepper` scales the losses under 16-mixed (the checkpoint keeps
the scaler's state, as it keeps the schedule's and the average's). Validation runs in
float32, outside autocast: the weights are float32 whatever the precision, so val_loss is
the number `evaluate` and `load_run` report for the saved weights, and runs in different
precisions are compared on the same measure.

The engine writes no file: given a run directory, the `Trainer` puts the callbacks that
persist it first (training/callbacks.py: metrics.jsonl, config.json on resume,
checkpoints); without one it trains in memory.
"""
from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from latentforge.data.streaming import StreamingData
from latentforge.errors import ConfigError, TrainingDiverged
from latentforge.models.base import evaluating
from latentforge.training import distributed as dist
from latentforge.training.callbacks import Callback, run_directory_callbacks
from latentforge.training.checkpoint import TrainerState
from latentforge.training.compiling import check_backend, compiled, eager
from latentforge.training.device import resolve_device
from latentforge.training.distributed import World
from latentforge.training.ema import EMA
from latentforge.training.precision import Precision
from latentforge.training.schedules import Schedule
from latentforge.training.step import Stepper

log = logging.getLogger(__name__)
NAN_CHECK_EVERY = 200  # steps between finiteness checks (each check syncs the device)
__all__ = ["Callback", "FitResult", "Trainer", "evaluate_model"]


@dataclass
class FitResult:
    """What `Trainer.fit` returns: the metrics line of every epoch (resumed ones too)."""

    history: list[dict] = field(default_factory=list)


class Trainer:
    """Train `model` on `splits` as `cfg.train` says.

    run_dir: the run directory to write (metrics, config on resume, checkpoints), or None
        to train in memory (no file is written).
    callbacks: run after the run directory's own, in order (training/callbacks.py).
    generator: the shuffling RNG (default: a new one seeded with cfg.train.seed); a caller
        that trains in phases passes one to continue its stream.
    world: this process's place among torchrun's processes (default: read from the
        environment; one process changes nothing): training/distributed.py says what the
        engine does with several.
    After `fit` the model holds the weights users load: the averaged ones when
    train.ema_decay is on.
    """

    def __init__(self, model, splits, cfg, run_dir: Path | None = None, callbacks=(),
                 generator: torch.Generator | None = None, world: World | None = None):
        tc = cfg.train
        tc.validate()
        self.model, self.splits, self.cfg = model, splits, cfg
        self.world = World.from_env() if world is None else world
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.callbacks = [*(run_directory_callbacks(self.run_dir, cfg) if self.run_dir
                            else ()), *callbacks]
        dist.check_batch(self.batch_size(), self.world)
        self.device = dist.setup(self.world, resolve_device(tc.device, tc.precision))
        self.precision = Precision(tc.precision, self.device)
        model.to(self.device)
        if self.world.distributed:  # rank 0's weights everywhere; each rank its own noise
            dist.broadcast(model)
            dist.seed_rank(tc.seed, self.world)
        if tc.compile:
            check_backend(tc.compile_backend, self.device)
        self.generator = generator or torch.Generator().manual_seed(tc.seed)
        self.optimizers = model.configure_optimizers(tc)
        total = tc.epochs * self.steps_per_epoch(splits.train)
        ema = (None if tc.ema_decay is None
               else EMA(model, tc.ema_decay, model.ema_parameters(), tc.ema_warmup))
        self.stepper = Stepper(self.optimizers, tc.clip_norm,
                               Schedule.from_config(self.optimizers, tc, total), ema,
                               self.precision, self.world)
        self.state = TrainerState(0, 0)
        self.history: list[dict] = []
        self.stop_requested = False

    def fit(self, resume: bool = False) -> FitResult:
        """Train until cfg.train.epochs (or until a callback calls `stop`). resume: the
        callbacks restore the run's newest checkpoint and history (from the start when it
        has none yet)."""
        tc = self.cfg.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        self.history, self.stop_requested = [], False
        for cb in self.callbacks:
            cb.on_fit_start(self, resume)
        train = _to_device(self.splits.train, self.device)
        valid = _to_device(self.splits.valid, self.device)
        with (compiled(self.model, tc.compile_backend, self.device) if tc.compile
              else nullcontext()):
            for epoch in range(self.state.epoch, tc.epochs):
                if self.stop_requested:
                    break
                self.history.append(self.run_epoch(train, valid, epoch))
                with self._eager():
                    for cb in self.callbacks:
                        cb.on_epoch_end(self, self.history[-1])
                log.info("epoch %d: %s", epoch + 1, _fmt(self.history[-1]))
        if self.stepper.ema is not None:
            self.stepper.ema.copy_to_model()
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return FitResult(self.history)

    def run_epoch(self, train, valid, epoch: int) -> dict:
        """Train one epoch, validate, advance `state`; returns the epoch's metrics line.
        TrainingDiverged when a loss or metric is NaN or infinite."""
        start = time.perf_counter()
        steps = self.steps_per_epoch(train)  # asked before the epoch changes the model
        record = {"epoch": epoch + 1}
        record.update(self.train_epoch(train, epoch))
        record.update({f"val_{k}": v for k, v in self.evaluate(valid).items()})
        self.state = TrainerState(epoch + 1, self.state.step + steps)
        record["step"], record["time_s"] = self.state.step, round(time.perf_counter() - start, 3)
        self._check_finite(record, epoch)
        return record

    def stop(self) -> None:
        """End `fit` after the current epoch (its callbacks still run)."""
        self.stop_requested = True

    def wait_for_all(self) -> None:
        """Return once every process of the world got here (one process: at once)."""
        dist.barrier(self.world)

    def batch_size(self) -> int:
        """The next epoch's (global) batch size: the model's answer to
        `batch_size(train.batch_size)` (train.batch_size unless the model has per-phase
        sizes)."""
        return int(self.model.batch_size(self.cfg.train.batch_size))

    def steps_per_epoch(self, data) -> int:
        """Batches of the next epoch (at `batch_size()`); the last one may be smaller (as
        in Keras), or is left out with train.drop_last (ConfigError when that leaves
        none)."""
        return self._steps(len(data), self.batch_size())

    def _steps(self, n: int, bs: int) -> int:
        if not self.cfg.train.drop_last:
            return math.ceil(n / bs)
        if n < bs:
            raise ConfigError(f"train.drop_last leaves no batch to train on: the {n} "
                              f"training items are fewer than the batch size {bs}; lower "
                              "train.batch_size or set train.drop_last=false.")
        return n // bs

    def train_epoch(self, data, epoch: int) -> dict:
        """One pass over `data` (a TensorData on the device) in shuffled batches of
        `batch_size()`; returns batch-mean train losses. Does not advance `state` (see
        `run_epoch`)."""
        self.model.train()
        n, bs = len(data), self.batch_size()
        dist.check_batch(bs, self.world, "this epoch's batch size")
        perm = torch.randperm(n, generator=self.generator).to(self.device)
        steps, done = self._steps(n, bs), self.state.step
        hooks = [cb for cb in self.callbacks
                 if type(cb).on_batch_end is not Callback.on_batch_end]
        sums: dict[str, list] = {}
        bar = _progress(steps, epoch, self.cfg.train) if self.world.is_main else None
        plan = []  # (batch number, global batch size, this rank's share, its indices)
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            share = dist.share(idx, self.world)
            if share:  # a last batch smaller than the world: every rank skips it
                plan.append((i, len(idx), share, dist.local_slice(idx, self.world)))
        feed = batches(data, [p[3] for p in plan], self.device, self.workers())
        for (i, n_global, share, _), (x, y) in zip(plan, feed):
            self.stepper.begin_batch(n_global, share)
            with self.precision.autocast():
                out = self.model.train_step(x, y, self.stepper)
            self.stepper.end_batch()
            if self.world.distributed:  # as DDP: rank 0's buffers (batch-norm statistics)
                dist.broadcast(self.model, parameters=False)
            for k, v in out.items():
                sums.setdefault(k, []).append(v)
            for cb in hooks:
                cb.on_batch_end(self, done + i + 1, out)
            if (i + 1) % NAN_CHECK_EVERY == 0:
                self._check_step(sums["loss"][-NAN_CHECK_EVERY:], epoch, i)
            if bar is not None:
                bar.update(1)
        means = {k: torch.stack(v).float().mean().item() for k, v in sums.items()}
        means = dist.mean_over_ranks(means, 1, self.world)
        if bar is not None:
            bar.set_postfix(loss=f"{means['loss']:.4f}")
            bar.close()
        return means

    def averaged(self):
        """A context with the averaged weights in the model (train.ema_decay; else none)."""
        return self.stepper.ema.swapped() if self.stepper.ema is not None else nullcontext()

    @torch.inference_mode()
    def evaluate(self, data) -> dict[str, float]:
        """Metrics of `eval_step` averaged over `data` (weighted by batch size), with the
        averaged weights when train.ema_decay is on; in float32 whatever train.precision
        (module docstring)."""
        with self._eager():
            return self._evaluate(data)

    def _eager(self):
        """A context in which compiled networks run eagerly: train.compile compiles the
        training steps only, not validation or the callbacks' samples
        (training/compiling.py)."""
        return eager() if self.cfg.train.compile else nullcontext()

    def _evaluate(self, data) -> dict[str, float]:
        bs = self.cfg.train.eval_batch_size
        if not self.world.distributed or data is None or len(data) < self.world.size:
            with self.averaged():
                return evaluate_model(self.model, data, bs, self.workers())
        part = dist.local_slice(torch.arange(len(data)), self.world)  # consecutive
        a, b = int(part[0]), int(part[-1]) + 1
        with self.averaged():
            means = evaluate_model(self.model, data.subset(slice(a, b)), bs, self.workers())
        return dist.mean_over_ranks({k: v * (b - a) for k, v in means.items()}, b - a,
                                    self.world)

    def workers(self) -> int:
        """The DataLoader workers that decode a streaming split (data.workers; 0 without
        a data section)."""
        return int(getattr(getattr(self.cfg, "data", None), "workers", 0))

    def _check_step(self, losses: list, epoch: int, step: int) -> None:
        if not bool(torch.isfinite(torch.stack(losses)).all()):
            self._diverged(epoch, f"step {step + 1}")

    def _check_finite(self, record: dict, epoch: int) -> None:
        if not all(math.isfinite(v) for v in record.values() if isinstance(v, float)):
            self._diverged(epoch, "the end of the epoch")

    def _diverged(self, epoch: int, where: str):
        notes = [n for cb in self.callbacks if (n := cb.on_diverged(self, epoch))]
        kept = "; ".join(notes) or "nothing was saved (training in memory)"
        raise TrainingDiverged(
            f"Training diverged (loss is NaN or infinite) in epoch {epoch + 1} at {where}; "
            f"{kept}. Lower train.lr (now {self.cfg.train.lr}) and train again.")


@torch.inference_mode()
def evaluate_model(model, data, batch_size: int = 2000, workers: int = 0) -> dict[str, float]:
    """Average `model.eval_step` over `data` (a TensorData, or a streaming split decoded by
    `workers` DataLoader processes) in eval mode; {} when empty."""
    if data is None or len(data) == 0:
        return {}
    device = next(model.parameters()).device
    where = device if isinstance(data, StreamingData) else data.x.device
    chunks = [torch.arange(start, min(start + batch_size, len(data)), device=where)
              for start in range(0, len(data), batch_size)]
    totals: dict[str, torch.Tensor] = {}
    with evaluating(model):
        for idx, (x, y) in zip(chunks, batches(data, chunks, device, workers)):
            out = model.eval_step(x.to(device), None if y is None else y.to(device))
            for k, v in out.items():
                totals[k] = totals.get(k, 0.0) + v.double() * len(idx)
    return {k: float(v) / len(data) for k, v in totals.items()}


def batches(data, index_batches: list, device, workers: int = 0):
    """``(x float32, y or None)`` of each index batch of `data`, in order: a streaming split
    (data/streaming.py) decodes them in `workers` DataLoader processes and moves them to
    `device`; an in-memory one (on its device already) indexes its tensors."""
    if isinstance(data, StreamingData):
        for x, y in data.batches(index_batches, workers):
            yield x.to(device), None if y is None else y.to(device)
        return
    for idx in index_batches:
        yield data.batch(idx), None if data.y is None else data.y.index_select(0, idx)


def _to_device(data, device):
    if data is None or device.type == "cpu" or isinstance(data, StreamingData):
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
