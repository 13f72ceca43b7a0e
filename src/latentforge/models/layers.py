"""Small reusable layers and the activation lookup."""
from __future__ import annotations

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
