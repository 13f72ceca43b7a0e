"""`ProGANConfig`: the `progan` model's fields (Karras et al. 2018, "Progressive Growing of
GANs for Improved Quality, Stability, and Variation", ICLR 2018, arXiv:1710.10196) on top
of `GANBaseConfig`, and its `validate()`.
"""
from __future__ import annotations

from dataclasses import dataclass

from latentforge.models.checks import check_at_least, check_sizes, require
from latentforge.models.gan_config import GANBaseConfig


@dataclass
class ProGANConfig(GANBaseConfig):
    """ProGAN (defaults: the paper's networks, Table 2, at resolutions up to 32x32).

    latent_dim: size of z (paper: 512).
    fmap_base / fmap_max: channels at resolution r = min(fmap_max, fmap_base // r) in both
        networks (paper: 16384 and 512, i.e. 512 channels up to 32x32, 256 at 64x64, ...).
    fade_images: images over which a new resolution's block fades in (alpha 0 -> 1).
    stable_images: images of each stabilisation phase (the 4x4 start has only this one).
        Paper: 800k each; 0 and 0 train at full resolution from the start.
    batch_sizes: batch size per resolution, from 4x4 up (paper: 16 up to 128x128);
        resolutions past the list's end (and an empty list) use train.batch_size. The engine
        asks at the start of every epoch, so a phase that starts mid-epoch takes its batch
        size at the next epoch.
    mbstd_group: group size of the minibatch standard deviation layer in D (paper: 4; a
        batch not divisible by it uses its largest divisor below it).
    leaky_slope: the LeakyReLU slope of both networks (paper: 0.2).
    growth_samples: images of G kept (uint8, in the weights) at the end of each growth
        phase, from the fixed codings of `eval_seed`, for `latentforge growth` (0 = none).
    Loss defaults: WGAN-GP (lambda 10) with one critic step per G step and the drift term
    0.001 (paper, sec. A.1). Conditional labels and minibatch discrimination are refused:
    ProGAN's D has the minibatch standard deviation layer instead.
    """

    latent_dim: int = 512
    loss: str = "wgan-gp"
    n_critic: int = 1
    drift_weight: float = 0.001
    fmap_base: int = 16384
    fmap_max: int = 512
    fade_images: int = 800_000
    stable_images: int = 800_000
    batch_sizes: tuple[int, ...] = ()
    mbstd_group: int = 4
    leaky_slope: float = 0.2
    growth_samples: int = 16

    def validate(self) -> None:
        """ConfigError for values no ProGAN can use (the image shape is checked when the
        model is built)."""
        super().validate()
        for name, low in (("fmap_base", 4), ("fmap_max", 1), ("fade_images", 0),
                          ("stable_images", 0), ("mbstd_group", 1), ("leaky_slope", 0),
                          ("growth_samples", 0)):
            check_at_least(name, getattr(self, name), low)
        check_sizes("batch_sizes", self.batch_sizes, min_len=0, what="batch sizes")
        require(not self.conditional, "conditional", "false (progan is unconditional)",
                self.conditional)
        require(self.minibatch_kernels == 0, "minibatch_kernels",
                "0 (progan's D has the minibatch standard deviation layer instead)",
                self.minibatch_kernels)
