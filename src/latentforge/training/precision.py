"""Mixed precision (train.precision): the autocast context and the optional gradient
scaler of one run, for a precision and a device.

- "32": float32 everywhere; every method is a no-op (today's behaviour, bit for bit).
- "bf16": the engine runs each `train_step` under bfloat16 autocast; bfloat16 has
  float32's exponent range, so no loss scaling is needed.
- "16-mixed": float16 autocast and a `torch.amp.GradScaler`: the loss is multiplied by the
  scale before backpropagation, the gradients are divided by it before clipping and the
  step, a step whose gradients are not finite is skipped, and the scale is updated once
  per engine batch (a GAN steps two optimizers on one batch). `loss_scale` gives the
  current scale to the GAN gradient penalties, which take their input gradients at it
  (models/gan_losses.py). The engine refuses it on a device that is not CUDA
  (training/device.py).

Autocast only: weights, gradients and optimizer states stay float32, and models never see
the precision (but for the GANs' penalties asking the stepper's for its `loss_scale`). The
engine owns one `Precision` and gives it to the `Stepper` (the one optimizer-step path,
training/step.py); the checkpoint keeps the scaler's state in its state.json
(training/checkpoint.py, given the stepper's `Precision` as it is given the schedule and
the average).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor

from latentforge.errors import ConfigError, LatentforgeError

AUTOCAST_DTYPES = {"32": None, "bf16": torch.bfloat16, "16-mixed": torch.float16}


class Precision:
    """Autocast and loss scaling for `name` (a train.precision value, already validated)
    on `device`."""

    def __init__(self, name: str | int, device: torch.device | str):
        self.name = str(name)
        self.device_type = torch.device(device).type
        self.dtype = AUTOCAST_DTYPES[self.name]
        self.scaler = (torch.amp.GradScaler(self.device_type) if self.name == "16-mixed"
                       else None)
        self._pending = False  # a scaled step since the last update

    @property
    def full(self) -> bool:
        """True for float32 training (no autocast, no scaler)."""
        return self.dtype is None

    @contextmanager
    def autocast(self):
        """The context a training step runs in (nothing for "32"). A kernel the device
        cannot run in the autocast dtype (oneDNN's CPU LSTM in bf16, for one) becomes one
        ConfigError line that names the precision to use instead."""
        if self.dtype is None:
            yield
            return
        try:
            with torch.autocast(self.device_type, dtype=self.dtype):
                yield
        except RuntimeError as exc:
            if isinstance(exc, (LatentforgeError, torch.OutOfMemoryError)):
                raise
            first = (str(exc).splitlines() or [""])[0].split(". ")[0][:200]
            raise ConfigError(f"A training step failed under train.precision={self.name} on "
                              f"{self.device_type} ({type(exc).__name__}: {first}); this "
                              f"model cannot train in {self.name} here: use "
                              f"train.precision=32.") from exc

    def backward(self, loss: Tensor) -> None:
        """Backpropagate `loss` (times the scale under 16-mixed), outside autocast as
        torch's AMP guide recommends (backward ops take the forward's dtypes anyway)."""
        if self.dtype is None:
            loss.backward()
            return
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        with torch.autocast(self.device_type, enabled=False):
            loss.backward()

    def loss_scale(self) -> float:
        """The scaler's current scale (the factor `backward` multiplies the loss by), 1.0
        without a scaler. Reading it waits for the device (one sync, as the scaler's own
        step does)."""
        return 1.0 if self.scaler is None else self.scaler.get_scale()

    def unscale(self, opt: torch.optim.Optimizer) -> None:
        """Divide `opt`'s gradients by the scale (before clipping them); no-op unscaled."""
        if self.scaler is not None:
            self.scaler.unscale_(opt)

    def step(self, opt: torch.optim.Optimizer) -> None:
        """Step `opt`: through the scaler (skipped when a gradient is inf/NaN), else plainly."""
        if self.scaler is None:
            opt.step()
            return
        self.scaler.step(opt)
        self._pending = True

    def update(self) -> None:
        """Once per engine batch: grow or back off the scale after this batch's steps."""
        if self.scaler is not None and self._pending:
            self.scaler.update()
            self._pending = False

    def state_dict(self) -> dict | None:
        """The scaler's state (plain numbers: scale, factors, growth tracker), or None."""
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        """Restore a saved scaler state; None (a checkpoint of another precision) keeps the
        fresh scaler, and without a scaler there is nothing to restore."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
