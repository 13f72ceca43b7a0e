"""The GANs' config dataclasses: `GANBaseConfig` (the fields every GAN shares: latent size,
adversarial loss, the book's tricks against mode collapse), `DenseGANConfig` (the book's
GAN) and `DCGANConfig` (the book's DCGAN). `validate()` refuses values no GAN can use.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from latentforge.config import check_seed
from latentforge.models.checks import (check_activation, check_at_least, check_choice,
                                       check_fraction, check_sizes, require)
from latentforge.models.gan_losses import ADVERSARIAL_LOSSES


@dataclass
class GANBaseConfig:
    """Fields every GAN shares (defaults: the book's plain GAN, all tricks off).

    latent_dim: size of the noise vector z ~ N(0, I) (book's ``codings_size``: 30 for the
        GAN, 100 for DCGAN; old configs' ``codings`` key is read as latent_dim).
    loss: the adversarial loss, a key of `gan_losses.ADVERSARIAL_LOSSES`: "bce" (book),
        "wgan-gp" (Gulrajani et al. 2017), "hinge" (Lim & Ye 2017) or "logistic"
        (non-saturating, with R1: Mescheder et al. 2018).
    gp_weight / n_critic: WGAN-GP's lambda (paper: 10) and critic steps per generator step
        (paper: 5); used with loss="wgan-gp" only.
    drift_weight: WGAN-GP's drift term epsilon_drift * E[D(x_real)^2] in D's loss (ProGAN,
        Karras et al. 2018, sec. A.1: 0.001; 0 = off, the default); used with
        loss="wgan-gp" only, reported as "drift" (E[D(x_real)^2]) when on.
    r1_gamma: R1's gamma (the penalty is gamma / 2 * E||grad_x D(x)||^2 on reals; paper: 10;
        0 = off); used with loss="logistic" only.
    conditional / n_classes: class-conditional G and D (book exercise 11); labels in
        [0, n_classes) are required in the data.
    replay_fraction: share of D's fakes drawn from a buffer of past fakes (0 = off; the
        rest are fresh). replay_size: fakes the buffer keeps (uint8: replay_size *
        prod(sample_shape) bytes in every weights file, 7.8 MB for 10,000 28x28 fakes).
    minibatch_kernels / minibatch_dim: Salimans et al.'s B and C (0 = off; paper: 100, 5).
    minibatch_group: samples compared with each other (the book's batch, 32).
    d_lr / g_lr: learning rate of D's / G's optimizer; None = train.lr (book: one lr).
    eval_seed: seed of the codings of validation fakes.
    """

    latent_dim: int = 30
    loss: str = "bce"
    gp_weight: float = 10.0
    n_critic: int = 5
    drift_weight: float = 0.0
    r1_gamma: float = 10.0
    conditional: bool = False
    n_classes: int = 10
    replay_fraction: float = 0.0
    replay_size: int = 10000
    minibatch_kernels: int = 0
    minibatch_dim: int = 5
    minibatch_group: int = 32
    d_lr: float | None = None
    g_lr: float | None = None
    eval_seed: int = 0

    def validate(self) -> None:
        """ConfigError for option values no GAN can use."""
        check_choice("loss", self.loss, tuple(ADVERSARIAL_LOSSES))
        check_at_least("latent_dim", self.latent_dim, 1)
        if self.conditional:
            check_at_least("n_classes", self.n_classes, 2)
        check_fraction("replay_fraction", self.replay_fraction)
        for name, low in (("replay_size", 1), ("minibatch_kernels", 0), ("minibatch_dim", 1),
                          ("minibatch_group", 2), ("gp_weight", 0), ("n_critic", 1),
                          ("r1_gamma", 0), ("drift_weight", 0)):
            check_at_least(name, getattr(self, name), low)
        for name in ("d_lr", "g_lr"):
            value = getattr(self, name)
            require(value is None or 0 < value < math.inf, name, "positive and finite, or null",
                    value)
        check_seed(self.eval_seed, "model.eval_seed")
        ADVERSARIAL_LOSSES[self.loss].check(self)


@dataclass
class DenseGANConfig(GANBaseConfig):
    """Book's GAN: G Dense 100 -> 150 -> 784 sigmoid, D Dense 150 -> 100 -> 1, SELU.

    g_hidden / d_hidden: hidden layer sizes of G and D; activation: theirs (book: "selu").
    """

    g_hidden: tuple[int, ...] = (100, 150)
    d_hidden: tuple[int, ...] = (150, 100)
    activation: str = "selu"

    def validate(self) -> None:
        """ConfigError for values no dense GAN can use (empty hidden lists are allowed)."""
        super().validate()
        check_sizes("g_hidden", self.g_hidden, min_len=0)
        check_sizes("d_hidden", self.d_hidden, min_len=0)
        check_activation("activation", self.activation)


@dataclass
class DCGANConfig(GANBaseConfig):
    """Book's DCGAN (latent_dim 100).

    g_channels: G = Dense(g_channels[0] * H/4 * W/4) -> reshape, then per entry BatchNorm ->
        Conv2DTranspose(next entry or the image's channels, kernel, stride 2, "same"),
        SELU between, tanh last (book: 128, 64). H and W must be divisible by
        2 ** len(g_channels).
    d_channels: D = per entry Conv2D(entry, kernel, stride 2, "same") -> LeakyReLU(0.2) ->
        Dropout(dropout), then Flatten -> Dense(1) (book: 64, 128; dropout 0.4).
    kernel: 5 (book). bn_momentum / bn_eps: Keras BatchNormalization defaults (momentum
        0.99 = torch 0.01, epsilon 1e-3). Images are rescaled to [-1, 1] inside the model.
    """

    latent_dim: int = 100
    g_channels: tuple[int, ...] = (128, 64)
    d_channels: tuple[int, ...] = (64, 128)
    kernel: int = 5
    dropout: float = 0.4
    leaky_slope: float = 0.2
    bn_momentum: float = 0.01
    bn_eps: float = 1e-3

    def validate(self) -> None:
        """ConfigError for values no DCGAN can use (the image size is checked when the
        model is built)."""
        super().validate()
        check_sizes("g_channels", self.g_channels, what="channel counts")
        check_sizes("d_channels", self.d_channels, what="channel counts")
        check_at_least("kernel", self.kernel, 2)
        check_fraction("dropout", self.dropout)
        check_at_least("leaky_slope", self.leaky_slope, 0)
        check_fraction("bn_momentum", self.bn_momentum, high_closed=True)
        require(0 < self.bn_eps < math.inf, "bn_eps", "positive and finite", self.bn_eps)
