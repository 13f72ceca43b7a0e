"""StyleGAN's generator (Karras, Laine & Aila 2019, section 2 and figure 1b): the mapping
network z -> w and the synthesis network that turns per-layer styles w into an image.

Synthesis: a learned constant 4x4 input (ones at init, as the official code), then per
resolution 4, 8, ..., R two `SynthesisLayer`s, each
    [bilinear x2 upsampling] -> [3x3 equalized conv] -> per-pixel noise -> + bias
    -> LeakyReLU(0.2) -> AdaIN(style of its own w)
(the 4x4 block's first layer has no conv: it starts from the constant), then a 1x1
equalized "toRGB" conv (gain 1, linear) to the data's channels. So there are
n_styles = 2 * log2(R) - 2 style inputs (18 at 1024x1024, 8 at 32x32).

Choices:
- AdaIN (StyleGAN 1), not StyleGAN2's weight modulation / demodulation: this is the
  architecture of the paper the chapter presents, and its style mixing and truncation
  results are stated for it. (Its known artefact, the "droplets" that StyleGAN2 removed,
  shows at high resolutions, not at 32x32.)
- Upsampling is bilinear (`F.interpolate(..., mode="bilinear")`, half-pixel centres): the
  paper replaces nearest-neighbour up/downsampling with bilinear sampling (section 2,
  appendix C); the official code gets it from nearest-neighbour + a [1, 2, 1] binomial blur.
- No progressive growing: G and D are built at the data's resolution and trained whole
  from the first step. The paper grows them as ProGAN does; StyleGAN2 (Karras et al. 2020)
  dropped the growing (it caused "phase" artefacts) and trained fixed-size networks. At
  the small resolutions this library trains (8 to 128 pixels, a few layers) a fixed
  network needs no fade-in schedule and resumes like any other model; model `progan` is
  the one with the growing.
- Noise: one N(0, 1) map per sample and layer, shared by the channels and scaled by the
  learned per-channel `NoiseInjection.weight`, zero at init (the paper).

Shapes: B batch; ws (B, n_styles, w_dim); images (B, C, R, R) in the model range [-1, 1]
(toRGB is linear, so values may overshoot; `StyleGAN.to_data` clips to [0, 1]).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentforge.models.style_layers import AdaIN, EqualizedConv2d, MappingNetwork, \
    NoiseInjection


def feature_maps(resolution: int, fmap_base: int, fmap_max: int) -> int:
    """Channels at `resolution`: min(fmap_max, fmap_base // resolution), at least 1 (the
    official code's nf())."""
    return max(1, min(fmap_max, fmap_base // resolution))


def resolutions(final: int) -> list[int]:
    """4, 8, ..., final (a power of two >= 4)."""
    return [2 ** k for k in range(2, int(math.log2(final)) + 1)]


class SynthesisLayer(nn.Module):
    """[x2 bilinear up] -> [3x3 conv] -> noise -> + bias -> LeakyReLU(0.2) -> AdaIN(w).

    in_channels None: no conv (the first layer, on the constant input), out_channels is
    then the input's. x (B, in, r/2 or r, ...) -> (B, out, r, r); w (B, w_dim);
    noise (B, 1, r, r) or None (drawn from torch's global RNG).
    """

    def __init__(self, in_channels: int | None, out_channels: int, w_dim: int,
                 resolution: int, upsample: bool = False):
        super().__init__()
        self.resolution, self.upsample = resolution, upsample
        self.conv = (None if in_channels is None
                     else EqualizedConv2d(in_channels, out_channels, 3, bias=False))
        self.noise = NoiseInjection(out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.act = nn.LeakyReLU(0.2)
        self.adain = AdaIN(out_channels, w_dim)

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None = None) -> Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if self.conv is not None:
            x = self.conv(x)
        x = self.noise(x, noise) + self.bias.view(1, -1, 1, 1)
        return self.adain(self.act(x), w)


class SynthesisNetwork(nn.Module):
    """Per-layer styles ws (B, n_styles, w_dim) [+ noise maps] -> images (B, C, R, R)."""

    def __init__(self, out_channels: int, resolution: int, w_dim: int, fmap_base: int,
                 fmap_max: int):
        super().__init__()
        ch = {r: feature_maps(r, fmap_base, fmap_max) for r in resolutions(resolution)}
        self.const = nn.Parameter(torch.ones(1, ch[4], 4, 4))
        layers = [SynthesisLayer(None, ch[4], w_dim, 4), SynthesisLayer(ch[4], ch[4], w_dim, 4)]
        for r in resolutions(resolution)[1:]:
            layers += [SynthesisLayer(ch[r // 2], ch[r], w_dim, r, upsample=True),
                       SynthesisLayer(ch[r], ch[r], w_dim, r)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = EqualizedConv2d(ch[resolution], out_channels, 1, gain=1.0)
        self.w_dim = w_dim

    @property
    def n_styles(self) -> int:
        """How many style inputs (one per AdaIN)."""
        return len(self.layers)

    @property
    def style_resolutions(self) -> list[int]:
        """The resolution each style input acts at (len n_styles)."""
        return [layer.resolution for layer in self.layers]

    def forward(self, ws: Tensor, noise: list[Tensor] | None = None) -> Tensor:
        x = self.const.expand(len(ws), -1, -1, -1)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], None if noise is None else noise[i])
        return self.to_rgb(x)


class StyleGenerator(nn.Module):
    """G = mapping + synthesis; ``G(z)`` = synthesis of mapping(z) at every layer (no
    mixing, no truncation: `models.stylegan.StyleGAN` adds those)."""

    def __init__(self, z_dim: int, out_channels: int, resolution: int, cfg):
        super().__init__()
        self.mapping = MappingNetwork(z_dim, cfg.w_dim, cfg.mapping_layers,
                                      lr_multiplier=cfg.mapping_lr_mul,
                                      hidden_dim=cfg.mapping_dim)
        self.synthesis = SynthesisNetwork(out_channels, resolution, cfg.w_dim, cfg.fmap_base,
                                          cfg.fmap_max)

    def forward(self, z: Tensor) -> Tensor:
        w = self.mapping(z)
        return self.synthesis(w.unsqueeze(1).expand(-1, self.synthesis.n_styles, -1))
