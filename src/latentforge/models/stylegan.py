"""Model ``stylegan``: StyleGAN (T. Karras, S. Laine, T. Aila, "A Style-Based Generator
Architecture for Generative Adversarial Networks", CVPR 2019, arXiv:1812.04948), the
chapter's last architecture, on the `GAN` base's two-phase step.

- G (models/stylegan_synthesis.py): mapping network z -> w (PixelNorm, `mapping_layers`
  equalized dense layers, learning rate x `mapping_lr_mul`), synthesis from a learned
  constant 4x4 with two AdaIN-styled layers per resolution up to the data's (StyleGAN 1's
  AdaIN, not StyleGAN2's modulation: see that module), per-pixel noise with learned
  per-channel scales (zero at init), bilinear upsampling, a linear toRGB at the end; no
  progressive growing. D (models/stylegan_discriminator.py): ProGAN's, with minibatch
  stddev. Equalized learning rate in both. Images are square, a power of two, at least
  8x8, with 1 or 3 channels; the model range is [-1, 1].
- Style mixing regularisation (section 3.1): in every training step (both phases, as the
  official code), with probability `mixing_prob` per batch, a second w from a second z and
  one crossover layer c ~ U{1, ..., n_styles - 1} for the batch: style inputs 0..c-1 get
  w1, c.. get w2. Otherwise every layer gets w1. Draws come from torch's global RNG (a
  resumed run continues bitwise).
- Mean w (section 3.2, truncation trick): the buffer `mean_w` (w_dim,), zero at init,
  moves towards the batch mean of w1 at every G forward of a training step:
  mean_w += (1 - w_avg_decay) * (mean(w1) - mean_w) (the paper's decay 0.995). At
  sampling, `truncate(w, psi)` = mean_w + psi * (w - mean_w), on the first
  `truncation_cutoff` style inputs only when that is set.
- Loss: model.loss "logistic" (non-saturating) + R1 (`r1_gamma`, scaled to the data: see
  models/stylegan_config.py). The recipes train Adam(lr 0.001, betas (0, 0.99), eps 1e-8)
  for both networks, and the mapping network at 0.01x through its equalized layers'
  lr multiplier (the paper's choice; no separate parameter group). EMA of G's weights for
  sampling: train.ema_decay (the official G_smoothing_kimg = 10 is a decay of
  0.5 ** (32 / 10,000) = 0.998 per step of 32 images).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import Tensor

from latentforge.errors import ConfigError, DataError
from latentforge.models.base import evaluating
from latentforge.models.gan import GAN
from latentforge.models.stylegan_config import StyleGANConfig
from latentforge.models.stylegan_discriminator import StyleDiscriminator
from latentforge.models.stylegan_synthesis import StyleGenerator
from latentforge.registry import register


def check_image_shape(shape: tuple[int, ...]) -> None:
    """ConfigError unless `shape` is (C, R, R) with C 1 or 3 and R a power of two >= 8."""
    ok = (len(shape) == 3 and shape[0] in (1, 3) and shape[1] == shape[2] and shape[1] >= 8
          and shape[1] & (shape[1] - 1) == 0)
    if not ok:
        shown = "x".join(map(str, shape))
        raise ConfigError(
            f"stylegan needs square images of 1 or 3 channels whose side is a power of two "
            f"of at least 8 (8, 16, 32, 64, ...); the data has samples of shape {shown}. Pad "
            f"them with data.pad_to (e.g. --set data.pad_to=32 for 28x28 Fashion-MNIST) or "
            f"resize them with data.image_size (e.g. --set data.image_size=32).")


class StyleGAN(GAN):
    """StyleGAN on images (C, R, R); see the module docstring. Public use beyond `GAN`:
    `mapping`, `truncate`, `mix`, `synthesize`, `decode_w`, `generate(..., truncation)`,
    `mean_w`, `n_styles`, `style_resolutions`, `w_dim`: the "styles" capability that
    style-mix, generate --truncation and interpolate --space w ask for."""

    CAPABILITIES = GAN.CAPABILITIES | {"styles"}
    tanh_range = True

    def __init__(self, cfg: StyleGANConfig, sample_shape):
        cfg.validate()
        check_image_shape(tuple(int(s) for s in sample_shape))
        super().__init__(cfg, sample_shape)
        self.register_buffer("mean_w", torch.zeros(cfg.w_dim))
        self._in_train_step = False

    def build_generator(self, n_labels: int) -> StyleGenerator:
        c, r, _ = self.sample_shape
        return StyleGenerator(self.cfg.latent_dim, c, r, self.cfg)

    def build_discriminator(self, n_labels: int) -> StyleDiscriminator:
        c, r, _ = self.sample_shape
        cfg = self.cfg
        return StyleDiscriminator(c, r, cfg.fmap_base, cfg.fmap_max, cfg.mbstd_group)

    # ------------------------------------------------------------------ public use

    @property
    def n_styles(self) -> int:
        """How many style inputs the synthesis network takes (one per AdaIN)."""
        return self.generator.synthesis.n_styles

    @property
    def style_resolutions(self) -> list[int]:
        """The resolution each style input acts at (len n_styles): 4, 4, 8, 8, ..., R, R."""
        return self.generator.synthesis.style_resolutions

    @property
    def w_dim(self) -> int:
        """Size of the intermediate latent w."""
        return self.cfg.w_dim

    def mapping(self, z: Tensor) -> Tensor:
        """The mapping network: z (n, coding_dim) -> w (n, w_dim), in the model's current
        mode, with autograd as the caller has it."""
        return self.generator.mapping(z.to(self._device()))

    def truncate(self, w: Tensor, psi: float, cutoff: int | None = None) -> Tensor:
        """The truncation trick: mean_w + psi * (w - mean_w).

        w: (n, w_dim) or (n, n_styles, w_dim). cutoff: truncate only the first `cutoff`
        style inputs (default: model.truncation_cutoff; None or >= n_styles: all); with a
        cutoff a (n, w_dim) input comes back as (n, n_styles, w_dim), else in its shape.
        psi 1 returns w itself; psi 0 gives mean_w; any finite psi is allowed (negative:
        the "anti-face" of the paper's figure 8)."""
        if not math.isfinite(psi):
            raise ConfigError(f"The truncation psi must be a finite number, got {psi}.")
        cutoff = self.cfg.truncation_cutoff if cutoff is None else cutoff
        if psi == 1:
            return w
        mean = self.mean_w.to(w.dtype)
        if cutoff is None or cutoff >= self.n_styles:
            return mean + psi * (w - mean)
        ws = self._per_layer(w)
        first = (torch.arange(self.n_styles, device=ws.device) < cutoff)[None, :, None]
        return torch.where(first, mean + psi * (ws - mean), ws)

    def synthesize(self, ws: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The synthesis network on given styles: ws (n, n_styles, w_dim), or (n, w_dim)
        used at every layer -> images (n, C, H, W) in [0, 1]. The noise maps are drawn from
        `generator` (default: torch's global RNG). Current mode, caller's autograd."""
        ws = self._per_layer(ws.to(self._device()))
        return self.to_data(self.generator.synthesis(ws, self._noise(len(ws), generator)))

    def decode_w(self, w: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Images of given w's, (n, w_dim) or (n, n_styles, w_dim) -> (n, C, H, W) in
        [0, 1] (`synthesize`; the w-space counterpart of `decode`)."""
        return self.synthesize(w, generator)

    @torch.no_grad()
    def generate(self, n: int, labels=None, generator: torch.Generator | None = None,
                 truncation: float = 1.0) -> Tensor:
        """n images (n, C, H, W) in [0, 1] from G in eval mode: z ~ N(0, I), then noise,
        drawn from `generator` (default: torch's global RNG); w truncated with psi =
        `truncation` (1: none) on the first model.truncation_cutoff style inputs.
        labels: must be None (stylegan is unconditional)."""
        self._generation_labels(n, labels)
        with evaluating(self):
            w = self.mapping(self._draw_z(n, generator))
            return self.synthesize(self.truncate(w, truncation), generator)

    def to_data(self, g: Tensor) -> Tensor:
        """Model range [-1, 1] -> [0, 1], clipped (toRGB is linear and may overshoot)."""
        return ((g + 1) / 2).clamp(0, 1)

    # ------------------------------------------------------------------ training

    def train_step(self, x: Tensor, y: Tensor | None, step) -> dict[str, Tensor]:
        """The GAN base's step, with style mixing and mean-w tracking on in both phases."""
        with self._training_g():
            return super().train_step(x, y, step)

    @contextmanager
    def _training_g(self):
        self._in_train_step = True
        try:
            yield
        finally:
            self._in_train_step = False

    def _fake(self, n: int, labels: Tensor | None,
              generator: torch.Generator | None = None) -> Tensor:
        """G(z) for n codings z ~ N(0, I) (and noise) from `generator`; model range."""
        return self._g(self._draw_z(n, generator), labels, generator)

    def _g(self, z: Tensor, labels: Tensor | None,
           generator: torch.Generator | None = None) -> Tensor:
        """G on codings z (n, coding_dim) -> (n, C, R, R), model range; in a training step
        with style mixing and mean-w tracking."""
        ws = self._training_styles(z) if self._in_train_step else self._per_layer(
            self.mapping(z))
        return self.generator.synthesis(ws, self._noise(len(z), generator))

    def _training_styles(self, z: Tensor) -> Tensor:
        """(n, n_styles, w_dim) styles of a training step: w1 = mapping(z), mixed with w2
        of fresh codings at a random crossover with probability mixing_prob; mean_w
        tracks w1."""
        if self.cfg.mixing_prob == 0:
            w1 = self.mapping(z)
            self._track_mean_w(w1)
            return self._per_layer(w1)
        w1, w2 = self.mapping(torch.cat([z, torch.randn_like(z)])).chunk(2)
        self._track_mean_w(w1)
        return self.mix(w1, w2, self._crossover(z.device))

    def mix(self, w1: Tensor, w2: Tensor, crossover: Tensor | int) -> Tensor:
        """Styles (n, n_styles, w_dim): w1 (n, w_dim) for style inputs 0..crossover-1,
        w2 (n, w_dim) for crossover..n_styles-1 (crossover n_styles: w1 everywhere)."""
        layer = torch.arange(self.n_styles, device=w1.device)
        first = (layer < crossover)[None, :, None]
        return torch.where(first, w1.unsqueeze(1), w2.unsqueeze(1))

    def _crossover(self, device) -> Tensor:
        """A crossover layer ~ U{1, ..., n_styles - 1} with probability mixing_prob, else
        n_styles (no mixing); two draws every time, so the RNG use is fixed."""
        cut = torch.randint(1, self.n_styles, (), device=device)
        mixing = torch.rand((), device=device) < self.cfg.mixing_prob
        return torch.where(mixing, cut, self.n_styles)

    @torch.no_grad()
    def _track_mean_w(self, w: Tensor) -> None:
        self.mean_w.lerp_(w.detach().mean(0).to(self.mean_w.dtype), 1 - self.cfg.w_avg_decay)

    # ------------------------------------------------------------------ helpers

    def _device(self) -> torch.device:
        return self.mean_w.device

    def _draw_z(self, n: int, generator: torch.Generator | None) -> Tensor:
        """z ~ N(0, I) (n, coding_dim) from `generator`, on its device, moved to the
        model's (a CPU generator gives the same codings on any device)."""
        device = self._device()
        return torch.randn(n, self.cfg.latent_dim, generator=generator,
                           device=device if generator is None else generator.device
                           ).to(device)

    def _noise(self, n: int, generator: torch.Generator | None) -> list[Tensor]:
        """One N(0, 1) map (n, 1, r, r) per style input, from `generator`."""
        device = self._device()
        where = device if generator is None else generator.device
        return [torch.randn(n, 1, r, r, generator=generator, device=where).to(device)
                for r in self.style_resolutions]

    def _per_layer(self, ws: Tensor) -> Tensor:
        """(n, w_dim) broadcast to (n, n_styles, w_dim); (n, n_styles, w_dim) as it is."""
        k, d = self.n_styles, self.w_dim
        if ws.dim() == 2 and ws.shape[1] == d:
            return ws.unsqueeze(1).expand(-1, k, -1)
        if ws.dim() == 3 and tuple(ws.shape[1:]) == (k, d):
            return ws
        raise DataError(f"stylegan's styles must have shape (n, {d}) or (n, {k}, {d}) "
                        f"(w_dim {d}, {k} style inputs), got {tuple(ws.shape)}.")


# Adam as the paper (lr 0.001, betas 0 and 0.99, eps 1e-8) for G and D; batch 32 (the
# official minibatch_base); EMA of the weights with the official G_smoothing_kimg = 10.
_PAPER_TRAIN = {"optimizer": "adam", "lr": 1e-3, "betas": [0.0, 0.99], "eps": 1e-8,
                "batch_size": 32, "ema_decay": 0.998}

register(
    "stylegan", StyleGANConfig,
    "StyleGAN: mapping z->w, AdaIN-styled synthesis from a learned 4x4 constant, noise, "
    "style mixing, truncation; ProGAN D; logistic + R1",
    {
        # The paper's choices scaled to Fashion-MNIST padded to 32x32 on a CPU: channels
        # 2048 / r capped at 128, z = w = 128, mapping 8 x 128, R1 gamma 0.01.
        "book": {"data": {"pad_to": 32}, "train": {**_PAPER_TRAIN, "epochs": 20}},
        # Fewer channels (64 up to 8x8, 32 at 16x16, 16 at 32x32): about 1/4 of book's
        # convolution work per step at 32x32; the average's decay ramps up
        # (train.ema_warmup): 5 epochs are ~8,600 steps, a 0.998 average spans ~500.
        "fast": {"model": {"fmap_base": 512, "fmap_max": 64},
                 "data": {"pad_to": 32},
                 "train": {**_PAPER_TRAIN, "epochs": 5, "ema_warmup": True}},
        # The paper's network sizes: z = w = 512, mapping 8 x 512, channels 8192 / r
        # capped at 512 (a GPU recipe).
        "paper": {"model": {"latent_dim": 512, "w_dim": 512, "mapping_dim": 512,
                            "fmap_base": 8192, "fmap_max": 512},
                  "data": {"pad_to": 32}, "train": {**_PAPER_TRAIN, "epochs": 20}},
    },
    {"model": {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "mapping_dim": 8,
               "fmap_base": 32, "fmap_max": 8},
     "data": {"pad_to": None}, "train": {"ema_decay": None}},
)(StyleGAN)
