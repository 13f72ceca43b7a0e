"""Model bases: `Model` (what the engine calls) and `Autoencoder` (the one-optimizer step).

The engine never checks model types: it calls `configure_optimizers`, `train_step` and
`eval_step`. Networks (encoder, decoder, ...) are plain `nn.Module`s; the model owns the
losses. Images arrive as float tensors (B, C, H, W) in [0, 1]; tables as (B, D).
Weights are initialised once, by `Model.init_weights()`, right after the outermost
``__init__`` returns (Keras's Glorot-uniform kernels and zero biases by default).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentforge.evaluation import metrics
from latentforge.models.init import keras_init_
from latentforge.training.compiling import compile_module
from latentforge.training.optim import make_optimizer


@contextmanager
def evaluating(module: nn.Module):
    """Put `module` in eval mode for the block, then restore its previous mode (also when
    the block raises). Used wherever the library runs a model that a caller may be training
    (sampling, scoring, evaluation)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


class _InitAfterBuild(type):
    """Metaclass of `Model`: ``Cls(cfg, shape)`` builds the model, then calls its
    `init_weights()` once, so layers a subclass adds after ``super().__init__`` are covered."""

    def __call__(cls, *args, **kwargs):
        model = super().__call__(*args, **kwargs)
        model.init_weights()
        return model


class Model(nn.Module, metaclass=_InitAfterBuild):
    """Base of every registered model.

    cfg: the model's config dataclass; sample_shape: shape of one input item, e.g. (1, 28, 28).
    """

    # What every model of the class can do: "encode" (x -> codings), "reconstruct",
    # "decode" (codings -> items), "generate" (samples from a prior), "posterior" (a VAE's
    # q(z|x)), "discriminate" (a GAN's D), "grow" (progressive growing: progan's growth
    # figure). `capabilities()` adds what depends on the instance. Generic code asks
    # `capabilities()`, never hasattr or the model's config.
    CAPABILITIES: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, cfg, sample_shape: tuple[int, ...]):
        super().__init__()
        self.cfg = cfg
        self.sample_shape = tuple(int(s) for s in sample_shape)

    def capabilities(self) -> frozenset[str]:
        """CAPABILITIES plus "images" when one item is an image (C, H, W), not a table row."""
        return self.CAPABILITIES | ({"images"} if len(self.sample_shape) == 3 else set())

    def init_weights(self) -> None:
        """Called once when the model is built: Keras's init (Glorot-uniform kernels, zero
        biases of every Linear/Conv layer; the book recipes' numbers depend on it). A model
        or layer that needs another init (e.g. equalized learning rate) overrides this."""
        keras_init_(self)

    def ema_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """(state_dict name, parameter) pairs that ``train.ema_decay`` averages (the engine's
        `training.ema.EMA`): every parameter, tied ones under each of their names. A GAN
        averages only its generator's."""
        return list(self.named_parameters(remove_duplicate=False))

    def compile_networks(self, backend: str | None) -> None:
        """``train.compile`` (training/compiling.py): compile each network the model
        holds (every direct child module with parameters) in place with torch.compile's
        `backend`; None turns them back to eager. Parameter names stay. A model with
        another compiled path adds it."""
        for child in self.children():
            if any(True for _ in child.parameters()):
                compile_module(child, backend)

    def batch_size(self, default: int) -> int:
        """The batch size of the next epoch (the engine asks at the start of each epoch):
        `default` (train.batch_size); a model with per-phase batch sizes (progan) answers
        its current phase's."""
        return default

    def configure_optimizers(self, train_cfg) -> dict[str, torch.optim.Optimizer]:
        """One optimizer named "main" over all parameters (GANs override with two)."""
        return {"main": make_optimizer(self.parameters(), train_cfg)}

    def train_step(self, x: Tensor, y: Tensor | None, step) -> dict[str, Tensor]:
        """One optimisation step on batch `x` through `step` (a `training.step.Stepper`:
        ``step.step(name, loss)``); returns detached losses (a "loss" key)."""
        raise NotImplementedError

    def eval_step(self, x: Tensor, y: Tensor | None) -> dict[str, Tensor]:
        """Batch-mean validation metrics (called under inference_mode, eval mode)."""
        raise NotImplementedError


class Autoencoder(Model):
    """An encoder + decoder trained to reconstruct its input (book ch. 17).

    Subclasses set `self.encoder` (x -> codings) and `self.decoder` (codings -> logits of
    shape (B, *sample_shape)), and the config field `output`: "sigmoid" (binary
    cross-entropy on logits, data in [0, 1]), "linear" or "selu" (that activation, then
    MSE). They may override `regularization(codings)` for extra loss terms; `eval_step`
    reports them too, so validation losses are comparable with Keras's (which include them).
    """

    OUTPUTS = ("sigmoid", "linear", "selu")

    CAPABILITIES = frozenset({"encode", "reconstruct", "decode"})

    def encode(self, x: Tensor) -> Tensor:
        """x: (B, *sample_shape) -> codings (B, coding_dim)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """codings (B, coding_dim) -> reconstructions in the data range ([0, 1] for sigmoid)."""
        return self.output_activation(self.decoder(z))

    def output_activation(self, out: Tensor) -> Tensor:
        if self.cfg.output == "sigmoid":
            return torch.sigmoid(out)
        return F.selu(out) if self.cfg.output == "selu" else out

    def forward(self, x: Tensor) -> Tensor:
        """Logits (sigmoid output) or values (linear output), shape of x."""
        return self.decoder(self.encode(x))

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def reconstruction_loss(self, out: Tensor, x: Tensor) -> Tensor:
        """Mean per-element BCE on logits (Keras binary_crossentropy) or MSE."""
        if self.cfg.output == "sigmoid":
            return F.binary_cross_entropy_with_logits(out, x)
        return F.mse_loss(self.output_activation(out), x)

    def regularization(self, codings: Tensor) -> dict[str, Tensor]:
        """Extra loss terms on the codings (sparsity, KL...); none by default."""
        return {}

    def losses(self, x: Tensor) -> dict[str, Tensor]:
        codings = self.encode(x)
        out = self.decoder(codings)
        terms = {"reconstruction": self.reconstruction_loss(out, x)}
        terms.update(self.regularization(codings))
        terms["loss"] = sum(terms.values())
        return terms

    def train_step(self, x, y, step):
        terms = self.losses(x)
        step.step("main", terms["loss"])
        return {k: v.detach() for k, v in terms.items()}

    def eval_step(self, x, y):
        codings = self.encode(x)
        out = self.decoder(codings)
        reconstruction = self.reconstruction_loss(out, x)
        extra = self.regularization(codings)
        result = {"loss": reconstruction + sum(extra.values())}
        if extra:
            result.update(reconstruction=reconstruction, **extra)
        if self.cfg.output == "sigmoid":
            result["rounded_accuracy"] = metrics.rounded_accuracy(x, torch.sigmoid(out))
        return result
