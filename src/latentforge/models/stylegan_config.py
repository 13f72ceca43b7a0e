"""`StyleGANConfig`: the fields of model `stylegan` (Karras, Laine & Aila 2019,
"A Style-Based Generator Architecture for Generative Adversarial Networks",
arXiv:1812.04948) on top of `GANBaseConfig`, and its `validate()`.

The defaults are the `book` recipe: the paper's choices scaled to Fashion-MNIST padded to
32x32 on a CPU (the sources of every value are in the class docstring); the `paper`
recipe restores the paper's network sizes (models/stylegan.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from latentforge.models.checks import check_at_least, check_fraction, require
from latentforge.models.gan_config import GANBaseConfig


@dataclass
class StyleGANConfig(GANBaseConfig):
    """StyleGAN (the paper's values in brackets; the defaults are scaled to 32x32 data).

    latent_dim: size of z ~ N(0, I) [512]; 128 here.
    w_dim: size of the intermediate latent w [512]; 128 here.
    mapping_layers / mapping_dim: depth and hidden width of the mapping network z -> w
        [8 x 512]; 8 x 128 here (recipe `paper`: 8 x 512).
    mapping_lr_mul: learning-rate multiplier of the mapping network [0.01] (equalized
        layers' runtime scale, `style_layers.EqualizedLinear`).
    fmap_base / fmap_max: feature maps at resolution r = min(fmap_max, fmap_base // r)
        (at least 1) in G and D [8192 / 512: 512 up to 16x16, 256 at 32x32]; 2048 / 128
        here (128 up to 16x16, 64 at 32x32).
    mixing_prob: probability of style mixing regularisation per training batch [0.9]:
        two w's from two z's, one random crossover layer for the batch.
    w_avg_decay: decay of the tracked mean w (`StyleGAN.mean_w`) [0.995].
    truncation_cutoff: apply the truncation psi only to the first this many style inputs
        (None: all) [8 for the paper's truncated figures: the coarse and middle layers].
    mbstd_group: group size of D's minibatch standard deviation layer [4].
    loss / r1_gamma: "logistic" (non-saturating) + R1 [gamma 10 at 1024x1024 (FFHQ)].
        R1 acts on the gradient over every pixel, so gamma is scaled with the data: 0.01
        here, the value StyleGAN2-ADA (Karras et al. 2020) used for 32x32 CIFAR-10 (its
        rule of thumb 0.0002 * resolution^2 / batch gives 0.0064 at 32x32, batch 32).
    """

    latent_dim: int = 128
    loss: str = "logistic"
    r1_gamma: float = 0.01
    w_dim: int = 128
    mapping_layers: int = 8
    mapping_dim: int = 128
    mapping_lr_mul: float = 0.01
    fmap_base: int = 2048
    fmap_max: int = 128
    mixing_prob: float = 0.9
    w_avg_decay: float = 0.995
    truncation_cutoff: int | None = None
    mbstd_group: int = 4

    def validate(self) -> None:
        """ConfigError for values no StyleGAN can use (the image shape is checked when the
        model is built)."""
        require(not self.conditional, "conditional",
                "false: stylegan is unconditional (class-conditional GANs: gan, dcgan)",
                self.conditional)
        require(self.minibatch_kernels == 0, "minibatch_kernels",
                "0: stylegan's D has the minibatch standard deviation layer instead "
                "(model.mbstd_group)", self.minibatch_kernels)
        super().validate()
        for name in ("w_dim", "mapping_layers", "mapping_dim", "fmap_base", "fmap_max",
                     "mbstd_group"):
            check_at_least(name, getattr(self, name), 1)
        require(0 < self.mapping_lr_mul <= 1, "mapping_lr_mul", "in (0, 1]",
                self.mapping_lr_mul)
        check_fraction("mixing_prob", self.mixing_prob, high_closed=True)
        check_fraction("w_avg_decay", self.w_avg_decay)
        if self.truncation_cutoff is not None:
            check_at_least("truncation_cutoff", self.truncation_cutoff, 1)
