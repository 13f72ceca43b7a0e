"""Learning-rate schedules per engine step (``train.schedule``, ``train.warmup_steps``).

The learning rate of engine step k (0-based; one batch, on which each optimizer takes its
step) is ``base * factor(k)``, where base is the optimizer's configured lr and::

    warm-up (k < W):   (k + 1) / W
    constant:          1
    step:              gamma ** ((k - W) // step_size)
    cosine:            (1 + cos(pi * (k - W) / (T - W))) / 2   (T = the run's total steps)

so a cosine schedule reaches 0 after the run's last step. A schedule is a pure function of
k: its checkpointed state is k alone, and a resumed run sets the same lr at the same step
(bitwise). The base is read from the optimizer when the schedule is built, i.e. from the
current config, so ``--resume --set train.lr=...`` rescales the rest of the schedule (the
same rule as `checkpoint._load_optimizer_state`: the config's hyperparameters win).

torch.optim.lr_scheduler.LambdaLR computes the same product, but it wraps
``optimizer.step`` and warns when a step bypasses it (the dense models' fused SGD step
does), and its saved state carries the old base lr; so the product is set here directly.
"""
from __future__ import annotations

import math
from typing import Callable

import torch


def lr_factor(cfg, total_steps: int) -> Callable[[int], float]:
    """factor(k) of `cfg` (a TrainConfig) for a run of `total_steps` engine steps."""
    warm = cfg.warmup_steps

    def factor(k: int) -> float:
        if k < warm:
            return (k + 1) / warm
        if cfg.schedule == "step":
            return cfg.gamma ** ((k - warm) // cfg.step_size)
        if cfg.schedule == "cosine":
            span = max(total_steps - warm, 1)
            return 0.5 * (1.0 + math.cos(math.pi * min(k - warm, span) / span))
        return 1.0

    return factor


def is_constant(cfg) -> bool:
    """True when `cfg` asks for no schedule at all (the lr never changes)."""
    return cfg.schedule == "constant" and cfg.warmup_steps == 0


class Schedule:
    """Sets every param group's lr to ``base * factor(k)`` at engine step k.

    optimizers: name -> optimizer (their current lrs are the bases).
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer],
                 factor: Callable[[int], float]):
        self.optimizers, self.factor = optimizers, factor
        self.base = {name: [g["lr"] for g in opt.param_groups]
                     for name, opt in optimizers.items()}
        self.position = 0
        self.apply()

    @classmethod
    def from_config(cls, optimizers: dict, cfg, total_steps: int) -> "Schedule | None":
        """The schedule `cfg` asks for, or None for a constant lr (nothing to do)."""
        return None if is_constant(cfg) else cls(optimizers, lr_factor(cfg, total_steps))

    def apply(self) -> None:
        """Set the lr of step `position` on every param group."""
        factor = self.factor(self.position)
        for name, opt in self.optimizers.items():
            for group, base in zip(opt.param_groups, self.base[name]):
                group["lr"] = base * factor

    def advance(self) -> None:
        """After an engine step: the lr of the next one."""
        self.position += 1
        self.apply()

    def lrs(self) -> dict[str, list[float]]:
        """The current lr of each optimizer's param groups."""
        return {name: [g["lr"] for g in opt.param_groups]
                for name, opt in self.optimizers.items()}

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        """Continue at the saved step, with the bases of the current config."""
        self.position = int(state["position"])
        self.apply()
