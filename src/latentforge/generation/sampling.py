"""Drawing samples from generative models (anything with ``generate(n, generator=...)``:
VAEs, GANs), reproducibly and without touching torch's global RNG."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from latentforge.config import check_seed
from latentforge.errors import ConfigError
from latentforge.models.base import evaluating
from latentforge.resources import check_fits


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
                 batch_size: int = 1000, truncation: float | None = None) -> Tensor:
    """`n` samples (n, *sample_shape) float in [0, 1] on the CPU, from a private generator
    seeded with `seed` (the same seed gives the same samples); the model's mode is kept.
    Conditional models cycle through the classes unless `label` is given; `truncation`
    (style models only) is passed on to ``generate`` as the truncation trick's psi.

    The output (n x prod(sample_shape) x 4 bytes) is checked against the available memory
    before anything is generated (ResourceError) and filled in place, batch by batch, so
    the peak is the output plus one batch. n, batch_size < 1 or a bad seed: ConfigError."""
    out = _output(model, n, seed, batch_size)
    generator = torch.Generator().manual_seed(seed)
    labels = class_labels(model, n, label)
    with evaluating(model):
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            kwargs = {} if labels is None else {"labels": labels[start:start + b]}
            if truncation is not None:
                kwargs["truncation"] = truncation
            out[start:start + b] = model.generate(b, generator=generator, **kwargs)
    return out


def _output(model, n: int, seed: int, batch_size: int) -> Tensor:
    """The empty (n, *sample_shape) float32 CPU tensor `draw_samples` fills, after checking
    its arguments and that it fits in memory."""
    if n < 1 or batch_size < 1:
        raise ConfigError(f"The number of samples and the batch size must be at least 1, "
                          f"got {n} and {batch_size}")
    check_seed(seed, "The sampling seed")
    shape = (n, *model.sample_shape)
    check_fits(math.prod(shape) * 4, f"{n} samples of shape {tuple(model.sample_shape)}",
               "ask for fewer samples")
    return torch.empty(shape, dtype=torch.float32)
