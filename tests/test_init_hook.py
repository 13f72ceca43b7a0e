"""The init hook: `Model.init_weights()` runs once, after the outermost constructor; Keras
init is the default, a model overrides it (GANs no longer hard-wire it), and a layer with
its own init (`models.init.OwnInit`) keeps it."""
from __future__ import annotations

import torch
from torch import nn

from latentforge.models.base import Model
from latentforge.models.gan import DenseGAN, DenseGANConfig
from latentforge.models.init import OwnInit, keras_init_

GAN_CFG = DenseGANConfig(latent_dim=3, g_hidden=(8,), d_hidden=(8,))


class ConstantLinear(OwnInit, nn.Linear):
    """A layer with an init of its own (as an equalized-learning-rate layer would have)."""

    def init_weights(self) -> None:
        nn.init.constant_(self.weight, 0.25)
        nn.init.constant_(self.bias, -1.0)


class Counting(Model):
    calls = 0

    def __init__(self, cfg, sample_shape):
        super().__init__(cfg, sample_shape)
        self.net = nn.Sequential(nn.Linear(4, 4), ConstantLinear(4, 2))

    def init_weights(self) -> None:
        Counting.calls += 1
        super().init_weights()


class Later(Counting):
    def __init__(self, cfg, sample_shape):
        super().__init__(cfg, sample_shape)
        self.extra = nn.Linear(3, 3)  # built after the base constructor returned
        nn.init.constant_(self.extra.bias, 7.0)


def test_init_weights_runs_once_after_the_outermost_constructor():
    Counting.calls = 0
    model = Later(None, (4,))
    assert Counting.calls == 1
    assert torch.equal(model.extra.bias, torch.zeros(3))  # Keras init reached it
    assert torch.equal(model.net[0].bias, torch.zeros(4))
    assert torch.equal(model.net[1].weight, torch.full((2, 4), 0.25))  # own init kept
    assert torch.equal(model.net[1].bias, torch.full((2,), -1.0))


def test_keras_init_is_the_default_of_the_gans():
    torch.manual_seed(0)
    model = DenseGAN(GAN_CFG, (1, 4, 4))
    torch.manual_seed(0)
    plain = DenseGAN.__new__(DenseGAN)
    DenseGAN.__init__(plain, GAN_CFG, (1, 4, 4))  # built without the hook: torch's init
    keras_init_(plain)
    for a, b in zip(model.state_dict().values(), plain.state_dict().values()):
        assert torch.equal(a, b)
    assert all(not layer.bias.any() for layer in model.modules()
               if isinstance(layer, nn.Linear))


def test_a_gan_that_overrides_init_weights_keeps_its_own_init():
    class HalfGAN(DenseGAN):
        def init_weights(self) -> None:
            for p in self.parameters():
                nn.init.constant_(p, 0.5)

    model = HalfGAN(GAN_CFG, (1, 4, 4))
    assert all(torch.all(p == 0.5) for p in model.parameters())
