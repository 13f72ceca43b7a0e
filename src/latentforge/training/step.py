"""The one optimizer-step path. Every model's `train_step(x, y, step)` updates its weights
through `step.step(name, loss)`, and the engine calls `step.end_batch()` after each
`train_step`, so what acts on every update is written once, here, for every model:

- gradient clipping by global norm (``train.clip_norm``), in `step`;
- the moving average of the weights (``train.ema_decay``, training/ema.py), in `end_batch`;
- the learning-rate schedule (``train.schedule``, training/schedules.py), in `end_batch`.

A model with a hand-fused update (the dense autoencoders' plain-SGD step, models/fused.py)
may use it only while `step.allows_fused` is true: no option needs the gradients (the
fused step reads the lr from the param group, so schedules apply; the average is taken
after the step, so it applies too).
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
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer],
                 clip_norm: float | None = None, schedule=None, ema=None):
        self.optimizers = optimizers
        self.clip_norm = clip_norm
        self.schedule = schedule
        self.ema = ema

    def step(self, name: str, loss: Tensor) -> None:
        """One update of optimizer `name` on the gradients of `loss` (a scalar)."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_norm:
            params = [p for group in opt.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
        opt.step()

    def end_batch(self) -> None:
        """After a model's `train_step`: update the average, then the learning rate."""
        if self.ema is not None:
            self.ema.update()
        if self.schedule is not None:
            self.schedule.advance()

    @property
    def allows_fused(self) -> bool:
        """True when a model may update its weights without autograd gradients."""
        return not self.clip_norm
