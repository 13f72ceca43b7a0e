"""The one optimizer-step path. Every model's `train_step(x, y, step)` updates its weights
through `step.step(name, loss)`, so what acts on every update (gradient clipping, and the
options built on this hook) is written once, here, for every model.

A model with a hand-fused update (the dense autoencoders' plain-SGD step, models/fused.py)
may use it only while `step.allows_fused` is true: no option needs the gradients.
"""
from __future__ import annotations

import torch
from torch import Tensor


class Stepper:
    """Zero the gradients, backpropagate, [clip], step one named optimizer.

    optimizers: name -> optimizer, as the model's `configure_optimizers` made them.
    clip_norm: clip the global gradient norm of that optimizer's parameters (None: off).
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer],
                 clip_norm: float | None = None):
        self.optimizers = optimizers
        self.clip_norm = clip_norm

    def step(self, name: str, loss: Tensor) -> None:
        """One update of optimizer `name` on the gradients of `loss` (a scalar)."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_norm:
            params = [p for group in opt.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
        opt.step()

    @property
    def allows_fused(self) -> bool:
        """True when a model may update its weights without autograd gradients."""
        return not self.clip_norm
