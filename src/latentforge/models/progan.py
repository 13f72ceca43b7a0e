"""``progan``: progressive growing of GANs (Karras et al. 2018, "Progressive Growing of GANs
for Improved Quality, Stability, and Variation", ICLR 2018, arXiv:1710.10196), on the
`GAN` base's two-phase step.

Growth: every block of G and D is built at construction (`progan_nets`), so the optimizers
cover every parameter from the start and a checkpoint has one fixed layout. The level and
fade alpha are derived from the buffer `images_seen` (int64, in every checkpoint; advanced
by each train_step by its batch size) through `progan_growth.level_alpha`. G always returns
full-resolution images (the current resolution upsampled, nearest) and D average-pools its
input down to the current resolution, so the base's step, `generate`, evaluation and sample
metrics work unchanged. During a fade the real images D sees are faded the same way as G's
output: lerp(upsample2x(avgpool2x(x_r)), x_r, alpha) at the current resolution r (paper,
sec. 3: "we interpolate between two resolutions of the real images"), by `to_model`.
The gradient penalty is taken on the full-resolution images, as the official code does.

Model range [-1, 1] (toRGB is linear; `to_data` clips G's images to [0, 1]). Per-phase
batch sizes answer the engine's `batch_size` hook. With train.ema_decay the engine averages
G only (`GAN.ema_parameters`).

Growth figure: at the start of the first train_step after level k's growth phase ends
(`progan_growth.phase_end`), G's images of the fixed codings of `eval_seed` at level k
(alpha 1; with the averaged G when train.ema_decay is on) are stored as uint8 in the
buffer `growth_images` (n_levels, growth_samples, C, R, R), with the images seen then in
`growth_seen` (-1: not yet), so a resumed run keeps them (`latentforge growth RUN`).
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import Tensor, nn

from latentforge.errors import ConfigError
from latentforge.models.base import evaluating
from latentforge.models.gan import GAN
from latentforge.models.progan_config import ProGANConfig
from latentforge.models.progan_growth import level_alpha, phase_batch_size, phase_end
from latentforge.models.progan_nets import (GrowingDiscriminator, GrowingGenerator,
                                            downsample, upsample)
from latentforge.registry import register


class ProGAN(GAN):
    """ProGAN on square images (C, R, R), R a power of two >= 8."""

    CAPABILITIES = GAN.CAPABILITIES | {"grow"}
    tanh_range = True

    def __init__(self, cfg: ProGANConfig, sample_shape):
        cfg.validate()
        self.n_levels = _levels(tuple(sample_shape))
        super().__init__(cfg, sample_shape)
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.int64))
        n = cfg.growth_samples
        self.register_buffer("growth_images", torch.zeros(
            (self.n_levels, n, *self.sample_shape), dtype=torch.uint8))
        self.register_buffer("growth_seen", torch.full((self.n_levels,), -1,
                                                       dtype=torch.int64))

    def build_generator(self, n_labels: int) -> nn.Module:
        cfg = self.cfg
        return GrowingGenerator(cfg.latent_dim, self.sample_shape[0], self.n_levels,
                                cfg.fmap_base, cfg.fmap_max, cfg.leaky_slope)

    def build_discriminator(self, n_labels: int) -> nn.Module:
        cfg = self.cfg
        return GrowingDiscriminator(self.sample_shape[0], self.n_levels, cfg.fmap_base,
                                    cfg.fmap_max, cfg.leaky_slope, cfg.mbstd_group)

    # ------------------------------------------------------------------ growth

    def growth(self) -> tuple[int, float]:
        """(level, alpha) of the next step, from `images_seen`."""
        return level_alpha(int(self.images_seen), self.n_levels, self.cfg.fade_images,
                           self.cfg.stable_images)

    def resolution(self, level: int) -> int:
        """The side of `level`'s images: 4 * 2^level."""
        return 4 << level

    def batch_size(self, default: int) -> int:
        """The current level's entry of model.batch_sizes (else `default`)."""
        return phase_batch_size(self.growth()[0], self.cfg.batch_sizes, default)

    def train_step(self, x: Tensor, y: Tensor | None, step) -> dict[str, Tensor]:
        """Record the growth phases that ended, the base's step at the current level and
        alpha, then count the batch's images (the global batch's under torchrun: the
        engine's `step.batch_images`); adds "level" and "alpha" to the losses."""
        self._record_growth(step)
        level, alpha = self.growth()
        out = super().train_step(x, y, step)
        self.images_seen += step.batch_images or len(x)
        return {**out, "level": torch.tensor(float(level)), "alpha": torch.tensor(alpha)}

    def _g(self, z: Tensor, labels: Tensor | None) -> Tensor:
        return self.generator(z, *self.growth())

    def score(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's raw scores (B,) of full-resolution images x in the model range, at the
        current level and alpha."""
        return self.discriminator(x, *self.growth())

    def to_model(self, x: Tensor) -> Tensor:
        """Data [0, 1] -> [-1, 1]; during a fade the current-resolution image is blended
        with its half-resolution version (alpha: the new one's weight), full size again."""
        x = x * 2 - 1
        level, alpha = self.growth()
        if level == 0 or alpha >= 1:
            return x
        times = self.n_levels - 1 - level
        sharp = downsample(x, times)
        blended = torch.lerp(upsample(downsample(sharp, 1), 2), sharp, alpha)
        return upsample(blended, 2 ** times)

    def to_data(self, g: Tensor) -> Tensor:
        """[-1, 1] -> [0, 1], clipped (G's output layer is linear)."""
        return ((g + 1) / 2).clamp(0, 1)

    # ------------------------------------------------------------------ growth figure

    def growth_codings(self) -> Tensor:
        """The fixed codings of the growth figure: (growth_samples, latent_dim) from a
        generator seeded with `eval_seed`, on the model's device."""
        gen = torch.Generator().manual_seed(self.cfg.eval_seed)
        z = torch.randn(self.cfg.growth_samples, self.cfg.latent_dim, generator=gen)
        return z.to(self.images_seen.device)

    @torch.no_grad()
    def render_level(self, level: int | None = None, alpha: float = 1.0) -> Tensor:
        """G's images of `growth_codings` at `level` and `alpha` (None: the current level
        and alpha), full size, in [0, 1], G in eval mode."""
        level, alpha = self.growth() if level is None else (level, alpha)
        with evaluating(self.generator):
            return self.to_data(self.generator(self.growth_codings(), level, alpha))

    def growth_snapshots(self) -> list[tuple[int, int, Tensor]]:
        """The recorded growth phases: (resolution, images seen, images (n, C, R, R) float
        in [0, 1]) for every level whose phase has ended, lowest first."""
        return [(self.resolution(k), int(self.growth_seen[k]),
                 self.growth_images[k].float() / 255)
                for k in range(self.n_levels) if int(self.growth_seen[k]) >= 0]

    def _record_growth(self, step) -> None:
        """Store the levels whose growth phase ended and which have no images yet."""
        if not self.cfg.growth_samples:
            return
        seen, recorded = int(self.images_seen), self.growth_seen.tolist()
        due = [k for k in range(self.n_levels) if recorded[k] < 0
               and phase_end(k, self.cfg.fade_images, self.cfg.stable_images) <= seen]
        if not due:
            return
        with step.ema.swapped() if step.ema is not None else nullcontext():
            for k in due:
                self.growth_images[k] = (self.render_level(k) * 255).round().to(torch.uint8)
                self.growth_seen[k] = seen


def _levels(shape: tuple[int, ...]) -> int:
    """Levels 4x4 ... RxR of (C, R, R) images; ConfigError for any other shape."""
    if len(shape) != 3:
        raise ConfigError(f"progan needs images (C, H, W); the data has samples of shape "
                          f"{shape}. Use the dense 'gan' for tables.")
    side = shape[1]
    if shape[1] != shape[2] or side < 8 or side & (side - 1):
        target = max(8, 1 << (max(shape[1:]) - 1).bit_length())
        raise ConfigError(
            f"progan grows square images whose side is a power of two >= 8 (4x4 -> 8x8 -> "
            f"...); the data has {shape[1]}x{shape[2]} images. Pad them with --set "
            f"data.pad_to={target} or resize image folders with --set "
            f"data.image_size={target}.")
    return side.bit_length() - 2  # 8 -> 2 levels (4x4, 8x8)


# Adam(lr 1e-3, betas (0, 0.99), eps 1e-8), WGAN-GP, EMA 0.999 of G: paper sec. A.1.
_PAPER_TRAIN = {"optimizer": "adam", "lr": 1e-3, "betas": [0.0, 0.99], "eps": 1e-8,
                "ema_decay": 0.999}

register(
    "progan", ProGANConfig,
    "ProGAN: progressive growing from 4x4 (equalized lr, pixel norm, minibatch stddev, "
    "WGAN-GP + drift, EMA of G); square power-of-two images (recipes: data.pad_to=32)",
    {
        # The paper's networks (512 channels up to 32x32, latent 512), batch 16, one critic
        # step, lambda 10, drift 0.001, EMA 0.999. Scaled: 300k images per fade and per
        # stabilisation instead of 800k (the paper's count serves 1024x1024 CelebA-HQ;
        # at 32x32 = 4 levels, 7 phases = 2.1M images, about 38 passes over Fashion-MNIST's
        # 55,000 training images), and 44 epochs = the growth + ~6 epochs at 32x32.
        "book": {"model": {"fade_images": 300_000, "stable_images": 300_000},
                 "data": {"pad_to": 32},
                 "train": {**_PAPER_TRAIN, "epochs": 44, "batch_size": 16}},
        # Narrower (channels 128 at 4x4 and 8x8, 64 at 16x16, 32 at 32x32; latent 128),
        # 30k images per phase, larger batches at the cheap low resolutions: the growth
        # ends after ~4 epochs of 55,000, then 2 more. One thread, batch 32: 0.08 s/step at
        # 4x4, 1.7 s at 32x32 (the paper's widths: 84 s at batch 16). The average's decay
        # ramps up (train.ema_warmup, as StyleGAN2-ADA's ema_rampup): ~2,000 steps are
        # too few for a fixed 0.999.
        "fast": {"model": {"latent_dim": 128, "fmap_base": 1024, "fmap_max": 128,
                           "fade_images": 30_000, "stable_images": 30_000,
                           "batch_sizes": [64, 64, 32, 32]},
                 "data": {"pad_to": 32},
                 "train": {**_PAPER_TRAIN, "epochs": 6, "batch_size": 32,
                           "ema_warmup": True}},
    },
    # 8x8 digits: 2 levels, 4x4 for 16 images, the 8x8 fade over [16, 144), stable until
    # 160: 3 golden steps of 16 see alphas 1 (4x4), 0 and 0.125; the tests' epochs of 96
    # images end inside the fade (alpha 0.625); batches of 16, then 8 from epoch 2.
    {"model": {"latent_dim": 8, "fmap_base": 64, "fmap_max": 16, "fade_images": 128,
               "stable_images": 16, "batch_sizes": [16, 8], "growth_samples": 4},
     "data": {"pad_to": None}},
)(ProGAN)
