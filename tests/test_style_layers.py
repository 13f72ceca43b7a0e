"""The ProGAN / StyleGAN building blocks of models/style_layers.py, checked against hand
computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentforge.models.init import OwnInit, keras_init_
from latentforge.models.style_layers import (
    AdaIN, EqualizedConv2d, EqualizedLinear, MappingNetwork, MinibatchStdDev,
    NoiseInjection, PixelNorm)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_equalized_scales_are_he_constants():
    assert isinstance(EqualizedLinear(3, 4), OwnInit)
    assert EqualizedLinear(300, 7).scale == pytest.approx(math.sqrt(2 / 300))
    assert EqualizedLinear(300, 7, gain=1.0).scale == pytest.approx(math.sqrt(1 / 300))
    conv = EqualizedConv2d(16, 8, 3)
    assert conv.scale == pytest.approx(math.sqrt(2 / (16 * 3 * 3)))
    assert EqualizedConv2d(5, 2, 1).scale == pytest.approx(math.sqrt(2 / 5))
    slow = EqualizedLinear(300, 7, lr_multiplier=0.01)
    assert slow.scale == pytest.approx(0.01 * math.sqrt(2 / 300))


def _stats(t):
    return t.detach().mean().item(), t.detach().std().item()


def test_stored_weights_are_standard_normal_and_survive_keras_init():
    model = nn.Sequential(
        nn.Sequential(EqualizedLinear(512, 512), nn.LeakyReLU(0.2)),
        EqualizedConv2d(64, 128, 3),
        nn.Linear(512, 512),                    # a plain layer still gets Glorot
        AdaIN(128, 512))
    with torch.no_grad():                       # garbage that init must overwrite
        for p in model.parameters():
            p.fill_(3.0)
    keras_init_(model)
    for layer in (model[0][0], model[1]):
        mean, std = _stats(layer.weight)
        assert abs(mean) < 0.02 and abs(std - 1) < 0.02, (mean, std)
        assert torch.all(layer.bias == 0)
    limit = math.sqrt(6 / (512 + 512))
    assert model[2].weight.abs().max() <= limit and model[2].weight.std() < 0.1
    adain = model[3]
    assert abs(_stats(adain.style.weight)[1] - 1) < 0.02
    assert torch.all(adain.style.bias[:128] == 1) and torch.all(adain.style.bias[128:] == 0)


def test_lr_multiplier_init_keeps_effective_weights():
    layer = EqualizedLinear(512, 512, lr_multiplier=0.01, bias_init=0.5)
    _, std = _stats(layer.weight)
    assert abs(std - 100) < 2                   # stored std 1 / lr_mul
    _, eff_std = _stats(layer.effective_weight())
    assert abs(eff_std - math.sqrt(2 / 512)) < 0.002
    assert torch.allclose(layer.effective_bias(), torch.full((512,), 0.5))


def test_equalized_linear_output_matches_functional():
    layer = EqualizedLinear(20, 6, lr_multiplier=0.1)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(5, 20)
    expected = F.linear(x, layer.weight * math.sqrt(2 / 20) * 0.1, layer.bias * 0.1)
    assert torch.allclose(layer(x), expected, atol=1e-6)
    plain = EqualizedLinear(20, 6, bias=False)
    assert plain.bias is None
    assert torch.allclose(plain(x), F.linear(x, plain.weight * math.sqrt(2 / 20)), atol=1e-6)


def test_equalized_conv_output_matches_functional():
    conv = EqualizedConv2d(3, 5, 3)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 3, 8, 8)
    expected = F.conv2d(x, conv.weight * math.sqrt(2 / 27), conv.bias, padding=1)
    out = conv(x)
    assert out.shape == (2, 5, 8, 8)
    assert torch.allclose(out, expected, atol=1e-5)
    strided = EqualizedConv2d(3, 4, 4, stride=2, padding=1)
    assert torch.allclose(strided(x), F.conv2d(x, strided.weight * math.sqrt(2 / 48),
                                               strided.bias, stride=2, padding=1), atol=1e-5)


def test_lr_multiplier_scales_the_gradients():
    """Same effective weights, lr_mul 0.01: the stored weights' gradient is 100x smaller."""
    fast, slow = EqualizedLinear(10, 4), EqualizedLinear(10, 4, lr_multiplier=0.01)
    with torch.no_grad():
        slow.weight.copy_(fast.weight / 0.01)
    assert torch.allclose(slow.effective_weight(), fast.effective_weight(), atol=1e-6)
    x = torch.randn(3, 10)
    fast(x).sum().backward()
    slow(x).sum().backward()
    assert torch.allclose(slow.weight.grad, 0.01 * fast.weight.grad, atol=1e-7)
    assert torch.allclose(slow.bias.grad, 0.01 * fast.bias.grad, atol=1e-7)


def test_pixel_norm_gives_unit_rms_over_channels():
    x = torch.randn(4, 16, 5, 5) * 7 + 3
    y = PixelNorm()(x)
    rms = y.pow(2).mean(dim=1).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-5)
    assert torch.allclose(y, x / x.pow(2).mean(dim=1, keepdim=True).add(1e-8).sqrt())
    z = PixelNorm()(torch.randn(6, 32) * 0.01)
    assert torch.allclose(z.pow(2).mean(dim=1), torch.ones(6), atol=1e-4)


