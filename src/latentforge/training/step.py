"""The one optimizer-step path. Every model's `train_step(x, y, step)` updates its weights
through `step.step(name, loss)`, and the engine calls `step.end_batch()` after each
`train_step`, so what acts on every update is written once, here, for every model:

- gradient clipping by global norm (``train.clip_norm``), in `step`;
- the moving average of the weights (``train.ema_decay``, training/ema.py), in `end_batch`;
- the learning-rate schedule (``train.schedule``, training/schedules.py), in `end_batch`;
- mixed precision (``train.precision``, training/precision.py): the loss scaled before
  backpropagation and the gradients unscaled before clipping, the step through the
  gradient scaler (skipped on inf/NaN gradients) in `step`; the scale updated once per
  engine batch in `end_batch` (a GAN steps two optimizers on one batch);
- several processes (torchrun, training/distributed.py): each rank's gradients, weighted
  by its share of the global batch (`begin_batch`), summed over the ranks right after
  backpropagation, before clipping and the step, so every rank takes the same step.

A model with a hand-fused update (the dense autoencoders' plain-SGD step, models/fused.py)
may use it only while `step.allows_fused` is true: no option needs the gradients (the
fused step reads the lr from the param group, so schedules apply; the average is taken
after the step, so it applies too) and the precision is float32 (the fused step bypasses
autocast and the scaler).
"""
from __future__ import annotations

import torch
from torch import Tensor


class Stepper:
    """Zero the gradients, backpropagate, [clip], step one named optimizer.

    optimizers: name -> optimizer, as the model's `configure_optimizers` made them.
    clip_norm: clip the global gradient norm of that optimizer's parameters (None: off).
    schedule: a `training.schedules.Schedule` advanced after every batch (None: off).
    ema: a `training.ema.EMA` updated after every batch (None: off).
    precision: a `training.precision.Precision` (loss scaling, autocast's dtype); None:
        float32, as train.precision "32".
    world: a `training.distributed.World` of several processes (None: one process).
    batch_images: the global batch's size during an engine step (`begin_batch`; None
        outside the engine), for models that count the images they have seen (progan).
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer],
                 clip_norm: float | None = None, schedule=None, ema=None, precision=None,
                 world=None):
        self.optimizers = optimizers
        self.clip_norm = clip_norm
        self.schedule = schedule
        self.ema = ema
        self.precision = precision
        self.world = world if world is not None and world.distributed else None
        self.batch_images: int | None = None
        self.share = 1.0

    def begin_batch(self, batch_images: int, share: float = 1.0) -> None:
        """Before a model's `train_step` on a global batch of `batch_images` items, of
        which this process trains `share`."""
        self.batch_images, self.share = batch_images, share

    def step(self, name: str, loss: Tensor) -> None:
        """One update of optimizer `name` on the gradients of `loss` (a scalar)."""
        opt, amp = self.optimizers[name], self.precision
        opt.zero_grad(set_to_none=True)
        if amp is None:
            loss.backward()
        else:
            amp.backward(loss)
        if self.world is not None:
            from latentforge.training.distributed import average_gradients

            average_gradients([p for g in opt.param_groups for p in g["params"]], self.share)
        if self.clip_norm:
            if amp is not None:
                amp.unscale(opt)  # clip the true gradients, not the scaled ones
            params = [p for group in opt.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
        if amp is None:
            opt.step()
        else:
            amp.step(opt)

    def end_batch(self) -> None:
        """After a model's `train_step`: update the loss scale, the average, then the
        learning rate."""
        if self.precision is not None:
            self.precision.update()
        if self.ema is not None:
            self.ema.update()
        if self.schedule is not None:
            self.schedule.advance()

    @property
    def allows_fused(self) -> bool:
        """True when a model may update its weights without autograd gradients: no
        clipping, float32 (no autocast, no scaler) and one process (no gradient to
        average)."""
        return (not self.clip_norm and self.world is None
                and (self.precision is None or self.precision.full))
