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

The stages are `models.conv_blocks`' (`pool_stages`, `upsample_stages`, shared with
conv_vae and DCGAN); its `KerasConvTranspose2d` crops the Keras "same" way (a torch
ConvTranspose2d with padding=1, output_padding=1 would shift the output grid by a pixel).

Init (Keras, `Model.init_weights`): Glorot-uniform kernels, zero biases. Keras's Conv2DTranspose
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

from latentforge.models.base import Autoencoder
from latentforge.models.checks import check_activation, check_choice, check_corruption
from latentforge.models.conv_blocks import (check_conv_options, check_conv_stages,
                                            pool_stages, stage_sizes, upsample_stages)
from latentforge.models.layers import corruption
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
        math; measured in benchmarks/epoch_times.py and the README); not while
        train.compile compiles it (`compile_networks`).
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
        self._compiling = False

    def init_weights(self) -> None:
        """Keras init, then the channels-last memory format (after: the random fill of a
        weight follows its memory layout, and the book numbers come from the default one)."""
        super().init_weights()
        if self.cfg.channels_last:
            self.to(memory_format=torch.channels_last)

    def compile_networks(self, backend: str | None) -> None:
        """train.compile: compiled in the default (NCHW) memory format, then channels-last
        again. Inductor lays out convolutions itself, and on CUDA (torch 2.11) its graphs
        of this model in channels-last fail a stride check (measured on an H200; NCHW
        compiled trains as eager does)."""
        super().compile_networks(backend)
        self._compiling = backend is not None
        channels_last = self.cfg.channels_last and not self._compiling
        self.to(memory_format=torch.channels_last if channels_last
                else torch.contiguous_format)

    @staticmethod
    def _encoder(cfg: ConvAEConfig, channels: int) -> nn.Sequential:
        return nn.Sequential(corruption(cfg.corruption, cfg.corruption_rate),
                             *pool_stages(channels, cfg.filters, cfg.kernel, cfg.activation),
                             nn.Flatten())

    def _decoder(self, cfg: ConvAEConfig, channels: int, sizes) -> nn.Sequential:
        return nn.Sequential(nn.Unflatten(1, self.code_shape),
                             *upsample_stages(cfg.filters[::-1], channels, cfg.kernel,
                                              sizes[-2::-1], cfg.activation, None))

    @property
    def coding_dim(self) -> int:
        c, h, w = self.code_shape
        return c * h * w

    def _prepare(self, x: Tensor) -> Tensor:
        if self.cfg.channels_last and not self._compiling:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def encode(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) in [0, 1] -> codings (B, coding_dim)."""
        return self.encoder(self._prepare(x))

    def losses(self, x: Tensor) -> dict[str, Tensor]:
        return super().losses(self._prepare(x))

    def eval_step(self, x, y):
        return super().eval_step(self._prepare(x), y)


CONV_RECIPES = {
    # Book: SGD(lr=1.0), binary_crossentropy, fit(epochs=5), batch 32, Glorot init.
    "book": {"train": {"optimizer": "sgd", "lr": 1.0, "epochs": 5, "batch_size": 32}},
    # Book quality in less wall time (measured: see README / the report).
    "fast": {"train": {"optimizer": "adam", "lr": 2e-3, "epochs": 3, "batch_size": 64}},
}

register("conv_ae", ConvAEConfig,
         "Convolutional autoencoder: 3 conv + max-pool stages, 3 transposed convolutions",
         CONV_RECIPES, {"model": {"filters": [4, 4, 4]}})(ConvAutoencoder)
