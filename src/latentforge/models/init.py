"""Keras-style initialisation: Glorot-uniform kernels and zero biases (the book's default).

`Model.init_weights` applies it to a whole model once it is built. A layer with an init of
its own (e.g. equalized learning rate) subclasses `OwnInit`: `keras_init_` then calls the
layer's `init_weights()` and leaves the layer and everything inside it alone.
"""
from __future__ import annotations

from torch import nn

KERAS_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


class OwnInit:
    """Mixin of layers that initialise themselves; `keras_init_` calls `init_weights()`."""

    def init_weights(self) -> None:
        raise NotImplementedError


def keras_init_(module: nn.Module, _seen: set[int] | None = None) -> nn.Module:
    """Glorot-uniform weights, zero biases for every Linear/Conv layer inside `module`
    (pre-order, each module once), except inside `OwnInit` layers, which init themselves.

    Keras computes fan_in/fan_out of conv kernels with the receptive field, as torch's
    `xavier_uniform_` does, so the limits agree: sqrt(6 / (fan_in + fan_out)).
    """
    seen = set() if _seen is None else _seen
    if id(module) in seen:
        return module
    seen.add(id(module))
    if isinstance(module, OwnInit):
        module.init_weights()
        return module
    if isinstance(module, KERAS_LAYERS):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    for child in module.children():
        keras_init_(child, seen)
    return module
