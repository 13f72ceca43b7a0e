"""Convolutional stages shared by conv_ae, conv_vae and DCGAN (book ch. 17), written once.

- `pool_stages`: [Conv2D(f, k, "same", act) -> MaxPool2D(2)] per entry of `filters`, the
  encoder of the book's convolutional autoencoder (sizes halve with floor: `stage_sizes`);
- `upsample_stages`: stride-2 transposed convolutions (`KerasConvTranspose2d`), each to a
  given output size, with an optional norm layer before and an activation after each: the
  decoder of conv_ae / conv_vae and DCGAN's generator (BatchNorm, SELU, tanh last);
- `strided_stages`: [Keras-"same" padding -> Conv2D(f, k, stride 2) -> LeakyReLU ->
  Dropout] per entry, DCGAN's discriminator (sizes halve with ceil);
- `check_conv_options` / `check_conv_stages`: the config and image-size checks of the
  conv + max-pool models.

The stage functions return flat lists of layers that callers splice into their
`nn.Sequential`, so the state_dict keys stay ``encoder.1.weight``, ``decoder.1.conv.weight``
... as before the stages were shared. Layers are created in forward order (their default
init draws the same random numbers as before); `Model.init_weights` then applies Keras's.

Keras "same" padding of a stride-2 transposed convolution is asymmetric: TensorFlow pads
the forward convolution it transposes by (k - 2) // 2 before and the rest after, so the
transposed output is the full (n - 1) * 2 + k map cropped by (k - 2) // 2 at the top/left
and the rest at the bottom/right; torch's ConvTranspose2d(padding=1, output_padding=1)
crops one row at the top instead (a one-pixel shift). `KerasConvTranspose2d` crops the
Keras way. Likewise a stride-2 "same" convolution pads the smaller half before
(`keras_same_padding`), where torch's symmetric padding would shift the grid for even n.
"""
from __future__ import annotations

from typing import Callable, Sequence

from torch import Tensor, nn

from latentforge.errors import ConfigError
from latentforge.models.checks import check_sizes, require
from latentforge.models.layers import activation


class KerasConvTranspose2d(nn.Module):
    """Stride-2 transposed convolution with Keras/TensorFlow output alignment.

    x: (B, in_ch, h, w) -> (B, out_ch, *size); size[i] is 2 * n or 2 * n + 1. Computes
    the full (n - 1) * 2 + k map (torch padding 0) and crops (full - size) // 2 at the
    top/left, the rest at the bottom/right (TF "same" padding; no crop = "valid").
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, size: tuple[int, int]):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_ch, out_ch, kernel, stride=2)
        self.size = tuple(size)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        (h, w), (fh, fw) = self.size, y.shape[-2:]
        if (fh, fw) == (h, w):
            return y
        top, left = (fh - h) // 2, (fw - w) // 2
        return y[..., top:top + h, left:left + w]

    def extra_repr(self) -> str:
        return f"size={self.size}"


def keras_same_padding(size: tuple[int, int], kernel: int) -> nn.ZeroPad2d:
    """Zero padding that makes a stride-2 convolution Keras/TensorFlow "same": output
    ceil(n / 2), total padding (out - 1) * 2 + k - n with the smaller half before (torch's
    symmetric padding would shift the sampling grid by one pixel for even n)."""
    pads = []
    for n in size:
        total = max((-(-n // 2) - 1) * 2 + kernel - n, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return nn.ZeroPad2d((left, right, top, bottom))


def stage_sizes(size: tuple[int, int], stages: int) -> list[tuple[int, int]]:
    """Spatial sizes after each MaxPool2D(2) (floor): [(H, W), (H//2, W//2), ...]."""
    sizes = [tuple(size)]
    for _ in range(stages):
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes


def pool_stages(channels: int, filters: Sequence[int], kernel: int,
                act: str) -> list[nn.Module]:
    """[Conv2d(n_in, f, kernel, "same") -> act -> MaxPool2d(2)] for f in `filters`:
    (B, channels, H, W) -> (B, filters[-1], H >> n, W >> n) for n stages."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip((channels, *filters[:-1]), filters):
        layers += [nn.Conv2d(n_in, n_out, kernel, padding=kernel // 2), activation(act),
                   nn.MaxPool2d(2)]
    return layers


def upsample_stages(channels: Sequence[int], out_channels: int, kernel: int,
                    sizes: Sequence[tuple[int, int]], act: str, last_act: str | None,
                    norm: Callable[[int], nn.Module] | None = None) -> list[nn.Module]:
    """Per stage i: [norm(channels[i])] -> KerasConvTranspose2d(channels[i], next, kernel,
    sizes[i]) -> act (`last_act` after the last stage; None: no activation, logits), where
    next is channels[i + 1], or `out_channels` for the last stage."""
    outs = (*channels[1:], out_channels)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(channels, outs)):
        if norm is not None:
            layers.append(norm(n_in))
        layers.append(KerasConvTranspose2d(n_in, n_out, kernel, sizes[i]))
        name = act if i < len(outs) - 1 else last_act
        if name is not None:
            layers.append(activation(name))
    return layers


def strided_stages(channels: int, filters: Sequence[int], kernel: int,
                   size: tuple[int, int], slope: float,
                   dropout: float) -> tuple[list[nn.Module], tuple[int, int]]:
    """[Keras-"same" padding -> Conv2d(n_in, f, kernel, stride 2) -> LeakyReLU(slope) ->
    Dropout(dropout)] for f in `filters`. Returns (layers, the output's (h, w)): each stage
    maps n to ceil(n / 2)."""
    (h, w), layers = size, []
    for n_in, n_out in zip((channels, *filters[:-1]), filters):
        layers += [keras_same_padding((h, w), kernel), nn.Conv2d(n_in, n_out, kernel, stride=2),
                   nn.LeakyReLU(slope), nn.Dropout(dropout)]
        h, w = -(-h // 2), -(-w // 2)
    return layers, (h, w)


def check_conv_options(filters, kernel: int) -> None:
    """ConfigError unless `filters` are positive channel counts and `kernel` is odd, >= 3."""
    check_sizes("filters", filters, what="channel counts")
    require(kernel >= 3 and kernel % 2 == 1, "kernel", "odd and at least 3", kernel)


def check_conv_stages(model: str, filters, sample_shape: tuple[int, ...],
                      alternative: str) -> None:
    """ConfigError unless `sample_shape` is an image (C, H, W) that `len(filters)` conv +
    max-pool stages can halve that many times. alternative: what to use for non-image data
    (ends the message)."""
    if len(sample_shape) != 3:
        raise ConfigError(f"{model} needs images of shape (C, H, W); the data has samples of "
                          f"shape {sample_shape}. {alternative}")
    need = 2 ** len(filters)
    if min(sample_shape[1:]) < need:
        raise ConfigError(
            f"{model} with {len(filters)} conv + max-pool stages (model.filters="
            f"{list(filters)}) halves the image {len(filters)} times, so height and width "
            f"must be at least {need}x{need}; the data has {sample_shape[1]}x"
            f"{sample_shape[2]}. Use fewer filters or larger images.")
