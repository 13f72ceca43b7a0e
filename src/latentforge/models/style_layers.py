"""Building blocks of ProGAN and StyleGAN (layers only: the models come later).

- ProGAN: T. Karras, T. Aila, S. Laine, J. Lehtinen, "Progressive Growing of GANs for
  Improved Quality, Stability, and Variation", ICLR 2018 (arXiv:1710.10196): equalized
  learning rate (`EqualizedLinear`, `EqualizedConv2d`), pixelwise feature normalisation
  (`PixelNorm`) and the minibatch standard deviation layer (`MinibatchStdDev`).
- StyleGAN: T. Karras, S. Laine, T. Aila, "A Style-Based Generator Architecture for
  Generative Adversarial Networks", CVPR 2019 (arXiv:1812.04948): the mapping network
  z -> w (`MappingNetwork`, with its 0.01 learning-rate multiplier), per-pixel noise
  (`NoiseInjection`) and adaptive instance normalisation (`AdaIN`).

Shapes: B batch, C channels, H x W pixels, features for dense layers. The equalized layers
initialise themselves (`OwnInit`), so `Model.init_weights`' Keras init leaves them alone.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentforge.models.init import OwnInit


class _Equalized(OwnInit, nn.Module):
    """Equalized learning rate (ProGAN section 4.1): the stored weights are N(0, 1) and are
    multiplied at run time by He's constant sqrt(gain / fan_in), so every weight learns at
    the same speed under Adam whatever its layer's fan-in.

    `lr_multiplier` (StyleGAN's mapping network: 0.01) lowers the effective learning rate:
    stored weights are N(0, 1 / lr_mul^2) (std 1 / lr_mul), the runtime `scale` is
    lr_mul * sqrt(gain / fan_in) and the bias is multiplied by lr_mul, so the effective
    weights start as with lr_mul = 1 while their gradients shrink by lr_mul.
    """

    def _setup(self, weight_shape: tuple[int, ...], fan_in: int, out: int, bias: bool,
               gain: float, lr_multiplier: float, bias_init: float) -> None:
        if fan_in <= 0 or out <= 0:
            raise ValueError(f"sizes must be positive, got fan_in={fan_in}, out={out}")
        if gain <= 0 or lr_multiplier <= 0:
            raise ValueError(f"gain and lr_multiplier must be > 0, got {gain}, "
                             f"{lr_multiplier}")
        self.fan_in = fan_in
        self.gain = float(gain)
        self.lr_multiplier = float(lr_multiplier)
        self.bias_init = float(bias_init)
        self.he_constant = math.sqrt(self.gain / fan_in)
        self.scale = self.he_constant * self.lr_multiplier
        self.weight = nn.Parameter(torch.empty(weight_shape))
        self.bias = nn.Parameter(torch.empty(out)) if bias else None
        self.init_weights()

    def init_weights(self) -> None:
        """Weights N(0, 1 / lr_mul^2); bias so that its effective value is `bias_init`."""
        with torch.no_grad():
            self.weight.normal_(0.0, 1.0 / self.lr_multiplier)
            if self.bias is not None:
                self.bias.fill_(self.bias_init / self.lr_multiplier)

    def effective_weight(self) -> Tensor:
        """The weight the layer applies: stored weight * `scale`."""
        return self.weight * self.scale

    def effective_bias(self) -> Tensor | None:
        """The bias the layer applies: stored bias * lr_multiplier (None without bias)."""
        return None if self.bias is None else self.bias * self.lr_multiplier


class EqualizedLinear(_Equalized):
    """Dense layer with equalized learning rate: (B, in_features) -> (B, out_features).

    fan_in = in_features; `scale` = lr_multiplier * sqrt(gain / in_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 gain: float = 2.0, lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._setup((out_features, in_features), in_features, out_features, bias, gain,
                    lr_multiplier, bias_init)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.effective_weight(), self.effective_bias())

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, lr_multiplier={self.lr_multiplier}")


class EqualizedConv2d(_Equalized):
    """2-D convolution with equalized learning rate:
    (B, in_channels, H, W) -> (B, out_channels, H', W') ("same" size by default:
    padding = kernel_size // 2 with stride 1 and an odd kernel).

    fan_in = in_channels * kernel_size^2; `scale` = lr_multiplier * sqrt(gain / fan_in).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int | None = None, bias: bool = True,
                 gain: float = 2.0, lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        if kernel_size <= 0:
            raise ValueError(f"kernel_size must be positive, got {kernel_size}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, stride
        self.padding = kernel_size // 2 if padding is None else padding
        self._setup((out_channels, in_channels, kernel_size, kernel_size),
                    in_channels * kernel_size * kernel_size, out_channels, bias, gain,
                    lr_multiplier, bias_init)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.effective_weight(), self.effective_bias(),
                        stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, "
                f"bias={self.bias is not None}, lr_multiplier={self.lr_multiplier}")


class PixelNorm(nn.Module):
    """Pixelwise feature vector normalisation (ProGAN section 4.2):
    x / sqrt(mean over channels of x^2 + eps), i.e. unit RMS over dim 1 at every pixel.

    (B, C) -> (B, C) or (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Minibatch standard deviation (ProGAN section 3): (B, C, H, W) -> (B, C + 1, H, W).

    The batch is split into groups of G = min(group_size, B) samples (as in the official
    code, sample i belongs to group i mod (B / G)); in each group the (population) std of
    every feature at every pixel, sqrt(var + eps), is averaged over features and pixels into
    one number, appended to each sample of the group as a constant extra feature map.
    B must be divisible by G, unless `fit_group`: then G is the largest group size
    <= min(group_size, B) that divides B (an epoch's smaller last batch of 6 samples is
    cut into groups of 3; a prime batch of 7 into groups of 1, whose std is sqrt(eps)).
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8, fit_group: bool = False):
        super().__init__()
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        self.group_size, self.eps, self.fit_group = group_size, eps, fit_group

    def group_size_for(self, b: int) -> int:
        """The group size G used for a batch of `b` samples (ValueError if none fits)."""
        g = min(self.group_size, b)
        if b % g and not self.fit_group:
            raise ValueError(f"batch size {b} is not divisible by the group size {g}")
        return max(d for d in range(1, g + 1) if b % d == 0)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        g = self.group_size_for(b)
        y = x.reshape(g, b // g, c, h, w)                     # (G, M, C, H, W)
        y = y - y.mean(dim=0, keepdim=True)
        y = torch.sqrt(y.pow(2).mean(dim=0) + self.eps)       # (M, C, H, W)
        y = y.mean(dim=(1, 2, 3))                             # (M,)
        y = y.repeat(g).reshape(b, 1, 1, 1).expand(b, 1, h, w)  # sample i -> group i % M
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, fit_group={self.fit_group}"


class NoiseInjection(nn.Module):
    """StyleGAN's per-pixel noise (section 2): x + scale[c] * noise, where noise is one
    N(0, 1) map per sample shared by all channels and `scale` (`weight`) is a learned
    per-channel factor, zero-initialised.

    x (B, C, H, W); noise (B, 1, H, W) (or broadcastable to x), drawn when not given.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        if noise is None:
            b, _, h, w = x.shape
            noise = torch.randn(b, 1, h, w, device=x.device, dtype=x.dtype)
        return x + self.weight.view(1, -1, 1, 1) * noise

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class AdaIN(OwnInit, nn.Module):
    """Adaptive instance normalisation (StyleGAN section 2, after Huang & Belongie 2017):
    AdaIN(x, y) = y_s * (x - mean(x)) / std(x) + y_b, per sample and channel, with the
    style y = (y_s, y_b) an affine map of w (an `EqualizedLinear`, gain 1, whose y_s bias
    starts at 1 and y_b bias at 0). This is StyleGAN (1)'s AdaIN, not StyleGAN2's weight
    modulation / demodulation.

    x (B, C, H, W), w (B, w_dim) -> (B, C, H, W).
    """

    def __init__(self, channels: int, w_dim: int, eps: float = 1e-8):
        super().__init__()
        self.channels, self.w_dim, self.eps = channels, w_dim, eps
        self.style = EqualizedLinear(w_dim, 2 * channels, gain=1.0)
        self.init_weights()

    def init_weights(self) -> None:
        """The style layer's own init, then bias 1 for y_s (first C outputs), 0 for y_b."""
        self.style.init_weights()
        with torch.no_grad():
            self.style.bias[: self.channels].fill_(1.0 / self.style.lr_multiplier)

    def styles(self, w: Tensor) -> tuple[Tensor, Tensor]:
        """(y_s, y_b), each (B, C)."""
        y = self.style(w)
        return y[:, : self.channels], y[:, self.channels:]

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        y_s, y_b = self.styles(w)
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return y_s[:, :, None, None] * x + y_b[:, :, None, None]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, w_dim={self.w_dim}"


class MappingNetwork(nn.Module):
    """StyleGAN's mapping network f: z -> w (section 2): PixelNorm on z, then `depth`
    EqualizedLinear + LeakyReLU(0.2) layers (the paper: 8 layers of 512, lr multiplier 0.01).

    z (B, z_dim) -> w (B, w_dim); hidden layers have `hidden_dim` (default w_dim) units.
    """

    def __init__(self, z_dim: int, w_dim: int, depth: int, lr_multiplier: float = 0.01,
                 hidden_dim: int | None = None):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        hidden = w_dim if hidden_dim is None else hidden_dim
        self.z_dim, self.w_dim, self.depth = z_dim, w_dim, depth
        sizes = [z_dim] + [hidden] * (depth - 1) + [w_dim]
        layers: list[nn.Module] = [PixelNorm()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [EqualizedLinear(n_in, n_out, lr_multiplier=lr_multiplier),
                       nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)
