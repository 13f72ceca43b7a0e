"""Keras-style initialisation: Glorot-uniform kernels and zero biases (the book's default)."""
from __future__ import annotations

from torch import nn


def keras_init_(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights, zero biases for every Linear/Conv layer inside `module`.

    Keras computes fan_in/fan_out of conv kernels with the receptive field, as torch's
    `xavier_uniform_` does, so the limits agree: sqrt(6 / (fan_in + fan_out)).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
