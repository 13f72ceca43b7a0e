"""ProGAN's growing networks (Karras et al. 2018, Table 2 and sec. 3-4), every block built
at once; `forward(..., level, alpha)` runs the part the growth schedule has reached.

Generator, z (B, latent_dim) -> images (B, C, R, R) at the full resolution R:
    PixelNorm(z) -> EqualizedLinear to 4x4 x nf(4) -> LReLU -> PixelNorm -> conv 3x3 ->
    LReLU -> PixelNorm  (the 4x4 block); block k (resolution 4 * 2^k): nearest upsample x2,
    2 x (conv 3x3 -> LReLU -> PixelNorm); toRGB k: 1x1 conv, linear, gain 1.
    At `level` the image is toRGB_level(block_level(...)), upsampled (nearest) to R; during
    a fade: lerp(upsample2x(toRGB_{level-1}(h)), toRGB_level(block_level(h)), alpha).
Discriminator, x (B, C, R, R) -> scores (B,):
    x is average-pooled (2x2, repeatedly) down to the level's resolution r;
    fromRGB k: 1x1 conv -> LReLU; block k (r -> r / 2): conv 3x3 -> LReLU -> conv 3x3
    (to nf(r / 2)) -> LReLU -> 2x2 average pool; the 4x4 head: minibatch stddev (a batch
    its group size does not divide uses the largest divisor below it) -> conv
    3x3 -> LReLU -> EqualizedLinear(16 nf(4) -> nf(4)) -> LReLU -> EqualizedLinear(-> 1,
    gain 1). During a fade: lerp(fromRGB_{level-1}(avgpool2x(x_r)), block_level(
    fromRGB_level(x_r)), alpha), then the lower blocks.
Every conv and dense layer has the equalized learning rate (`style_layers`); the 4x4
dense layer of G has gain 1/8 (std sqrt(2)/4 / sqrt(fan_in)), as the official code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentforge.models.style_layers import (EqualizedConv2d, EqualizedLinear,
                                             MinibatchStdDev, PixelNorm)


def channels(resolution: int, fmap_base: int, fmap_max: int) -> int:
    """Feature maps at `resolution`: min(fmap_max, fmap_base // resolution), at least 1."""
    return max(1, min(fmap_max, fmap_base // resolution))


def resolutions(n_levels: int) -> list[int]:
    """[4, 8, ..., 4 * 2^(n_levels - 1)]."""
    return [4 << k for k in range(n_levels)]


def upsample(x: Tensor, factor: int) -> Tensor:
    """Nearest-neighbour upsampling by an integer factor (exact copies of each pixel)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downsample(x: Tensor, times: int) -> Tensor:
    """`times` 2x2 average poolings (so pooling to level k-1 is pooling to level k, then
    once more, operation for operation)."""
    for _ in range(times):
        x = F.avg_pool2d(x, 2)
    return x


def _conv(n_in: int, n_out: int, kernel: int, slope: float) -> list[nn.Module]:
    return [EqualizedConv2d(n_in, n_out, kernel), nn.LeakyReLU(slope)]



def fading(alpha: float) -> bool:
    """Whether a forward pass blends in the previous level: while the fade runs (alpha <
    1), and always inside a compiled graph (train.compile), where alpha must stay one
    symbolic input rather than a branch that compiles a graph per value (`blend` at
    alpha = 1 gives the new level's output)."""
    return torch.compiler.is_compiling() or alpha < 1


def blend(old: Tensor, new: Tensor, alpha: float) -> Tensor:
    """lerp(old, new, alpha). Inside a compiled graph it is old + (new - old) * alpha,
    equal up to float rounding: dynamo specialises lerp's scalar weight (a graph per
    alpha), not a product."""
    if torch.compiler.is_compiling():
        return old + (new - old) * alpha
    dtype = torch.promote_types(old.dtype, new.dtype)  # autocast may leave one in float16
    return torch.lerp(old.to(dtype), new.to(dtype), alpha)

class GrowingGenerator(nn.Module):
    """G for `n_levels` resolutions (4 ... 4 * 2^(n_levels - 1)) and `image_channels`."""

    def __init__(self, latent_dim: int, image_channels: int, n_levels: int, fmap_base: int,
                 fmap_max: int, slope: float = 0.2):
        super().__init__()
        self.n_levels = n_levels
        nf = [channels(r, fmap_base, fmap_max) for r in resolutions(n_levels)]
        self.nf4 = nf[0]
        first = nn.Sequential(EqualizedLinear(latent_dim, 16 * nf[0], gain=1 / 8),
                              nn.Unflatten(1, (nf[0], 4, 4)), nn.LeakyReLU(slope),
                              PixelNorm(), *_conv(nf[0], nf[0], 3, slope), PixelNorm())
        self.blocks = nn.ModuleList([first])
        for k in range(1, n_levels):
            self.blocks.append(nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                *_conv(nf[k - 1], nf[k], 3, slope), PixelNorm(),
                *_conv(nf[k], nf[k], 3, slope), PixelNorm()))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(n, image_channels, 1, gain=1.0)
                                    for n in nf)
        self.normalize = PixelNorm()

    def forward(self, z: Tensor, level: int | None = None, alpha: float = 1.0) -> Tensor:
        """z (B, latent_dim) -> (B, C, R, R); level None = the last one."""
        level = self.n_levels - 1 if level is None else level
        h = self.normalize(z)
        for block in self.blocks[:level]:
            h = block(h)
        new = self.to_rgb[level](self.blocks[level](h))
        if level > 0 and fading(alpha):
            old = upsample(self.to_rgb[level - 1](h), 2)
            new = blend(old, new, alpha)
        return upsample(new, 2 ** (self.n_levels - 1 - level))


class GrowingDiscriminator(nn.Module):
    """D for `n_levels` resolutions and `image_channels`; raw scores (critic values)."""

    def __init__(self, image_channels: int, n_levels: int, fmap_base: int, fmap_max: int,
                 slope: float = 0.2, mbstd_group: int = 4):
        super().__init__()
        self.n_levels = n_levels
        nf = [channels(r, fmap_base, fmap_max) for r in resolutions(n_levels)]
        self.from_rgb = nn.ModuleList(nn.Sequential(*_conv(image_channels, n, 1, slope))
                                      for n in nf)
        self.blocks = nn.ModuleList([nn.Identity()])  # level 0 has no block: the head
        for k in range(1, n_levels):
            self.blocks.append(nn.Sequential(*_conv(nf[k], nf[k], 3, slope),
                                             *_conv(nf[k], nf[k - 1], 3, slope),
                                             nn.AvgPool2d(2)))
        self.mbstd = MinibatchStdDev(mbstd_group, fit_group=True)
        self.head = nn.Sequential(*_conv(nf[0] + 1, nf[0], 3, slope), nn.Flatten(),
                                  EqualizedLinear(16 * nf[0], nf[0]), nn.LeakyReLU(slope),
                                  EqualizedLinear(nf[0], 1, gain=1.0))

    def forward(self, x: Tensor, level: int | None = None, alpha: float = 1.0) -> Tensor:
        """x (B, C, R, R) -> (B,); level None = the last one."""
        level = self.n_levels - 1 if level is None else level
        x = downsample(x, self.n_levels - 1 - level)
        h = self.blocks[level](self.from_rgb[level](x))
        if level > 0 and fading(alpha):
            old = self.from_rgb[level - 1](downsample(x, 1))
            h = blend(old, h, alpha)
        for k in range(level - 1, 0, -1):
            h = self.blocks[k](h)
        return self.head(self.mbstd(h)).squeeze(1)