def test_minibatch_stddev_matches_hand_computation():
    x = torch.randn(8, 3, 4, 5, dtype=torch.float64)
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (8, 4, 4, 5)
    assert torch.equal(out[:, :3], x)
    a = x.numpy()
    n_groups = 8 // 4
    for i in range(8):
        members = [j for j in range(8) if j % n_groups == i % n_groups]
        assert len(members) == 4
        stds = []
        for c in range(3):
            for h in range(4):
                for w in range(5):
                    vals = [a[j, c, h, w] for j in members]
                    mu = sum(vals) / 4
                    stds.append(math.sqrt(sum((v - mu) ** 2 for v in vals) / 4 + 1e-8))
        expected = sum(stds) / len(stds)
        assert np.allclose(out[i, 3].numpy(), expected, atol=1e-10)
    assert not torch.allclose(out[0, 3], out[1, 3])   # two groups, two values


def test_minibatch_stddev_small_batch_and_errors():
    x = torch.randn(3, 2, 2, 2, dtype=torch.float64)
    out = MinibatchStdDev(group_size=4)(x)            # one group of min(4, 3) = 3
    expected = x.var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
    assert torch.allclose(out[:, 2], expected.expand(3, 2, 2))
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStdDev(group_size=4)(torch.randn(6, 2, 2, 2))


def test_minibatch_stddev_fit_group_uses_the_largest_dividing_group():
    layer = MinibatchStdDev(group_size=4, fit_group=True)
    assert [layer.group_size_for(b) for b in (8, 6, 7, 3, 10, 12)] == [4, 3, 1, 3, 2, 4]
    x = torch.randn(6, 2, 2, 2, dtype=torch.float64)
    out = layer(x)                                    # two groups of 3: i % 2
    for i in range(6):
        members = x[[j for j in range(6) if j % 2 == i % 2]]
        expected = members.var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
        assert torch.allclose(out[i, 2], expected.expand(2, 2))
    alone = layer(torch.randn(7, 2, 2, 2, dtype=torch.float64))[:, 2]
    assert torch.allclose(alone, torch.full_like(alone, math.sqrt(1e-8)))


def test_noise_injection():
    layer = NoiseInjection(4)
    assert torch.all(layer.weight == 0)
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(layer(x), x)
    noise = torch.randn(2, 1, 3, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.0, 1.0, -2.0, 0.5]))
    out = layer(x, noise)
    for c, s in enumerate([0.0, 1.0, -2.0, 0.5]):
        assert torch.allclose(out[:, c], x[:, c] + s * noise[:, 0])
    drawn = layer(x) - x
    assert torch.all(drawn[:, 0] == 0) and drawn[:, 1].abs().sum() > 0
    assert torch.allclose(drawn[:, 2], -2 * drawn[:, 1])   # one map shared by channels


def test_adain_output_statistics_are_the_style():
    adain = AdaIN(6, 10)
    with torch.no_grad():
        adain.style.bias.normal_()
    x = torch.randn(3, 6, 8, 8) * 5 + 2
    w = torch.randn(3, 10)
    y_s, y_b = adain.styles(w)
    out = adain(x, w)
    assert out.shape == x.shape
    assert torch.allclose(out.mean(dim=(2, 3)), y_b, atol=1e-4)
    assert torch.allclose(out.std(dim=(2, 3), unbiased=False), y_s.abs(), atol=1e-4)
    style = F.linear(w, adain.style.weight * math.sqrt(1 / 10), adain.style.bias)
    assert torch.allclose(torch.cat([y_s, y_b], dim=1), style, atol=1e-5)


def test_adain_initial_style_is_identity_scale():
    adain = AdaIN(4, 8)
    y_s, y_b = adain.styles(torch.zeros(2, 8))
    assert torch.allclose(y_s, torch.ones(2, 4)) and torch.allclose(y_b, torch.zeros(2, 4))


def test_mapping_network_shape_and_lr_multiplier():
    net = MappingNetwork(z_dim=16, w_dim=32, depth=4)
    linears = [m for m in net.modules() if isinstance(m, EqualizedLinear)]
    assert len(linears) == 4
    assert [(m.in_features, m.out_features) for m in linears] == \
        [(16, 32), (32, 32), (32, 32), (32, 32)]
    assert isinstance(net.net[0], PixelNorm)
    assert sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2
               for m in net.modules()) == 4
    z = torch.randn(5, 16)
    assert net(z).shape == (5, 32)
    assert torch.allclose(net(z), net(z * 3.0), atol=1e-5)  # PixelNorm on z first
    for m in linears:
        assert m.lr_multiplier == 0.01
        assert m.scale == pytest.approx(0.01 * math.sqrt(2 / m.in_features))
        assert torch.allclose(m.effective_weight(), m.weight * 0.01 * math.sqrt(
            2 / m.in_features))
    fast = MappingNetwork(16, 32, 2, lr_multiplier=1.0)
    assert all(m.scale == pytest.approx(math.sqrt(2 / m.in_features))
               for m in fast.modules() if isinstance(m, EqualizedLinear))
    deep = MappingNetwork(8, 12, 3, hidden_dim=20)
    assert deep(torch.randn(2, 8)).shape == (2, 12)
    with pytest.raises(ValueError):
        MappingNetwork(8, 8, 0)
