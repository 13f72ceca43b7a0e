"""GANs of book ch. 17 ("Generative Adversarial Networks"): ``gan`` (dense) and ``dcgan``
(deep convolutional), one `GAN` base that writes the book's two-phase step once.

Book step (``train_gan``), per batch of B real images:
  phase 1  D trains on B fakes G(z) (label 0) and the B reals (label 1), fakes detached;
  phase 2  G trains through the frozen D on B new codings, labels 1 for the fakes.
The losses are a strategy object chosen by ``model.loss`` (`gan_losses`): the book's
binary cross-entropy on D's logits ("bce", the default), "wgan-gp", "hinge" and
"logistic" (+ R1); D's penalties (gradient penalty, R1) are added to its phase-1 loss and
G steps every ``n_critic``-th batch where the loss says so (a checkpointed counter). D
scores fakes and reals in two calls (no BatchNorm in D): minibatch discrimination then
compares fakes with fakes and reals with reals (Salimans et al. 2016).

Choices, where the book leaves them open:
- Frozen D (phase 2): D's parameters have requires_grad off and only G's optimizer steps;
  D stays in training mode, so its dropout is active (Keras ``trainable=False`` freezes
  weights but not dropout). D has no BatchNorm, so there is no BN mode to choose.
- G is in training mode in both phases (its BatchNorm uses batch statistics; the phase-1
  fakes are made under no_grad). The book's ``generator(noise)`` runs in Keras's inference
  mode, with lagging moving statistics: D would train on fakes G never produces in phase 2.
  So G's BN moving statistics get two updates per step (phases 1 and 2) instead of one.
- All noise (codings, dropout, replay draws, WGAN-GP alphas) comes from torch's global RNG:
  the engine's checkpointed RNG state gives bitwise-exact resume. `eval_step` draws its fakes
  from a `torch.Generator` seeded with ``model.eval_seed`` on every call: validation numbers
  are reproducible and do not disturb the training noise.

Options (config fields, off by default, the book's tricks against mode collapse):
- ``conditional``: class-conditional GAN (Mirza & Osindero 2014; book exercise 11). The
  one-hot label (K = n_classes) is appended to G's codings and to D's input: as K extra
  features after flattening (dense D) or as K constant image planes (conv D). Fakes take the
  labels of the real batch. `generate(n, labels)` then makes images of the given classes.
- ``replay_fraction`` / ``replay_size``: experience replay, see `gan_parts.ReplayBuffer`.
- ``minibatch_kernels``: minibatch discrimination before D's last layer (refused by the
  losses with gradient penalties, which need per-sample scores).

Init: `Model.init_weights` (Keras's Glorot-uniform kernels, zero biases) once G and D are
built; minibatch discrimination's T keeps its N(0, 0.05^2) draw.
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentforge.errors import ConfigError, DataError
from latentforge.models.base import Model
from latentforge.models.conv_blocks import strided_stages, upsample_stages
from latentforge.models.gan_config import DCGANConfig, DenseGANConfig, GANBaseConfig
from latentforge.models.gan_losses import ADVERSARIAL_LOSSES
from latentforge.models.gan_parts import Discriminator, ReplayBuffer
from latentforge.models.base import evaluating
from latentforge.models.layers import mlp
from latentforge.registry import register
from latentforge.training.optim import make_optimizer


class GAN(Model):
    """Generator + discriminator with the book's two-phase step.

    Subclasses build the networks: `build_generator(n_labels)` maps (B, latent_dim + n_labels)
    to images (B, *sample_shape) in the model range, `build_discriminator(n_labels)` returns
    a `Discriminator`. The model range is [0, 1] (sigmoid G) or [-1, 1] when `tanh_range`
    (tanh G; reals are rescaled x * 2 - 1). Data in and out of the public methods is [0, 1].
    """

    CAPABILITIES = frozenset({"generate", "decode", "discriminate"})
    tanh_range = False

    def capabilities(self) -> frozenset[str]:
        """Model.capabilities, plus "conditional" when G and D take class labels."""
        return super().capabilities() | ({"conditional"} if self.cfg.conditional else set())

    def __init__(self, cfg: GANBaseConfig, sample_shape):
        super().__init__(cfg, sample_shape)
        cfg.validate()
        n_labels = cfg.n_classes if cfg.conditional else 0
        self.generator = self.build_generator(n_labels)
        self.discriminator = self.build_discriminator(n_labels)
        self.replay = (ReplayBuffer(cfg.replay_size, self.sample_shape)
                       if cfg.replay_fraction > 0 else None)
        self.adversarial_loss = ADVERSARIAL_LOSSES[cfg.loss](cfg)
        if self.adversarial_loss.n_critic is not None:
            self.register_buffer("critic_steps", torch.zeros((), dtype=torch.int64))

    def build_generator(self, n_labels: int) -> nn.Module:
        raise NotImplementedError

    def build_discriminator(self, n_labels: int) -> Discriminator:
        raise NotImplementedError

    # ------------------------------------------------------------------ engine contract

    def ema_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Only G's parameters are averaged by ``train.ema_decay`` (samples come from the
        averaged G; D keeps its raw weights, also in the averaged checkpoint)."""
        return [(f"generator.{name}", p)
                for name, p in self.generator.named_parameters(remove_duplicate=False)]

    def configure_optimizers(self, train_cfg) -> dict[str, torch.optim.Optimizer]:
        """{"discriminator", "generator"}: train.optimizer each (book: two RMSprop)."""
        d_cfg = replace(train_cfg, lr=self.cfg.d_lr) if self.cfg.d_lr else train_cfg
        g_cfg = replace(train_cfg, lr=self.cfg.g_lr) if self.cfg.g_lr else train_cfg
        return {"discriminator": make_optimizer(self.discriminator.parameters(), d_cfg),
                "generator": make_optimizer(self.generator.parameters(), g_cfg)}

    def train_step(self, x: Tensor, y: Tensor | None, step) -> dict[str, Tensor]:
        """x: (B, *sample_shape) in [0, 1], y: (B,) labels (conditional only). Phase 1 (D),
        then phase 2 (G; every n_critic-th step when the loss has one). Returns detached
        batch means: loss = d_loss + g_loss, d_loss, g_loss and the adversarial loss's
        metrics and penalties (`gan_losses`; on critic-only steps g_loss is G's loss on the
        fresh fakes without a G step)."""
        labels = self._checked_labels(y)
        real = self.to_model(x)
        fake, fake_labels, n_fresh = self._fakes_for_d(len(x), labels)
        terms, d_fake = self._d_step(real, labels, fake, fake_labels, step)
        if self._g_step_due():
            terms["g_loss"] = self._g_step(len(x), labels, step)
        else:
            terms["g_loss"] = self.adversarial_loss.g_loss(d_fake[:n_fresh])
        terms["loss"] = terms["d_loss"] + terms["g_loss"]
        return {k: v.detach() for k, v in terms.items()}

    def eval_step(self, x: Tensor, y: Tensor | None) -> dict[str, Tensor]:
        """D's losses and accuracies on real x (B, *sample_shape) and on B fakes from codings
        seeded with `eval_seed` (same fakes on every call; no penalties: they need
        gradients)."""
        labels = self._checked_labels(y)
        gen = torch.Generator(device=x.device).manual_seed(self.cfg.eval_seed)
        d_fake = self.score(self._fake(len(x), labels, gen), labels)
        terms = self.adversarial_loss.d_loss(self.score(self.to_model(x), labels), d_fake)
        terms["g_loss"] = self.adversarial_loss.g_loss(d_fake)
        terms["loss"] = terms["d_loss"] + terms["g_loss"]
        return terms

    # ------------------------------------------------------------------ public use

    @torch.no_grad()
    def generate(self, n: int, labels=None, generator: torch.Generator | None = None) -> Tensor:
        """n images (n, *sample_shape) in [0, 1] from G in eval mode.

        labels (conditional GANs): an int (all n of that class), a sequence or tensor (n,),
        or None (classes 0, 1, ..., K-1, 0, ... in turn). generator: the RNG of the codings
        (default: torch's global RNG).
        """
        labels = self._generation_labels(n, labels)
        with evaluating(self):
            return self.to_data(self._fake(n, labels, generator))

    @torch.no_grad()
    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's probability that each image is real: x (n, *sample_shape) in [0, 1] -> (n,),
        eval mode (no dropout); for losses other than "bce" the sigmoid of the raw score
        (the same ranking).
        With minibatch discrimination the scores depend on the groups of x.
        labels: (n,), required by (and only by) conditional GANs."""
        if labels is not None and not self.cfg.conditional:
            raise ConfigError("labels need a conditional GAN (model.conditional=true).")
        labels = self._checked_labels(labels)
        with evaluating(self):
            return torch.sigmoid(self.score(self.to_model(x), labels))

    @property
    def coding_dim(self) -> int:
        """Size of G's codings z (without the one-hot labels of a conditional GAN)."""
        return self.cfg.latent_dim

    def decode(self, z: Tensor, labels=None) -> Tensor:
        """G on given codings: z (n, coding_dim) -> images (n, *sample_shape) in [0, 1], in
        the model's current mode, with autograd as the caller has it (like an autoencoder's
        decode; used for latent interpolations). labels: as in `generate`."""
        device = next(self.parameters()).device
        return self.to_data(self._g(z.to(device), self._generation_labels(len(z), labels)))

    def score(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's raw scores (B,) of images x in the model range (logits / critic values)."""
        return self.discriminator(x, self._onehot(labels))

    def to_model(self, x: Tensor) -> Tensor:
        """Data range [0, 1] -> model range ([-1, 1] for tanh generators)."""
        return x * 2 - 1 if self.tanh_range else x

    def to_data(self, g: Tensor) -> Tensor:
        """Model range -> data range [0, 1]."""
        return (g + 1) / 2 if self.tanh_range else g

    # ------------------------------------------------------------------ the two phases

    def _fake(self, n: int, labels: Tensor | None,
              generator: torch.Generator | None = None) -> Tensor:
        """G(z) for n codings z ~ N(0, I): (n, *sample_shape) in the model range. z is drawn
        on the generator's device (a CPU generator gives the same codings on any device)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.cfg.latent_dim, generator=generator,
                        device=device if generator is None else generator.device).to(device)
        return self._g(z, labels)

    def _g(self, z: Tensor, labels: Tensor | None) -> Tensor:
        """G(z [+ one-hot labels]): z (n, latent_dim) -> (n, *sample_shape), model range."""
        onehot = self._onehot(labels)
        return self.generator(z if onehot is None else torch.cat([z, onehot], 1))

    def _fakes_for_d(self, n: int, labels: Tensor | None):
        """Phase-1 fakes (n, ...) without gradients: fresh ones, then replayed past ones
        (the fresh ones enter the buffer first). Returns (fakes, their labels, n_fresh)."""
        n_old = min(round(self.cfg.replay_fraction * n), n - 1) if self.replay else 0
        fresh_labels = None if labels is None else labels[:n - n_old]
        with torch.no_grad():
            fresh = self._fake(n - n_old, fresh_labels)
        if not n_old:
            return fresh, fresh_labels, n
        self.replay.push(self.to_data(fresh), fresh_labels)
        old, old_labels = self.replay.sample(n_old)
        fake_labels = None if labels is None else torch.cat([fresh_labels, old_labels])
        return torch.cat([fresh, self.to_model(old)]), fake_labels, n - n_old

    def _d_step(self, real, labels, fake, fake_labels, step):
        """Phase 1: one optimizer step of D on its loss plus the weighted penalties, whose
        input gradients are taken at the stepper's loss scale (16-mixed; 1.0 otherwise).
        Returns (loss terms, D's scores of the fakes)."""
        d_real, d_fake = self.score(real, labels), self.score(fake, fake_labels)
        terms = self.adversarial_loss.d_loss(d_real, d_fake)
        def critic(xh: Tensor) -> Tensor:
            return self.score(xh, labels)

        scale = 1.0 if step.precision is None else step.precision.loss_scale()
        penalties = self.adversarial_loss.penalties(critic, real, fake, scale)
        for name, (weight, value) in penalties.items():
            terms[name] = value
            terms["d_loss"] = terms["d_loss"] + weight * value
        step.step("discriminator", terms["d_loss"])
        return terms, d_fake.detach()

    def _g_step(self, n: int, labels: Tensor | None, step) -> Tensor:
        """Phase 2: G through the frozen D (no gradient reaches D's weights)."""
        self.discriminator.requires_grad_(False)
        try:
            g_loss = self.adversarial_loss.g_loss(self.score(self._fake(n, labels), labels))
            step.step("generator", g_loss)
        finally:
            self.discriminator.requires_grad_(True)
        return g_loss

    def _g_step_due(self) -> bool:
        """Whether G steps now: always, or every n_critic-th D step (the counted loss)."""
        n_critic = self.adversarial_loss.n_critic
        if n_critic is None:
            return True
        self.critic_steps += 1
        return int(self.critic_steps) % n_critic == 0

    # ------------------------------------------------------------------ labels

    def _onehot(self, labels: Tensor | None) -> Tensor | None:
        if labels is None:
            return None
        return F.one_hot(labels, self.cfg.n_classes).to(next(self.parameters()).dtype)

    def _checked_labels(self, y: Tensor | None) -> Tensor | None:
        """The labels a conditional GAN needs (None otherwise); bad labels raise DataError."""
        if not self.cfg.conditional:
            return None
        if y is None:
            raise DataError("The conditional GAN (model.conditional=true) needs class labels, "
                            "but the data has none; use a labelled source or set "
                            "model.conditional=false.")
        k = self.cfg.n_classes
        if bool(((y < 0) | (y >= k)).any()):
            raise DataError(f"Labels must lie in [0, {k}) (model.n_classes={k}), got "
                            f"{int(y.min())}..{int(y.max())}; set model.n_classes.")
        return y

    def _generation_labels(self, n: int, labels) -> Tensor | None:
        if not self.cfg.conditional:
            if labels is not None:
                raise ConfigError("labels need a conditional GAN (model.conditional=true).")
            return None
        device = next(self.parameters()).device
        if labels is None:
            return torch.arange(n, device=device) % self.cfg.n_classes
        labels = torch.as_tensor(labels, dtype=torch.int64, device=device)
        labels = labels.expand(n) if labels.dim() == 0 else labels
        if labels.shape != (n,):
            raise DataError(f"generate({n}, labels): give one label per image, got "
                            f"{tuple(labels.shape)}")
        return self._checked_labels(labels)


class DenseGAN(GAN):
    """Book's GAN: flat G and D (any sample shape; G's sigmoid output is in [0, 1])."""

    def build_generator(self, n_labels: int) -> nn.Module:
        cfg, n_out = self.cfg, math.prod(self.sample_shape)
        sizes = [cfg.latent_dim + n_labels, *cfg.g_hidden, n_out]
        return nn.Sequential(mlp(sizes, cfg.activation, "sigmoid"),
                             nn.Unflatten(1, self.sample_shape))

    def build_discriminator(self, n_labels: int) -> Discriminator:
        cfg = self.cfg
        sizes = [math.prod(self.sample_shape) + n_labels, *cfg.d_hidden]
        return Discriminator(mlp(sizes, cfg.activation, cfg.activation), sizes[-1],
                             "features", _minibatch(cfg))


class DCGAN(GAN):
    """Book's DCGAN on images (C, H, W): tanh G, images rescaled to [-1, 1] for D."""

    tanh_range = True

    def __init__(self, cfg: DCGANConfig, sample_shape):
        cfg.validate()
        _check_dcgan_shape(cfg, tuple(sample_shape))
        super().__init__(cfg, sample_shape)

    def build_generator(self, n_labels: int) -> nn.Module:
        cfg, (c, h, w) = self.cfg, self.sample_shape
        sizes = [(h >> i, w >> i) for i in range(len(cfg.g_channels), -1, -1)]  # smallest 1st
        start = (cfg.g_channels[0], *sizes[0])
        return nn.Sequential(
            nn.Linear(cfg.latent_dim + n_labels, math.prod(start)), nn.Unflatten(1, start),
            *upsample_stages(cfg.g_channels, c, cfg.kernel, sizes[1:], "selu", "tanh",
                             norm=lambda n: nn.BatchNorm2d(n, momentum=cfg.bn_momentum,
                                                           eps=cfg.bn_eps)))

    def build_discriminator(self, n_labels: int) -> Discriminator:
        cfg, (c, h, w) = self.cfg, self.sample_shape
        layers, (h, w) = strided_stages(c + n_labels, cfg.d_channels, cfg.kernel, (h, w),
                                        cfg.leaky_slope, cfg.dropout)
        return Discriminator(nn.Sequential(*layers, nn.Flatten()), cfg.d_channels[-1] * h * w,
                             "planes", _minibatch(cfg))


def _minibatch(cfg: GANBaseConfig) -> tuple[int, int, int]:
    return cfg.minibatch_kernels, cfg.minibatch_dim, cfg.minibatch_group


def _check_dcgan_shape(cfg: DCGANConfig, shape: tuple[int, ...]) -> None:
    if len(shape) != 3:
        raise ConfigError(f"dcgan needs images of shape (C, H, W); the data has samples of "
                          f"shape {shape}. Use the dense 'gan' for tables.")
    step = 2 ** len(cfg.g_channels)
    if shape[1] % step or shape[2] % step:
        raise ConfigError(
            f"dcgan's generator doubles the size {len(cfg.g_channels)} times from a "
            f"(H/{step}, W/{step}) start, so height and width must be divisible by {step}; "
            f"the data has {shape[1]}x{shape[2]}. Resize the images or change model.g_channels.")


# Keras RMSprop() defaults: lr 0.001, rho 0.9, epsilon 1e-7 (TrainConfig's rho/eps).
_BOOK_TRAIN = {"optimizer": "rmsprop", "lr": 1e-3, "epochs": 50, "batch_size": 32}

register(
    "gan", DenseGANConfig,
    "GAN: dense generator 30-100-150-784 and discriminator 784-150-100-1, SELU (book)",
    {
        # Book: binary cross-entropy, RMSprop each, batch 32, train_gan(n_epochs=50).
        # Measured on one CPU thread: ~6.7 s/epoch (3.5 ms/step), so the book's 50 epochs
        # take ~6 min; `fast` stops at 10 (~1 min), shapes clear but noisier.
        "book": {"train": dict(_BOOK_TRAIN)},
        "fast": {"train": {**_BOOK_TRAIN, "epochs": 10}},
        # Gulrajani et al. 2017: Adam(1e-4, betas 0, 0.9), lambda 10, 5 critic steps.
        "wgan_gp": {"model": {"loss": "wgan-gp"},
                    "train": {"optimizer": "adam", "lr": 1e-4, "betas": [0.0, 0.9],
                              "epochs": 50, "batch_size": 64}},
    },
    {"model": {"latent_dim": 4, "g_hidden": [8], "d_hidden": [8], "replay_fraction": 0.5,
               "replay_size": 40}},
)(DenseGAN)

register(
    "dcgan", DCGANConfig,
    "DCGAN: dense + 2 transposed-conv generator (BN, SELU, tanh), 2-conv discriminator",
    {
        # Book: binary cross-entropy, RMSprop each, batch 32, train_gan(n_epochs=50).
        # Measured on one CPU thread: ~173 ms/step, ~5 min/epoch: the book's 50 epochs are
        # for a GPU. `fast` is one book epoch: shoes, trousers and shirts are recognisable.
        "book": {"train": dict(_BOOK_TRAIN)},
        "fast": {"train": {**_BOOK_TRAIN, "epochs": 1}},
        # WGAN-GP critic: no dropout (the paper's DCGAN critic has none).
        "wgan_gp": {"model": {"loss": "wgan-gp", "dropout": 0.0},
                    "train": {"optimizer": "adam", "lr": 1e-4, "betas": [0.0, 0.9],
                              "epochs": 20, "batch_size": 64}},
    },
    {"model": {"latent_dim": 8, "g_channels": [8, 4], "d_channels": [4, 8]}},
)(DCGAN)
