"""Small reusable layers and the activation lookup."""
from __future__ import annotations

import torch
from torch import nn

from latentforge.errors import ConfigError

ACTIVATIONS = {
    "selu": nn.SELU,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "linear": nn.Identity,
}


def activation(name: str) -> nn.Module:
    """An activation module by Keras name; unknown names raise ConfigError."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"Unknown activation '{name}'. Available: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(sizes: list[int], act: str, last_act: str | None) -> nn.Sequential:
    """Dense layers sizes[0] -> sizes[1] -> ... with `act` between, `last_act` at the end."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        name = act if i < len(sizes) - 2 else last_act
        if name and name != "linear":
            layers.append(activation(name))
    return nn.Sequential(*layers)


class GaussianNoise(nn.Module):
    """Adds N(0, stddev^2) noise in training mode only (Keras GaussianNoise)."""

    def __init__(self, stddev: float):
        super().__init__()
        self.stddev = float(stddev)

    def forward(self, x):
        if not self.training or self.stddev == 0:
            return x
        return x + torch.randn_like(x) * self.stddev

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"


CORRUPTIONS = ("none", "gaussian", "dropout")


def corruption(kind: str, rate: float) -> nn.Module:
    """Input corruption of denoising autoencoders (book ch. 17, "Denoising Autoencoders"):
    "gaussian" adds noise of stddev `rate`, "dropout" zeroes inputs with probability `rate`
    (and scales the rest by 1/(1-rate), as Keras Dropout). Active in training only."""
    from latentforge.models.checks import check_corruption

    check_corruption(kind, rate)
    if kind == "gaussian":
        return GaussianNoise(rate)
    if kind == "dropout":
        return nn.Dropout(rate)
    return nn.Identity()
