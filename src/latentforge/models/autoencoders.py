"""Dense autoencoders: the undercomplete linear autoencoder (= PCA) and the stacked one.

Book ch. 17, "Performing PCA with an Undercomplete Linear Autoencoder" and "Stacked
Autoencoders". Both flatten their input, so they work on images (B, C, H, W) and tables (B, D).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from latentforge.errors import ConfigError
from latentforge.models.base import Autoencoder
from latentforge.models.fused import dense_stack, fused_sgd_step, plain_sgd_lr
from latentforge.models.init import keras_init_
from latentforge.models.layers import mlp
from latentforge.registry import register


@dataclass
class DenseAEConfig:
    """A symmetric dense autoencoder.

    hidden: encoder layer sizes, the last one is the coding size; the decoder mirrors them
        (book: 100, 30 -> decoder 100, 784).
    activation: hidden activation (book: "selu"); codings use it too unless
        coding_activation is set.
    output: "sigmoid" (logits + binary cross-entropy, pixels in [0, 1]) or "linear" (MSE).
    fused_sgd: with plain SGD, run the hand-fused forward/backward/update of
        `models.fused` (same math as autograd, about 2x faster at batch 32 on CPU).
    """

    hidden: tuple[int, ...] = (100, 30)
    activation: str = "selu"
    coding_activation: str | None = None
    output: str = "sigmoid"
    fused_sgd: bool = True


@dataclass
class LinearAEConfig(DenseAEConfig):
    """Book: Dense(2) encoder, Dense(3) decoder, no activations, MSE loss."""

    hidden: tuple[int, ...] = (2,)
    activation: str = "linear"
    output: str = "linear"


class DenseAutoencoder(Autoencoder):
    """Flatten -> dense encoder -> codings -> dense decoder -> reshape to the input shape."""

    def __init__(self, cfg: DenseAEConfig, sample_shape):
        super().__init__(cfg, sample_shape)
        if not cfg.hidden or any(h < 1 for h in cfg.hidden):
            raise ConfigError(f"model.hidden must be positive layer sizes, got {cfg.hidden}")
        if cfg.output not in ("sigmoid", "linear"):
            raise ConfigError(f"model.output must be 'sigmoid' or 'linear', got '{cfg.output}'")
        n_in = math.prod(self.sample_shape)
        sizes = [n_in, *cfg.hidden]
        coding_act = cfg.coding_activation or cfg.activation
        self.encoder = nn.Sequential(nn.Flatten(), mlp(sizes, cfg.activation, coding_act))
        self.decoder = nn.Sequential(mlp(sizes[::-1], cfg.activation, None),
                                     nn.Unflatten(1, self.sample_shape))
        keras_init_(self)
        self._stack = dense_stack(self) if cfg.fused_sgd else None

    def train_step(self, x, y, opts):
        lr = plain_sgd_lr(opts["main"]) if self._stack else None
        if lr is None or type(self).regularization is not Autoencoder.regularization:
            return super().train_step(x, y, opts)
        loss = fused_sgd_step(*self._stack, x, x, lr, self.cfg.output)
        return {"reconstruction": loss, "loss": loss}

    @property
    def coding_dim(self) -> int:
        return self.cfg.hidden[-1]


_TINY = {"model": {"hidden": [16, 4]}}

register(
    "linear_ae", LinearAEConfig,
    "Undercomplete linear autoencoder 3-2-3 with MSE: finds PCA's principal plane",
    recipes={
        # Book notebook: SGD(lr=0.1), MSE, fit(epochs=20), batch 32, on 60 synthetic points.
        "book": {"data": {"source": "synthetic3d"},
                 "train": {"optimizer": "sgd", "lr": 0.1, "epochs": 20, "batch_size": 32}},
        # The book's 40 steps leave the plane ~25 degrees off PCA's; full-batch SGD lr 1.0
        # for 200 epochs (about a second) converges to it (tests/test_linear_pca.py).
        "fast": {"data": {"source": "synthetic3d"},
                 "train": {"optimizer": "sgd", "lr": 1.0, "epochs": 200, "batch_size": 60}},
    },
    tiny={"model": {"hidden": [2]}},
)(DenseAutoencoder)

register(
    "stacked_ae", DenseAEConfig,
    "Stacked autoencoder 784-100-30-100-784, SELU, sigmoid output, binary cross-entropy",
    recipes={
        # Book: SGD(lr=1.5), binary_crossentropy, 20 epochs, batch 32, Glorot init.
        "book": {"train": {"optimizer": "sgd", "lr": 1.5, "epochs": 20, "batch_size": 32}},
        # Book quality in fewer, cheaper epochs: Adam, batch 64, 4 epochs
        # (benchmarks/recipes.py measures both recipes' time and numbers).
        "fast": {"train": {"optimizer": "adam", "lr": 2e-3, "epochs": 4, "batch_size": 64}},
    },
    tiny=_TINY,
)(DenseAutoencoder)
