"""An exponential moving average of a model's parameters (``train.ema_decay``).

After every engine step: ``avg = decay * avg + (1 - decay) * param`` (computed as
``avg.lerp_(param, 1 - decay)``). With ``warmup`` (``train.ema_warmup``) the n-th update
(n = 0, 1, ...) uses ``min(decay, (1 + n) / (10 + n))``, TensorFlow's
``ExponentialMovingAverage(num_updates=...)`` rule: early in training the average follows
the fast-changing weights instead of holding on to the initial ones (a decay of 0.999 spans
~1,000 steps, more than a short GAN run takes); ``updates`` counts the updates (the engine
sets it from the checkpoint's step on resume). Buffers (batch-norm statistics, counters) are not
averaged: the averaged model uses the live model's buffers. Which parameters are averaged
is the caller's choice (the engine passes `Model.ema_parameters()`: all of them, or a
GAN's generator); the others keep their raw values in the averaged model. `swapped()` puts
the averages into the model for a block (evaluation, samples) and restores the raw weights
exactly afterwards, so training continues bitwise as if nothing had happened.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable

import torch
from torch import nn


class EMA:
    """The averaged parameters of `model`, starting from its current weights.

    named_parameters: the (state_dict name, parameter) pairs to average (default: every
    parameter of `model` under each of its names); a parameter listed under several names
    (tied weights) is averaged once.
    warmup: the decay of update n is min(decay, (1 + n) / (10 + n)) (module docstring).
    """

    def __init__(self, model: nn.Module, decay: float,
                 named_parameters: Iterable[tuple[str, nn.Parameter]] | None = None,
                 warmup: bool = False):
        self.decay = float(decay)
        self.warmup = warmup
        self.updates = 0
        named = list(model.named_parameters(remove_duplicate=False)
                     if named_parameters is None else named_parameters)
        index: dict[int, int] = {}
        self.params = []
        for _, p in named:
            if id(p) not in index:
                index[id(p)] = len(self.params)
                self.params.append(p)
        self.average = [p.detach().clone() for p in self.params]
        # every state_dict name of an averaged parameter
        self.names = {name: index[id(p)] for name, p in named}

    @torch.no_grad()
    def reset(self) -> None:
        """Restart the averages at the current parameters."""
        for avg, p in zip(self.average, self.params):
            avg.copy_(p.detach())

    @torch.no_grad()
    def update(self) -> None:
        """Move the averages towards the current parameters (after an optimizer step)."""
        weight = 1.0 - self.current_decay()
        self.updates += 1
        for avg, p in zip(self.average, self.params):
            avg.lerp_(p.detach(), weight)

    def current_decay(self) -> float:
        """The decay the next update uses."""
        n = self.updates
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @contextmanager
    def swapped(self):
        """The averaged weights in the model for the block, the raw ones after."""
        with torch.no_grad():
            raw = [p.detach().clone() for p in self.params]
            self.copy_to_model()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, r in zip(self.params, raw):
                    p.copy_(r)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Overwrite the model's parameters with the averages (training is over)."""
        for p, avg in zip(self.params, self.average):
            p.copy_(avg)

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the averages from a state dict of the averaged model (the checkpoint's
        averaged weights; its buffers and the parameters that are not averaged are
        ignored). KeyError names a missing parameter."""
        for name, i in self.names.items():
            if name not in state:
                raise KeyError(f"no average for parameter '{name}'")
            self.average[i].copy_(state[name])
