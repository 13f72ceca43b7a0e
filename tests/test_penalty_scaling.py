"""The GAN gradient penalties under 16-mixed's loss scaling (models/gan_losses.py,
`Precision.loss_scale`): the input gradient is taken at the scaler's scale and unscaled
(torch's AMP recipe for gradient penalties), so float16 keeps gradients it would flush to 0;
an overflowing scaled gradient skips D's step and lowers the scale without stopping the run.
16-mixed runs on the CPU here by letting the test, only the test, accept the CPU (as in
tests/test_precision.py)."""
from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import Tensor, nn

import latentforge as lf
from conftest import make_tiny_cfg
from latentforge.models import gan_losses
from latentforge.models.gan import DenseGAN, DenseGANConfig
from latentforge.models.gan_losses import gradient_penalty, r1_penalty
from latentforge.training import device
from latentforge.training.precision import Precision
from latentforge.training.step import Stepper

S = 2.0 ** 16  # GradScaler's initial scale


@pytest.fixture
def fp16_on_cpu(monkeypatch):
    """Let 16-mixed run on the CPU (the product refuses it there)."""
    monkeypatch.setattr(device, "MIXED16_DEVICES", ("cuda", "cpu"))


@pytest.fixture
def scales_seen(monkeypatch):
    """The `scale` of every input-gradient pass the penalties take."""
    seen, real = [], gan_losses._input_gradient

    def spy(critic, x, scale=1.0):
        seen.append(scale)
        return real(critic, x, scale)

    monkeypatch.setattr(gan_losses, "_input_gradient", spy)
    return seen


def _penalty(kind: str, critic, real: Tensor, fake: Tensor, scale: float = 1.0):
    if kind == "r1":
        return r1_penalty(critic, real, scale)
    return gradient_penalty(critic, real, fake, torch.Generator().manual_seed(3), scale)


def _conv_critic(seed: int = 0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 1))
    return net, lambda x: net(x).squeeze(1)


def _value_and_weight_grads(net, critic, kind, real, fake, scale, amp):
    """The penalty and its weight gradients as the Stepper gets them (loss x S, / S); the
    last layer's bias has none (it does not move the input gradient)."""
    net.zero_grad()
    with torch.autocast("cpu", dtype=torch.float16, enabled=amp):
        value = _penalty(kind, critic, real, fake, scale)
    (value * S).backward()
    return value.detach(), [p.grad / S for p in net.parameters() if p.grad is not None]


def _pair(b: int, shape=(1, 4, 4)):
    gen = torch.Generator().manual_seed(1)
    return torch.rand(b, *shape, generator=gen), torch.rand(b, *shape, generator=gen)


# ---------------------------------------------------------------- the arithmetic

@pytest.mark.parametrize("name, scale", [("32", 1.0), ("bf16", 1.0), ("16-mixed", S)])
def test_loss_scale_is_the_scalers_scale_and_one_without_a_scaler(name, scale):
    assert Precision(name, "cpu").loss_scale() == scale


@pytest.mark.parametrize("kind", ["gp", "r1"])
@pytest.mark.parametrize("b", [4, 3])  # B / S exact, and not
def test_in_float32_the_scaled_penalty_is_the_unscaled_one(kind, b):
    net, critic = _conv_critic()
    real, fake = _pair(b)
    plain, plain_grads = _value_and_weight_grads(net, critic, kind, real, fake, 1.0, False)
    scaled, scaled_grads = _value_and_weight_grads(net, critic, kind, real, fake, S, False)
    assert float(plain) > 0.01
    torch.testing.assert_close(scaled, plain, rtol=1e-6, atol=0)
    for a, e in zip(scaled_grads, plain_grads):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("kind", ["gp", "r1"])
