"""Dense autoencoders of book ch. 17, one configurable class, registered under the names
of the chapter's sections:

- ``linear_ae``: undercomplete linear autoencoder = PCA ("Performing PCA with an
  Undercomplete Linear Autoencoder");
- ``stacked_ae``: 784-100-30-100-784 SELU ("Stacked Autoencoders");
- ``tied_ae``: decoder reuses the transposed encoder kernels ("Tying Weights");
- ``denoising_ae``: Gaussian-noise or dropout corruption of the input in training
  ("Denoising Autoencoders");
- ``sparse_ae``: 300 sigmoid codings with an L1 or KL-divergence sparsity penalty
  ("Sparse Autoencoders");
- ``hashing_ae``: 16 sigmoid codings behind strong Gaussian noise, rounded to binary hashes
  (semantic hashing, Salakhutdinov & Hinton 2008; the book's notebook).

All flatten their input, so they work on images (B, C, H, W) and tables (B, D).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from latentforge.errors import ConfigError
from latentforge.models.base import Autoencoder
from latentforge.models.checks import (check_activation, check_at_least, check_choice,
                                       check_corruption, check_fraction, check_sizes)
from latentforge.models.fused import dense_stack, fused_sgd_step, plain_sgd_lr
from latentforge.models.layers import GaussianNoise, activation, corruption, mlp
from latentforge.models.recipes import DENSE_RECIPES
from latentforge.registry import register

SPARSITY = ("none", "l1", "kl")


@dataclass
class DenseAEConfig:
    """A symmetric dense autoencoder (defaults: the book's stacked autoencoder).

    hidden: encoder layer sizes, the last is the coding size; the decoder mirrors them.
    activation: hidden activation (book: "selu").
    coding_activation: activation of the coding layer; None = `activation`
        (book: "sigmoid" for the sparse and hashing autoencoders).
    output: "sigmoid" (logits + binary cross-entropy, pixels in [0, 1]), "linear" or
        "selu" (MSE; "selu" is phase 2 of greedy layer-wise training).
    tied: decoder kernels are the transposed encoder kernels, own biases (book: tied_ae).
    corruption / corruption_rate: "gaussian" (stddev) or "dropout" (rate) noise on the input
        in training only (book: gaussian 0.2, dropout 0.5).
    code_noise: stddev of Gaussian noise added before the coding layer in training
        (book's hashing autoencoder: 15).
    sparsity: "l1" (weight * mean over the batch of sum_units |coding|; book 1e-3) or
        "kl" (weight * sum_units KL(target || mean activation); book 0.05, target 0.1).
    kl_batch_scaling: divide the KL penalty by the batch size, as Keras does with every
        activity regularizer (book recipe: True; the book's numbers in docs/book-reference.md
        depend on it).
    fused_sgd: with plain SGD and a plain SELU/linear stack, run the hand-fused step of
        `models.fused` (same math as autograd, about 2x faster at batch 32 on CPU).
    """

    hidden: tuple[int, ...] = (100, 30)
    activation: str = "selu"
    coding_activation: str | None = None
    output: str = "sigmoid"
    tied: bool = False
    corruption: str = "none"
    corruption_rate: float = 0.0
    code_noise: float = 0.0
    sparsity: str = "none"
    sparsity_weight: float = 0.0
    sparsity_target: float = 0.1
    kl_batch_scaling: bool = True
    fused_sgd: bool = True

    @property
    def latent_dim(self) -> int:
        """The coding size, hidden[-1] (read-only: set model.hidden)."""
        return self.hidden[-1]

    def validate(self) -> None:
        """ConfigError for values no dense autoencoder can use."""
        check_sizes("hidden", self.hidden)
        check_activation("activation", self.activation)
        check_activation("coding_activation", self.coding_activation, optional=True)
        check_choice("output", self.output, Autoencoder.OUTPUTS)
        check_corruption(self.corruption, self.corruption_rate)
        check_at_least("code_noise", self.code_noise, 0)
        check_choice("sparsity", self.sparsity, SPARSITY)
        check_at_least("sparsity_weight", self.sparsity_weight, 0)
        if self.sparsity == "kl":
            check_fraction("sparsity_target", self.sparsity_target, low_open=True)
            if (self.coding_activation or self.activation) != "sigmoid":
                raise ConfigError("KL sparsity needs codings in (0, 1): set "
                                  "model.coding_activation=\"sigmoid\"")


@dataclass
class LinearAEConfig(DenseAEConfig):
    """Book: Dense(2) encoder, Dense(3) decoder, no activations, MSE loss."""

    hidden: tuple[int, ...] = (2,)
    activation: str = "linear"
    output: str = "linear"


@dataclass
class TiedAEConfig(DenseAEConfig):
    """Book: the stacked architecture with DenseTranspose decoder layers."""

    tied: bool = True


@dataclass
class DenoisingAEConfig(DenseAEConfig):
    """Book: GaussianNoise(0.2) on the input of the stacked autoencoder."""

    corruption: str = "gaussian"
    corruption_rate: float = 0.2


@dataclass
class SparseAEConfig(DenseAEConfig):
    """Book: 100 SELU, 300 sigmoid codings with ActivityRegularization(l1=1e-3)."""

    hidden: tuple[int, ...] = (100, 300)
    coding_activation: str | None = "sigmoid"
    sparsity: str = "l1"
    sparsity_weight: float = 1e-3


@dataclass
class HashingAEConfig(DenseAEConfig):
    """Book notebook: 100 SELU, GaussianNoise(15), 16 sigmoid codings."""

    hidden: tuple[int, ...] = (100, 16)
    coding_activation: str | None = "sigmoid"
    code_noise: float = 15.0


class DenseTranspose(nn.Module):
    """Dense layer whose kernel is another Linear's weight, transposed; own bias
    (book: the `DenseTranspose` Keras layer). The tied Linear is not registered as a
    submodule, so its weight is stored once."""

    def __init__(self, dense: nn.Linear):
        super().__init__()
        self._dense = [dense]  # a list hides it from nn.Module registration
        self.bias = nn.Parameter(torch.zeros(dense.in_features))

    def forward(self, z: Tensor) -> Tensor:
        return torch.addmm(self.bias, z, self._dense[0].weight)


class DenseAutoencoder(Autoencoder):
    """Flatten -> [corruption] -> dense encoder -> codings -> dense decoder -> reshape."""

    def capabilities(self) -> frozenset[str]:
        """Autoencoder.capabilities, plus "hash" when the codings are binary hashes: sigmoid
        codings trained behind Gaussian noise (`code_noise` > 0), as hashing_ae's."""
        hashing = self.cfg.code_noise > 0 and self.cfg.coding_activation == "sigmoid"
        return super().capabilities() | ({"hash"} if hashing else set())

    def __init__(self, cfg: DenseAEConfig, sample_shape):
        super().__init__(cfg, sample_shape)
        cfg.validate()
        sizes = [math.prod(self.sample_shape), *cfg.hidden]
        self.encoder = self._encoder(cfg, sizes)
        self.decoder = self._decoder(cfg, sizes)
        plain = cfg.fused_sgd and cfg.sparsity == "none" and cfg.output != "selu"
        self._stack = dense_stack(self) if plain else None
        self._fused_step = fused_sgd_step

    @staticmethod
    def _encoder(cfg, sizes) -> nn.Sequential:
        coding_act = cfg.coding_activation or cfg.activation
        layers = [nn.Flatten(), corruption(cfg.corruption, cfg.corruption_rate)]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            if last and cfg.code_noise > 0:
                layers.append(GaussianNoise(cfg.code_noise))
            layers.append(nn.Linear(n_in, n_out))
            layers.append(activation(coding_act if last else cfg.activation))
        return nn.Sequential(*layers)

    def _decoder(self, cfg, sizes) -> nn.Sequential:
        if not cfg.tied:
            return nn.Sequential(mlp(sizes[::-1], cfg.activation, None),
                                 nn.Unflatten(1, self.sample_shape))
        linears = [m for m in self.encoder if isinstance(m, nn.Linear)]
        layers: list[nn.Module] = []
        for i, dense in enumerate(reversed(linears)):
            layers.append(DenseTranspose(dense))
            if i < len(linears) - 1:
                layers.append(activation(cfg.activation))
        return nn.Sequential(*layers, nn.Unflatten(1, self.sample_shape))

    @property
    def coding_dim(self) -> int:
        return self.cfg.latent_dim

    def regularization(self, codings: Tensor) -> dict[str, Tensor]:
        """Sparsity penalty on the codings (B, coding_dim) (book: "Sparse Autoencoders")."""
        cfg = self.cfg
        if cfg.sparsity == "l1":
            return {"sparsity": cfg.sparsity_weight * codings.abs().sum(1).mean()}
        if cfg.sparsity == "kl":
            kl = kl_sparsity(codings, cfg.sparsity_target)
            scale = len(codings) if cfg.kl_batch_scaling else 1
            return {"sparsity": cfg.sparsity_weight * kl / scale}
        return {}

    def compile_networks(self, backend: str | None) -> None:
        """The encoder and decoder, and the hand-fused SGD step (the dense recipes'
        book path, which runs no module's forward)."""
        super().compile_networks(backend)
        self._fused_step = (fused_sgd_step if backend is None
                            else torch.compile(fused_sgd_step, backend=backend))

    def train_step(self, x, y, step):
        lr = plain_sgd_lr(step.optimizers["main"]) if self._stack and step.allows_fused \
            else None
        if lr is None:
            return super().train_step(x, y, step)
        loss = self._fused_step(*self._stack, x, x, lr, self.cfg.output)
        return {"reconstruction": loss, "loss": loss}


def kl_sparsity(codings: Tensor, target: float) -> Tensor:
    """sum_units KL(target || q) + KL(1 - target || 1 - q), q = mean activation per unit
    over the batch; codings in (0, 1). Clipped like Keras's KL divergence (eps 1e-7)."""
    eps = 1e-7
    q = codings.mean(0).clamp(eps, 1 - eps)
    t = torch.tensor(target, dtype=q.dtype, device=q.device).clamp(eps, 1 - eps)
    return (t * torch.log(t / q) + (1 - t) * torch.log((1 - t) / (1 - q))).sum()


_CONFIGS = {"linear_ae": LinearAEConfig, "stacked_ae": DenseAEConfig, "tied_ae": TiedAEConfig,
            "denoising_ae": DenoisingAEConfig, "sparse_ae": SparseAEConfig,
            "hashing_ae": HashingAEConfig}

for _name, _cfg_cls in _CONFIGS.items():
    _summary, _recipes, _tiny = DENSE_RECIPES[_name]
    register(_name, _cfg_cls, _summary, _recipes, _tiny)(DenseAutoencoder)
