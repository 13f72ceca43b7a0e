"""Drawing samples from generative models (anything with ``generate(n, generator=...)``:
VAEs, GANs), reproducibly and without touching torch's global RNG."""
from __future__ import annotations

import torch
from torch import Tensor

from latentforge.modes import evaluating


def class_labels(model, n: int, label: int | None = None) -> Tensor | None:
    """Labels for `n` samples of a conditional model (0, 1, ..., K-1, 0, ... or all `label`);
    None for an unconditional one."""
    if not getattr(model.cfg, "conditional", False):
        return None
    if label is not None:
        return torch.full((n,), int(label), dtype=torch.int64)
    return torch.arange(n, dtype=torch.int64) % int(model.cfg.n_classes)


@torch.no_grad()
def draw_samples(model, n: int, seed: int = 0, label: int | None = None,
                 batch_size: int = 1000) -> Tensor:
    """`n` samples (n, *sample_shape) float in [0, 1] on the CPU, from a private generator
    seeded with `seed` (the same seed gives the same samples); the model's mode is kept.
    Conditional models cycle through the classes unless `label` is given."""
    generator = torch.Generator().manual_seed(seed)
    labels = class_labels(model, n, label)
    out = []
    with evaluating(model):
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            kwargs = {} if labels is None else {"labels": labels[start:start + b]}
            out.append(model.generate(b, generator=generator, **kwargs).float().cpu())
    return torch.cat(out)
