"""StyleGAN's discriminator: ProGAN's (Karras et al. 2018, table 2), built at the data's
resolution R (no progressive growing), with equalized learning rate everywhere.

    fromRGB: 1x1 conv (C -> ch(R)) -> LeakyReLU(0.2)
    per resolution r = R, R/2, ..., 8:
        3x3 conv ch(r) -> ch(r), LeakyReLU(0.2); 3x3 conv ch(r) -> ch(r/2), LeakyReLU(0.2);
        2x2 average pooling (= bilinear downsampling by 2, as the paper's StyleGAN D)
    at 4x4: minibatch stddev (+1 feature map) -> 3x3 conv ch(4)+1 -> ch(4), LeakyReLU(0.2)
        -> flatten -> dense ch(4)*16 -> ch(4), LeakyReLU(0.2) -> dense -> 1 (gain 1, linear)

x (B, C, R, R) in the model range [-1, 1] -> raw scores (B,) (logits of "real").
"""
from __future__ import annotations

from torch import Tensor, nn

from latentforge.models.style_layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev
from latentforge.models.stylegan_synthesis import feature_maps, resolutions


def _conv(n_in: int, n_out: int, kernel: int = 3) -> list[nn.Module]:
    return [EqualizedConv2d(n_in, n_out, kernel), nn.LeakyReLU(0.2)]


class StyleDiscriminator(nn.Module):
    """ProGAN-style D; `mbstd_group`: the minibatch stddev group size (a batch that it
    does not divide uses the largest group size that does: `MinibatchStdDev(fit_group)`)."""

    def __init__(self, in_channels: int, resolution: int, fmap_base: int, fmap_max: int,
                 mbstd_group: int):
        super().__init__()
        ch = {r: feature_maps(r, fmap_base, fmap_max) for r in resolutions(resolution)}
        layers = _conv(in_channels, ch[resolution], kernel=1)
        for r in reversed(resolutions(resolution)[1:]):
            layers += [*_conv(ch[r], ch[r]), *_conv(ch[r], ch[r // 2]), nn.AvgPool2d(2)]
        self.blocks = nn.Sequential(*layers)
        self.mbstd = MinibatchStdDev(mbstd_group, fit_group=True)
        self.head = nn.Sequential(
            *_conv(ch[4] + 1, ch[4]), nn.Flatten(),
            EqualizedLinear(ch[4] * 16, ch[4]), nn.LeakyReLU(0.2),
            EqualizedLinear(ch[4], 1, gain=1.0))

    def forward(self, x: Tensor, onehot: Tensor | None = None) -> Tensor:
        """Scores (B,); `onehot` is the GAN base's label argument (stylegan is
        unconditional: always None)."""
        return self.head(self.mbstd(self.blocks(x))).squeeze(1)
