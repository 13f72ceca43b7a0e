"""How much memory a model needs, measured before it is built.

`check_model_size` builds the model on PyTorch's "meta" device (shapes and dtypes, no
storage: it allocates nothing and takes milliseconds whatever the sizes), counts the bytes
of its parameters and buffers, and refuses with a `ResourceError` what the machine cannot
hold, so ``model.hidden=[100, 1e9]`` ends in one clear message instead of an allocation
traceback or a swapping machine. (The first meta build of an op that has no C++ meta kernel,
such as the normal_ init of minibatch discrimination, imports torch's Python meta kernels:
about 2 s, once per process.)
"""
from __future__ import annotations

import torch
from torch import nn

from latentforge.errors import ResourceError
from latentforge.resources import check_fits, format_bytes

# Training holds each parameter 4 times: the weights, their gradients and the optimizer's
# two moments (Adam/NAdam; SGD with momentum and RMSprop keep one, plain SGD none). Buffers
# (BatchNorm statistics, a GAN's replay buffer) are held once. Activations are not counted:
# they scale with the batch, not with the model.
TRAINING_FACTOR = 4


def tensor_bytes(tensors) -> int:
    """Bytes of `tensors`, each distinct tensor counted once."""
    unique = {id(t): t for t in tensors}
    return sum(t.numel() * t.element_size() for t in unique.values())


def meta_model(model_cls: type, cfg, sample_shape) -> nn.Module:
    """`model_cls(cfg, sample_shape)` built on the meta device (no memory). Bad config
    values raise the model's ConfigError; sizes beyond torch's 64-bit element counts raise
    ResourceError."""
    try:
        with torch.device("meta"):
            return model_cls(cfg, sample_shape)
    except (RuntimeError, TypeError, ValueError) as exc:
        if "overflow" not in str(exc).lower():
            raise
        raise ResourceError("The model's sizes are too large for any machine (a tensor would "
                            "have more than 2**63 elements); use smaller model sizes (e.g. "
                            "model.hidden, model.latent_dim, channels).") from None


def check_model_size(model_cls: type, cfg, sample_shape, training: bool = True) -> int:
    """Refuse a model that would not fit in the memory available now: ResourceError naming
    the sizes and what to change. Counts parameter bytes (times TRAINING_FACTOR when
    `training`) plus buffer bytes; returns that estimate. Call it before the real build."""
    model = meta_model(model_cls, cfg, sample_shape)
    weights, buffers = tensor_bytes(model.parameters()), tensor_bytes(model.buffers())
    factor = TRAINING_FACTOR if training else 1
    need = weights * factor + buffers
    what = f"This model ({format_bytes(weights)} of parameters, {format_bytes(buffers)} of " \
           "buffers" + (f"; training holds the parameters x{factor}: weights, gradients, "
                         "optimizer moments)" if training else ")")
    check_fits(need, what, "use smaller model sizes (e.g. model.hidden, model.latent_dim, "
               "channels, model.replay_size) or a machine with more memory")
    return need
