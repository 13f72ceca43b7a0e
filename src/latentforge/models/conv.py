"""Convolutional autoencoder of book ch. 17 ("Convolutional Autoencoders"), ``conv_ae``.

Book (28x28 Fashion-MNIST):
  encoder  Reshape(28, 28, 1) -> [Conv2D(f, 3, "same", selu) -> MaxPool2D(2)] for f in
           16, 32, 64                                     28 -> 14 -> 7 -> 3, codings 64x3x3
  decoder  Conv2DTranspose(32, 3, strides=2, "valid", selu)      3 -> 7
           Conv2DTranspose(16, 3, strides=2, "same", selu)       7 -> 14
           Conv2DTranspose(1, 3, strides=2, "same", sigmoid)    14 -> 28 -> Reshape(28, 28)

Generalised to any image (C, H, W) with H, W >= 2**len(filters): every stage halves the
size with floor (MaxPool2D "valid"), and each transposed convolution maps n back to the
size the matching encoder stage had, 2n or 2n + 1 (so the book's 3 -> 7 -> 14 -> 28 is one
rule, not a special case). Both are TensorFlow's conv2d_transpose with that output shape:
the adjoint of the stride-2 convolution size -> n padded by TF's "SAME" rule (total
(n - 1) * 2 + k - size, half before rounded down). 2n is Keras "same" for any k; 2n + 1
is Keras "valid" for k = 3 only (Keras "valid" gives 2n + k - 2, e.g. 2n + 3 for k = 5,
which this crops by 1 on each side).

Keras "same" padding of a stride-2 transposed convolution is asymmetric: TensorFlow pads
the forward convolution it transposes by (k - 2) // 2 before and the rest after, so the
transposed output is the full (n - 1) * 2 + k map cropped by (k - 2) // 2 at the top/left
(0 for k = 3) and the rest at the bottom/right. torch's ConvTranspose2d(padding=1,
output_padding=1) gives the same size but crops one row at the top instead: a one-pixel
shift of the output grid. `KerasConvTranspose2d` crops the Keras way.

Init (Keras): Glorot-uniform kernels, zero biases (`keras_init_`). Keras's Conv2DTranspose
kernel is (k, k, out, in), so Keras takes fan_in = k*k*out, fan_out = k*k*in; torch's
ConvTranspose2d weight is (in, out, k, k) and `xavier_uniform_` takes fan_in = size(1)*k*k
= k*k*out, fan_out = k*k*in: the same fans, hence the same limit sqrt(6 / (fan_in + fan_out))
(tests/test_conv_recurrent.py checks it).

Codings are flat: `encode` returns (B, filters[-1] * h * w) (576 for the book); the
decoder unflattens them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from latentforge.errors import ConfigError
from latentforge.models.base import Autoencoder
from latentforge.models.checks import (check_activation, check_choice, check_corruption,
                                       check_sizes, require)
from latentforge.models.layers import activation, corruption
from latentforge.registry import register


@dataclass
class ConvAEConfig:
    """The book's convolutional autoencoder (defaults: book ch. 17 notebook).

    filters: output channels of the encoder's conv + max-pool stages (book: 16, 32, 64);
        the decoder's transposed convolutions mirror them (book: 32, 16, then the image's
        channels).
    kernel: square kernel size of every (transposed) convolution (book: 3); odd, >= 3.
    activation: hidden activation (book: "selu").
    output: "sigmoid" (logits + binary cross-entropy, pixels in [0, 1]; book) or "linear"
        (MSE).
    corruption / corruption_rate: "gaussian" (stddev) or "dropout" (rate) noise on the input
        in training only, as `DenseAEConfig` (book's denoising section, applied to a conv AE
        it is a denoising conv autoencoder).
    channels_last: run the network in channels-last memory format (a speed option; same
        math; measured in benchmarks/epoch_times.py and the README).
    """

    filters: tuple[int, ...] = (16, 32, 64)
    kernel: int = 3
    activation: str = "selu"
    output: str = "sigmoid"
    corruption: str = "none"
    corruption_rate: float = 0.0
    channels_last: bool = True

    def validate(self) -> None:
        """ConfigError for values no conv autoencoder can use (the image size is checked
        when the model is built)."""
        check_conv_options(self.filters, self.kernel)
        check_activation("activation", self.activation)
        check_choice("output", self.output, ("sigmoid", "linear"))
        check_corruption(self.corruption, self.corruption_rate)


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


def stage_sizes(size: tuple[int, int], stages: int) -> list[tuple[int, int]]:
    """Spatial sizes after each MaxPool2D(2) (floor): [(H, W), (H//2, W//2), ...]."""
    sizes = [tuple(size)]
    for _ in range(stages):
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes


class ConvAutoencoder(Autoencoder):
    """[corruption] -> conv + max-pool stages -> flat codings -> transposed convs -> logits.

    x: (B, C, H, W) in [0, 1]; codings (B, filters[-1] * (H >> n) * (W >> n)) for n stages.
    """

    def __init__(self, cfg: ConvAEConfig, sample_shape):
        super().__init__(cfg, sample_shape)
        cfg.validate()
        check_conv_stages("conv_ae", cfg.filters, self.sample_shape,
                          "Use a dense model (stacked_ae) for tables, or, if the rows are "
                          "flattened images, set data.image_shape=[C,H,W] (e.g. [1,28,28]).")
        channels = self.sample_shape[0]
        sizes = stage_sizes(self.sample_shape[1:], len(cfg.filters))
        self.code_shape = (cfg.filters[-1], *sizes[-1])
        self.encoder = self._encoder(cfg, channels)
        self.decoder = self._decoder(cfg, channels, sizes)

    def init_weights(self) -> None:
        """Keras init, then the channels-last memory format (after: the random fill of a
        weight follows its memory layout, and the book numbers come from the default one)."""
        super().init_weights()
        if self.cfg.channels_last:
            self.to(memory_format=torch.channels_last)

    @staticmethod
    def _encoder(cfg: ConvAEConfig, channels: int) -> nn.Sequential:
        layers = [corruption(cfg.corruption, cfg.corruption_rate)]
        for n_in, n_out in zip((channels, *cfg.filters[:-1]), cfg.filters):
            layers += [nn.Conv2d(n_in, n_out, cfg.kernel, padding=cfg.kernel // 2),
                       activation(cfg.activation), nn.MaxPool2d(2)]
        return nn.Sequential(*layers, nn.Flatten())

    def _decoder(self, cfg: ConvAEConfig, channels: int, sizes) -> nn.Sequential:
        layers: list[nn.Module] = [nn.Unflatten(1, self.code_shape)]
        outs = (*cfg.filters[-2::-1], channels)
        for i, (n_in, n_out) in enumerate(zip(cfg.filters[::-1], outs)):
            layers.append(KerasConvTranspose2d(n_in, n_out, cfg.kernel, sizes[-2 - i]))
            if i < len(outs) - 1:
                layers.append(activation(cfg.activation))
        return nn.Sequential(*layers)

    @property
    def coding_dim(self) -> int:
        c, h, w = self.code_shape
        return c * h * w

    def _prepare(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def encode(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) in [0, 1] -> codings (B, coding_dim)."""
        return self.encoder(self._prepare(x))

    def losses(self, x: Tensor) -> dict[str, Tensor]:
        return super().losses(self._prepare(x))

    def eval_step(self, x, y):
        return super().eval_step(self._prepare(x), y)


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


CONV_RECIPES = {
    # Book: SGD(lr=1.0), binary_crossentropy, fit(epochs=5), batch 32, Glorot init.
    "book": {"train": {"optimizer": "sgd", "lr": 1.0, "epochs": 5, "batch_size": 32}},
    # Book quality in less wall time (measured: see README / the report).
    "fast": {"train": {"optimizer": "adam", "lr": 2e-3, "epochs": 3, "batch_size": 64}},
}

register("conv_ae", ConvAEConfig,
         "Convolutional autoencoder: 3 conv + max-pool stages, 3 transposed convolutions",
         CONV_RECIPES, {"model": {"filters": [4, 4, 4]}})(ConvAutoencoder)