def test_in_float16_at_the_scalers_scale_the_penalty_matches_float32(kind):
    net, critic = _conv_critic()
    real, fake = _pair(4)
    scale = Precision("16-mixed", "cpu").loss_scale()
    ref, ref_grads = _value_and_weight_grads(net, critic, kind, real, fake, 1.0, False)
    half, half_grads = _value_and_weight_grads(net, critic, kind, real, fake, scale, True)
    assert scale == S and torch.isfinite(half) and half.dtype == torch.float32
    torch.testing.assert_close(half, ref, rtol=3e-3, atol=0)  # float16's own rounding
    for a, e in zip(half_grads, ref_grads):
        torch.testing.assert_close(a, e, rtol=2e-2, atol=1e-4)


def _tiny_gradient_critic():
    """D(x) = w2 . (W1 x), all weights 1e-4: grad_x D = W1^T w2 = 2e-8 per input, under
    float16's smallest step (6e-8), so an unscaled float16 backward rounds it to 0."""
    net = nn.Sequential(nn.Linear(4, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1e-4)
    return net, lambda x: net(x).squeeze(1)


def test_unscaled_float16_flushes_small_gradients_to_zero_and_scaling_keeps_them():
    net, critic = _tiny_gradient_critic()
    real, fake = _pair(4, (4,))
    r1_true = float(r1_penalty(critic, real).detach())  # 4 inputs x (2e-8)^2 = 1.6e-15
    with torch.autocast("cpu", dtype=torch.float16):
        r1_flushed = r1_penalty(critic, real).detach()
        r1_scaled = r1_penalty(critic, real, S).detach()
    assert r1_true == pytest.approx(1.6e-15, rel=1e-3)
    assert float(r1_flushed) == 0.0
    assert float(r1_scaled) == pytest.approx(r1_true, rel=1e-2)
    # WGAN-GP: (||g|| - 1)^2 is ~1 either way; its gradient, which trains D, is not
    _, true = _value_and_weight_grads(net, critic, "gp", real, fake, 1.0, False)
    _, flushed = _value_and_weight_grads(net, critic, "gp", real, fake, 1.0, True)
    _, scaled = _value_and_weight_grads(net, critic, "gp", real, fake, S, True)
    assert all(bool((g.abs() > 1e-7).all()) for g in true)
    assert all(bool((g == 0).all()) for g in flushed)
    for a, e in zip(scaled, true):
        torch.testing.assert_close(a, e, rtol=1e-2, atol=0)


@pytest.mark.parametrize("kind", ["gp", "r1"])
def test_an_overflowing_scaled_gradient_reports_the_unscaled_value_with_a_nan_gradient(kind):
    """At 2^30 the scaled float16 backward overflows: the penalty shows the value float16
    gives without scaling, and its gradient is NaN (the scaler then skips the step)."""
    net, critic = _conv_critic()
    real, fake = _pair(4)
    with torch.autocast("cpu", dtype=torch.float16):
        unscaled = _penalty(kind, critic, real, fake)
        overflowed = _penalty(kind, critic, real, fake, 2.0 ** 30)
    assert torch.isfinite(unscaled) and torch.equal(overflowed.detach(), unscaled.detach())
    grads = torch.autograd.grad(overflowed, [net[0].weight, net[3].weight])
    assert all(bool(g.isnan().all()) for g in grads)  # the scaler finds them: no step


# ---------------------------------------------------------------- the step and the runs

def _dense_wgan(monkeypatch, init_scale: float, clip_norm):
    monkeypatch.setattr(torch.amp, "GradScaler",
                        partial(torch.amp.GradScaler, init_scale=init_scale))
    torch.manual_seed(0)
    model = DenseGAN(DenseGANConfig(loss="wgan-gp", latent_dim=3, g_hidden=(8,),
                                    d_hidden=(8,)), (1, 4, 4))
    opts = model.configure_optimizers(make_tiny_cfg("gan").train)
    amp = Precision("16-mixed", "cpu")
    return model, amp, Stepper(opts, clip_norm=clip_norm, precision=amp)


def _d_state(model) -> dict:
    return {k: v.clone() for k, v in model.discriminator.state_dict().items()}


def _one_batch(model, amp, step) -> dict:
    model.train()
    with amp.autocast():
        out = model.train_step(torch.rand(8, 1, 4, 4), None, step)
    step.end_batch()
    return out


@pytest.mark.parametrize("clip_norm", [None, 1.0])
def test_an_overflowing_penalty_skips_ds_step_and_lowers_the_scale(monkeypatch, clip_norm):
    """Scaled input gradients made inf (D's own loss is fine at 2^10): D keeps its weights,
    the scale halves, and the batch reports finite numbers; the same batch unpatched steps."""
    model, amp, step = _dense_wgan(monkeypatch, 2.0 ** 10, clip_norm)
    before = _d_state(model)
    normal = _one_batch(model, amp, step)
    assert any(not torch.equal(v, before[k]) for k, v in _d_state(model).items())
    assert amp.loss_scale() == 2.0 ** 10

    model, amp, step = _dense_wgan(monkeypatch, 2.0 ** 10, clip_norm)
    real = gan_losses._input_gradient
    monkeypatch.setattr(gan_losses, "_input_gradient", lambda critic, x, scale=1.0: (
        real(critic, x, scale) * (math.inf if scale != 1.0 else 1.0)))
    before = _d_state(model)
    out = _one_batch(model, amp, step)
    assert all(torch.equal(v, before[k]) for k, v in _d_state(model).items())
    assert amp.loss_scale() == 2.0 ** 9
    assert all(bool(torch.isfinite(v)) for v in out.values())
    assert float(out["gradient_penalty"]) == pytest.approx(float(normal["gradient_penalty"]),
                                                           rel=1e-2)


@pytest.mark.parametrize("name, extra, metric", [
    ("dcgan", ['model.loss="wgan-gp"'], "gradient_penalty"),
    ("stylegan", [], "r1_penalty"),
])
def test_tiny_gans_train_in_16_mixed_with_scaled_penalties(name, extra, metric, fp16_on_cpu,
                                                           scales_seen):
    run = lf.train(make_tiny_cfg(name, 'train.precision="16-mixed"', *extra, epochs=1),
                   run_dir=False)
    # every penalty at the scaler's scale (a power of two), none overflowed (no 1.0 retake)
    assert scales_seen and all(s > 1 and math.log2(s).is_integer() for s in scales_seen)
    record = run.history[-1]
    assert record[metric] > 0
    assert all(math.isfinite(v) for k, v in record.items() if "loss" in k or k == metric)


def test_a_run_whose_penalties_overflow_goes_on_with_a_lower_scale(fp16_on_cpu, scales_seen,
                                                                   monkeypatch):
    """A scale far too high (2^24) overflows the first penalties: those steps are skipped,
    and the run does not stop as diverged (their reported penalties are numbers)."""
    monkeypatch.setattr(torch.amp, "GradScaler",
                        partial(torch.amp.GradScaler, init_scale=2.0 ** 24))
    run = lf.train(make_tiny_cfg("dcgan", 'model.loss="wgan-gp"', 'train.precision="16-mixed"',
                                 epochs=1), run_dir=False)
    assert scales_seen[0] == 2.0 ** 24 and 1.0 in scales_seen  # an overflow, shown unscaled
    assert scales_seen[-1] < 2.0 ** 24
    assert all(math.isfinite(v) for v in run.history[-1].values())


def test_16_mixed_resume_with_overflowing_penalties_is_bitwise_identical(
        tmp_path, fp16_on_cpu, scales_seen, monkeypatch):
    """A scale that starts far too high and grows every 3 steps: penalties overflow and are
    retaken unscaled at several steps, and a resumed run still trains as the whole one."""
    from test_precision import _resume_equals_uninterrupted

    monkeypatch.setattr(torch.amp, "GradScaler", partial(
        torch.amp.GradScaler, init_scale=2.0 ** 24, growth_interval=3))
    _resume_equals_uninterrupted("dcgan", tmp_path, 'model.loss="wgan-gp"',
                                 'train.precision="16-mixed"')
    assert scales_seen.count(1.0) >= 3
