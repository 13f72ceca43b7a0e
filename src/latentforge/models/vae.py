"""Variational autoencoders of book ch. 17 ("Variational Autoencoders"): ``vae`` (dense, the
book's) and ``conv_vae`` (the same Gaussian latent behind ``conv_ae``'s convolutions).

Book (Fashion-MNIST, codings_size 10):
  encoder  Flatten -> Dense(150, selu) -> Dense(100, selu) -> Dense(10) mean,
           Dense(10) log_var gamma; Sampling: z = mean + exp(gamma / 2) * eps, eps ~ N(0, I)
  decoder  Dense(100, selu) -> Dense(150, selu) -> Dense(784, sigmoid) -> Reshape(28, 28)
  loss     binary_crossentropy (mean over pixels) + K.mean(latent_loss) / 784, with
           latent_loss = -1/2 sum(1 + gamma - exp(gamma) - mean^2) (the KL divergence from
           N(0, I) of q(z|x) = N(mean, exp(gamma)), Kingma & Welling 2014), added by add_loss
  fit      RMSprop() (lr 0.001, rho 0.9, eps 1e-7), batch 128, 25 epochs, Glorot init.

Per image, loss * 784 = (sum of pixel BCEs + KL) = -ELBO in nats: the book's loss is the
negative ELBO per pixel. Generalised: the KL is divided by the number of input elements.

Randomness: training samples eps from torch's global RNG (the engine checkpoints it, so a
resumed run is bitwise the uninterrupted one). Keras evaluates with sampling too; here
`eval_step` samples from a fresh generator seeded with ``cfg.eval_seed`` on every call, so
a validation number is reproducible (the same weights always give the same val loss) and
evaluating never moves the global RNG. `encode` returns the posterior mean (deterministic
codings for probes, maps and interpolation); `reconstruct` decodes it.

``conv_vae`` is a registered name of its own (a `VAEConfig` with ``arch="conv"``), so the
conformance suite covers both architectures; ``vae --set model.arch="conv"`` is the same
model. The book has no convolutional VAE: its "book" recipe is the book VAE's training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentforge.evaluation import metrics
from latentforge.models.base import Autoencoder
from latentforge.config import check_seed
from latentforge.models.checks import (check_activation, check_at_least, check_choice,
                                       check_sizes, require)
from latentforge.models.conv_blocks import (check_conv_options, check_conv_stages,
                                            pool_stages, stage_sizes, upsample_stages)
from latentforge.models.layers import activation, mlp
from latentforge.registry import register

ARCHS = ("dense", "conv")


@dataclass
class VAEConfig:
    """A variational autoencoder with a Gaussian latent and a Bernoulli (sigmoid) decoder.

    arch: "dense" (book) or "conv" (conv_ae's conv + max-pool stages and transposed convs).
    hidden: dense encoder layer sizes before the mean/log_var heads (book: 150, 100); the
        dense decoder mirrors them.
    latent_dim: size of z (book: codings_size = 10).
    activation: hidden activation (book: "selu").
    filters / kernel: conv stages and kernel size when arch="conv" (conv_ae's book values
        16, 32, 64 and 3); the decoder is Dense(latent -> filters[-1] * h * w) + the
        transposed convolutions of conv_ae.
    output: "sigmoid" only: the Bernoulli likelihood on logits (book's binary_crossentropy).
    beta: weight of the latent loss (1 = the book's ELBO; > 1 is a beta-VAE).
    eval_seed: seed of the noise `eval_step` samples z with (reproducible validation).
    """

    arch: str = "dense"
    hidden: tuple[int, ...] = (150, 100)
    latent_dim: int = 10
    activation: str = "selu"
    filters: tuple[int, ...] = (16, 32, 64)
    kernel: int = 3
    output: str = "sigmoid"
    beta: float = 1.0
    eval_seed: int = 0

    def validate(self) -> None:
        """ConfigError for values no VAE can use (a conv VAE's image size is checked when
        the model is built)."""
        check_choice("arch", self.arch, ARCHS)
        check_at_least("latent_dim", self.latent_dim, 1)
        check_activation("activation", self.activation)
        require(self.output == "sigmoid", "output", "'sigmoid' (the VAE's Bernoulli decoder)",
                self.output)
        check_at_least("beta", self.beta, 0)
        check_seed(self.eval_seed, "model.eval_seed")
        if self.arch == "dense":
            check_sizes("hidden", self.hidden)
        else:
            check_conv_options(self.filters, self.kernel)


@dataclass
class ConvVAEConfig(VAEConfig):
    """`VAEConfig` with the convolutional encoder/decoder of conv_ae."""

    arch: str = "conv"


def kl_divergence(mean: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) per row: (B, D), (B, D) -> (B,) in nats
    (book's latent_loss: -1/2 sum(1 + gamma - exp(gamma) - mean^2))."""
    return -0.5 * torch.sum(1 + log_var - log_var.exp() - mean.square(), dim=-1)


def reparameterize(mean: Tensor, log_var: Tensor, eps: Tensor | None = None) -> Tensor:
    """z = mean + exp(log_var / 2) * eps (book's Sampling layer); eps ~ N(0, I) from the
    global RNG when not given. All (B, D); gradients flow to mean and log_var."""
    if eps is None:
        eps = torch.randn_like(mean)
    return mean + torch.exp(0.5 * log_var) * eps


def seeded_normal(shape, seed: int, like: Tensor) -> Tensor:
    """N(0, 1) noise of `shape` from a CPU generator seeded with `seed`, on `like`'s device
    and dtype (the same numbers on every device; the global RNG is untouched)."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(tuple(shape), generator=gen).to(like)


class GaussianEncoder(nn.Module):
    """body: x (B, *sample_shape) -> features (B, F); two linear heads give the posterior
    q(z|x) = N(mean, exp(log_var)). Calling it returns the mean (B, latent_dim), so
    ``model.encoder`` is a deterministic encoder (pretraining, probes)."""

    def __init__(self, body: nn.Module, features: int, latent_dim: int):
        super().__init__()
        self.body = body
        self.mean = nn.Linear(features, latent_dim)
        self.log_var = nn.Linear(features, latent_dim)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, *sample_shape) -> (mean, log_var), each (B, latent_dim)."""
        h = self.body(x)
        return self.mean(h), self.log_var(h)

    def forward(self, x: Tensor) -> Tensor:
        return self.mean(self.body(x))


class VariationalAutoencoder(Autoencoder):
    """Gaussian encoder q(z|x), N(0, I) prior, Bernoulli decoder p(x|z) with sigmoid means.

    encode(x) -> posterior mean (B, latent_dim); decode(z) -> images in [0, 1];
    reconstruct(x) = decode(encode(x)) and forward(x) (its logits) are deterministic (Keras's
    variational_ae(x) samples z instead); generate(n) -> decoded prior samples.
    """

    CAPABILITIES = Autoencoder.CAPABILITIES | {"generate", "posterior"}

    def __init__(self, cfg: VAEConfig, sample_shape):
        super().__init__(cfg, sample_shape)
        cfg.validate()
        if cfg.arch == "conv":
            check_conv_stages("model.arch='conv'", cfg.filters, self.sample_shape,
                              "Use arch 'dense' (model vae) for tables.")
        self.n_inputs = math.prod(self.sample_shape)
        build = _dense_networks if cfg.arch == "dense" else _conv_networks
        body, features, decoder = build(cfg, self.sample_shape)
        self.encoder = GaussianEncoder(body, features, cfg.latent_dim)
        self.decoder = decoder

    @property
    def coding_dim(self) -> int:
        return self.cfg.latent_dim

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, *sample_shape) -> (mean, log_var) of q(z|x), each (B, latent_dim)."""
        return self.encoder.posterior(x)

    def generate(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode n prior samples z ~ N(0, I) -> images (n, *sample_shape) in [0, 1]
        (book: variational_decoder(tf.random.normal([12, codings_size]))). Noise comes from
        `generator` (on its device) or else the global RNG."""
        device = next(self.parameters()).device
        gen_device = generator.device if generator is not None else device
        z = torch.randn(n, self.cfg.latent_dim, generator=generator, device=gen_device)
        return self.decode(z.to(device))

    def vae_terms(self, x: Tensor, logits: Tensor, mean: Tensor,
                  log_var: Tensor) -> dict[str, Tensor]:
        """The book's loss terms, batch means: reconstruction = BCE per element,
        latent = beta * KL / n_inputs per image, loss = their sum."""
        reconstruction = F.binary_cross_entropy_with_logits(logits, x)
        latent = self.cfg.beta * kl_divergence(mean, log_var).mean() / self.n_inputs
        return {"reconstruction": reconstruction, "latent": latent,
                "loss": reconstruction + latent}

    def losses(self, x: Tensor) -> dict[str, Tensor]:
        """Training terms with z sampled from the global RNG (exact resume)."""
        mean, log_var = self.posterior(x)
        logits = self.decoder(reparameterize(mean, log_var))
        return self.vae_terms(x, logits, mean, log_var)

    def eval_step(self, x, y):
        """Keras-comparable validation: loss (= reconstruction + latent), its terms and the
        rounded accuracy of the sampled reconstruction; z uses noise seeded by eval_seed."""
        mean, log_var = self.posterior(x)
        eps = seeded_normal(mean.shape, self.cfg.eval_seed, mean)
        logits = self.decoder(reparameterize(mean, log_var, eps))
        terms = self.vae_terms(x, logits, mean, log_var)
        terms["rounded_accuracy"] = metrics.rounded_accuracy(x, torch.sigmoid(logits))
        return terms


def _dense_networks(cfg: VAEConfig, shape: tuple[int, ...]):
    """(encoder body, its width, decoder): x -> hidden[-1] features; z -> logits (B, *shape)."""
    sizes = [math.prod(shape), *cfg.hidden]
    body = nn.Sequential(nn.Flatten(), mlp(sizes, cfg.activation, cfg.activation))
    decoder = nn.Sequential(mlp([cfg.latent_dim, *sizes[::-1]], cfg.activation, None),
                            nn.Unflatten(1, shape))
    return body, sizes[-1], decoder


def _conv_networks(cfg: VAEConfig, shape: tuple[int, ...]):
    """conv_ae's stages: [Conv2d same + act + MaxPool2d(2)] per filter, flattened; decoder
    Dense(latent -> c*h*w, act) then Keras-aligned stride-2 transposed convs back to shape."""
    channels, sizes = shape[0], stage_sizes(shape[1:], len(cfg.filters))
    body = nn.Sequential(*pool_stages(channels, cfg.filters, cfg.kernel, cfg.activation),
                         nn.Flatten())
    code_shape = (cfg.filters[-1], *sizes[-1])
    features = math.prod(code_shape)
    decoder = nn.Sequential(nn.Linear(cfg.latent_dim, features), activation(cfg.activation),
                            nn.Unflatten(1, code_shape),
                            *upsample_stages(cfg.filters[::-1], channels, cfg.kernel,
                                             sizes[-2::-1], cfg.activation, None))
    return body, features, decoder


# Book: RMSprop() = lr 0.001, rho 0.9, epsilon 1e-7; fit(epochs=25, batch_size=128).
_BOOK_TRAIN = {"optimizer": "rmsprop", "lr": 1e-3, "rho": 0.9, "eps": 1e-7, "epochs": 25,
               "batch_size": 128}
VAE_RECIPES = {
    "book": {"train": dict(_BOOK_TRAIN)},
    # Measured (1 CPU thread, seeds 42/1/2/3): val loss 0.3141/0.3140/0.3149/0.3140 in
    # about 25 s; the book recipe gives 0.3168/0.3125/0.3141/0.3138 in 80-94 s.
    "fast": {"train": {"optimizer": "adam", "lr": 1e-3, "epochs": 10, "batch_size": 128}},
}
CONV_VAE_RECIPES = {
    # No conv VAE in the book: the book VAE's training on conv_ae's architecture
    # (about 30 s per epoch on 1 CPU thread: 12-13 minutes).
    "book": {"train": dict(_BOOK_TRAIN)},
    # Measured (1 CPU thread, seed 42): val loss 0.3172, rounded acc 0.920 in 4.3 minutes.
    "fast": {"train": {"optimizer": "adam", "lr": 1e-3, "epochs": 8, "batch_size": 128}},
}

register("vae", VAEConfig,
         "Variational autoencoder 784-150-100-(10 Gaussian)-100-150-784, SELU, ELBO loss",
         VAE_RECIPES, {"model": {"hidden": [16, 8], "latent_dim": 2}})(VariationalAutoencoder)
register("conv_vae", ConvVAEConfig,
         "Convolutional VAE: conv_ae's conv stages and transposed convs, Gaussian latent",
         CONV_VAE_RECIPES,
         {"model": {"filters": [4, 4, 4], "latent_dim": 2}})(VariationalAutoencoder)
