"""The GAN family: `gan`, `dcgan`, their options (conditional, experience replay, minibatch
discrimination, WGAN-GP) and the parts in `models/gan_parts.py`, on tiny digits runs (the
loss strategies of `models/gan_losses.py`: tests/test_gan_losses.py).

The registry-wide contract (train, resume, checkpoints, divergence) is tests/test_conformance.py.
"""
from __future__ import annotations

import math

import pytest
import torch

import latentforge
from conftest import make_tiny_cfg
from latentforge.api import build_model
from latentforge.data import load_data
from latentforge.data.dataset import Splits, TensorData
from latentforge.errors import ConfigError, DataError, TrainingDiverged
from latentforge.models.conv_blocks import keras_same_padding
from latentforge.models.gan import DCGAN, DCGANConfig, DenseGAN, DenseGANConfig
from latentforge.models.gan_losses import gradient_penalty, random_interpolates
from latentforge.models.gan_parts import MinibatchDiscrimination, ReplayBuffer
from latentforge.training.step import Stepper


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _built(name: str, *extra: str):
    """(model, optimizers, x (16, 1, 8, 8), y (16,)) of the tiny preset plus `extra`."""
    cfg = make_tiny_cfg(name, *extra)
    splits = load_data(cfg.data)
    model = build_model(cfg, splits.train.sample_shape)
    idx = torch.arange(16)
    return model, model.configure_optimizers(cfg.train), splits.train.batch(idx), \
        splits.train.y[idx]


# ---------------------------------------------------------------- book architectures

def test_book_architectures_have_the_keras_parameter_counts():
    """Keras summaries of the book's networks: G 136,634 / D 132,951 (GAN); DCGAN G 840,705
    with BatchNorm moving statistics (384), D 212,865."""
    def count(module):
        return sum(p.numel() for p in module.parameters())

    gan = DenseGAN(DenseGANConfig(), (1, 28, 28))
    assert (count(gan.generator), count(gan.discriminator)) == (136_634, 132_951)
    dcgan = DCGAN(DCGANConfig(), (1, 28, 28))
    bn_stats = sum(b.numel() for n, b in dcgan.generator.named_buffers() if "running" in n)
    assert (count(dcgan.generator) + bn_stats, count(dcgan.discriminator)) == (840_705, 212_865)
    assert dcgan.generate(2).shape == (2, 1, 28, 28)


def test_keras_same_padding_of_stride_2_convolutions():
    # TensorFlow: out = ceil(n / 2), total pad (out - 1) * 2 + k - n, smaller half first.
    assert keras_same_padding((28, 14), 5).padding == (1, 2, 1, 2)
    assert keras_same_padding((7, 8), 5).padding == (1, 2, 2, 2)
    conv = torch.nn.Sequential(keras_same_padding((7, 7), 5), torch.nn.Conv2d(1, 1, 5, 2))
    assert conv(torch.zeros(1, 1, 7, 7)).shape[-2:] == (4, 4)


@pytest.mark.parametrize("name", ["gan", "dcgan"])
def test_generate_and_discriminate(name):
    model, _, x, _ = _built(name)
    model.train()
    images = model.generate(10, generator=torch.Generator().manual_seed(3))
    assert images.shape == (10, 1, 8, 8) and not images.requires_grad
    assert images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, model.generate(10, generator=torch.Generator().manual_seed(3)))
    assert model.training  # the previous mode is restored
    z = torch.randn(10, model.coding_dim, generator=torch.Generator().manual_seed(3))
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model.decode(z), images)  # generate = decode of N(0, I) codings
    probs = model.discriminate(x)
    assert probs.shape == (16,) and ((probs > 0) & (probs < 1)).all()


def test_dcgan_rescales_images_to_minus_one_one():
    model, _, x, _ = _built("dcgan")
    assert torch.equal(model.to_model(x), x * 2 - 1)
    assert torch.allclose(model.to_data(model.to_model(x)), x)
    assert isinstance(model.generator[-1], torch.nn.Tanh)


def test_dcgan_needs_sizes_divisible_by_four():
    cfg = DCGANConfig(latent_dim=4, g_channels=(4, 2), d_channels=(2, 2))
    assert DCGAN(cfg, (3, 12, 20)).generate(2).shape == (2, 3, 12, 20)
    with pytest.raises(ConfigError, match="divisible by 4.*10x12"):
        DCGAN(cfg, (1, 10, 12))
    with pytest.raises(ConfigError, match="divisible by 8"):
        DCGAN(DCGANConfig(g_channels=(4, 4, 4)), (1, 12, 12))
    with pytest.raises(ConfigError, match="images of shape"):
        DCGAN(cfg, (64,))


@pytest.mark.parametrize("change,match", [
    ({"loss": "lsgan"}, "model.loss"),
    ({"replay_fraction": 1.0}, "replay_fraction"),
    ({"loss": "wgan-gp", "minibatch_kernels": 4}, "minibatch"),
    ({"loss": "logistic", "minibatch_kernels": 4}, "model.r1_gamma=0"),
    ({"r1_gamma": -1.0}, "r1_gamma"),
    ({"d_lr": 0.0}, "d_lr"),
    ({"minibatch_group": 1}, "minibatch_group"),
])
def test_bad_options_raise_config_error(change, match):
    with pytest.raises(ConfigError, match=match):
        DenseGAN(DenseGANConfig(**change), (1, 8, 8))


# ---------------------------------------------------------------- the two-phase step

@pytest.mark.parametrize("name", ["gan", "dcgan"])
def test_d_step_leaves_g_and_g_step_leaves_d_unchanged(name):
    """Snapshots around each optimizer's step: the D step changes only D's parameters, the
    G step only G's; phase 2 adds no gradient to D's weights and keeps D's dropout on."""
    model, opts, x, y = _built(name)
    seen = {}

    def snapshot(key, module):
        return lambda opt, args, kwargs: seen.__setitem__(key, _state(module))

    def after_d_step(opt, args, kwargs):
        seen["g_after_d"] = _state(model.generator)
        seen["d_grads"] = [p.grad.clone() for p in model.discriminator.parameters()]

    def check_d_frozen(opt, args, kwargs):
        grads = [p.grad for p in model.discriminator.parameters()]
        assert all(torch.equal(a, b) for a, b in zip(grads, seen["d_grads"]))
        assert model.discriminator.training
        seen["d_before_g_step"] = _state(model.discriminator)

    opts["discriminator"].register_step_pre_hook(snapshot("g_before_d", model.generator))
    opts["discriminator"].register_step_post_hook(after_d_step)
    opts["generator"].register_step_pre_hook(check_d_frozen)
    opts["generator"].register_step_post_hook(snapshot("d_after_g", model.discriminator))
    d0, g0 = _state(model.discriminator), _state(model.generator)
    model.train()
    out = model.train_step(x, y, Stepper(opts))
    params = {n for n, _ in model.generator.named_parameters()}
    only = {k: v for k, v in seen["g_before_d"].items() if k in params}
    assert _same(only, {k: v for k, v in seen["g_after_d"].items() if k in params})
    assert _same(seen["d_before_g_step"], seen["d_after_g"])
    assert not _same(d0, seen["d_before_g_step"]) and not _same(g0, _state(model.generator))
    assert all(p.requires_grad for p in model.parameters())
    assert set(out) == {"loss", "d_loss", "g_loss", "d_real_acc", "d_fake_acc"}
    assert torch.equal(out["loss"], out["d_loss"] + out["g_loss"])
    assert all(0 <= float(out[k]) <= 1 for k in ("d_real_acc", "d_fake_acc"))


def test_d_loss_is_the_mean_bce_over_fakes_and_reals():
    """Phase 1 equals Keras's one train_on_batch on 2B images: mean BCE with labels 0 / 1."""
    model, _, x, _ = _built("gan", "model.replay_fraction=0.0")
    d_real = torch.tensor([2.0, -1.0, 0.5])
    d_fake = torch.tensor([-3.0, 0.2, 1.0])
    terms = model.adversarial_loss.d_loss(d_real, d_fake)
    p_real, p_fake = torch.sigmoid(d_real), torch.sigmoid(d_fake)
    expected = -(torch.log(p_real).sum() + torch.log(1 - p_fake).sum()) / 6
    assert torch.allclose(terms["d_loss"], expected)
    assert float(terms["d_real_acc"]) == pytest.approx(2 / 3)
    assert float(terms["d_fake_acc"]) == pytest.approx(1 / 3)
    assert torch.allclose(model.adversarial_loss.g_loss(d_fake), -torch.log(p_fake).mean())


def test_eval_step_is_reproducible_and_leaves_the_global_rng_alone():
    model, _, x, y = _built("dcgan")
    model.eval()
    rng = torch.get_rng_state()
    with torch.inference_mode():
        a, b = model.eval_step(x, y), model.eval_step(x, y)
    assert torch.equal(rng, torch.get_rng_state())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {"loss", "d_loss", "g_loss", "d_real_acc", "d_fake_acc"} <= set(a)


def test_training_logs_gan_metrics(tmp_path):
    run = latentforge.train(make_tiny_cfg("gan", epochs=1), run_dir=tmp_path / "run")
    row = run.history[0]
    for key in ("d_loss", "g_loss", "d_real_acc", "d_fake_acc"):
        assert math.isfinite(row[key]) and math.isfinite(row[f"val_{key}"]), key


def test_absurd_learning_rate_is_reported_as_divergence(tmp_path):
    with pytest.raises(TrainingDiverged, match="epoch 1.*Lower train.lr"):
        latentforge.train(make_tiny_cfg("gan", "train.lr=1e30", epochs=1),
                          run_dir=tmp_path / "run")


# ---------------------------------------------------------------- conditional GAN

@pytest.mark.parametrize("name", ["gan", "dcgan"])
def test_conditional_generation_follows_the_labels(name):
    model, opts, x, y = _built(name, "model.conditional=true")
    model.train_step(x, y, Stepper(opts))
    seeded = lambda label: model.generate(4, label, torch.Generator().manual_seed(0))  # noqa
    assert torch.equal(seeded(3), seeded(torch.full((4,), 3)))
    assert not torch.equal(seeded(3), seeded(7))  # same codings, other class
    assert model.generate(12).shape == (12, 1, 8, 8)  # labels 0..9, 0, 1
    assert not torch.equal(model.discriminate(x, torch.zeros_like(y)), model.discriminate(x, y))
    with pytest.raises(DataError, match="labels"):
        model.train_step(x, None, Stepper(opts))
    with pytest.raises(DataError, match=r"\[0, 10\)"):
        model.train_step(x, torch.full_like(y, 10), opts)
    with pytest.raises(DataError, match="one label per image"):
        model.generate(4, [1, 2])


def test_conditional_gan_refuses_unlabelled_data_and_labels_need_conditional(tmp_path):
    cfg = make_tiny_cfg("gan", "model.conditional=true", epochs=1)
    splits = load_data(cfg.data)
    unlabelled = Splits("digits", TensorData(splits.train.x, None),
                        TensorData(splits.valid.x, None), None)
    with pytest.raises(DataError, match="needs class labels"):
        latentforge.train(cfg, run_dir=tmp_path / "run", splits=unlabelled)
    plain, _, _, _ = _built("gan")
    with pytest.raises(ConfigError, match="conditional"):
        plain.generate(2, labels=1)
    with pytest.raises(ConfigError, match="conditional"):
        plain.discriminate(splits.train.batch(torch.arange(2)), torch.tensor([0, 1]))


# ---------------------------------------------------------------- WGAN-GP penalty

def _pair(shape=(6, 2, 3, 3)):
    gen = torch.Generator().manual_seed(0)
    return torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)


def test_gradient_penalty_of_a_linear_critic_is_norm_of_w_minus_one_squared():
    """D(x) = <w, x>: grad = w everywhere, so GP = (||w|| - 1)^2 whatever alpha; w has
    several channels and pixels, so any norm over part of the axes would differ."""
    real, fake = _pair()
    w = torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    for seed in (0, 1):
        torch.manual_seed(seed)
        gp = gradient_penalty(critic, real.double(), fake.double())
        assert float(gp) == pytest.approx(float((w.norm() - 1) ** 2), rel=1e-9)


def test_gradient_penalty_of_a_quadratic_critic_matches_the_hand_computation():
    """D(x) = ||x||^2 / 2: grad = x_hat = alpha real + (1 - alpha) fake, alpha ~ U(0, 1)
    drawn per sample from the global RNG."""
    real, fake = _pair()
    critic = lambda x: x.pow(2).flatten(1).sum(1) / 2  # noqa: E731
    torch.manual_seed(5)
    gp = gradient_penalty(critic, real, fake)
    torch.manual_seed(5)
    alpha = torch.rand(6, 1, 1, 1)
    x_hat = alpha * real + (1 - alpha) * fake
    expected = ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert torch.allclose(gp, expected, rtol=1e-6)


@pytest.mark.parametrize("shape", [(5, 1, 4, 4), (5, 7)])
def test_interpolation_alpha_is_per_sample(shape):
    real, fake = _pair(shape)
    x_hat, alpha = random_interpolates(real, fake)
    assert alpha.shape == (shape[0],) + (1,) * (len(shape) - 1)
    ratio = ((x_hat - fake) / (real - fake)).flatten(1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-4)  # one per sample
    assert len(torch.unique(alpha)) == shape[0]  # different samples, different alphas
    assert ((alpha >= 0) & (alpha < 1)).all()


def test_gradient_penalty_is_differentiable_with_the_analytic_gradient():
    """d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| for the linear critic; and at w = 0 the
    epsilon in the square root keeps the gradient finite (0) instead of 0/0."""
    real, fake = _pair((4, 3, 2, 2))
    w = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    gp = gradient_penalty(critic, real.double(), fake.double())
    (grad,) = torch.autograd.grad(gp, w)
    with torch.no_grad():
        expected = 2 * (w.norm() - 1) * w / w.norm()
    assert torch.allclose(grad, expected, rtol=1e-8)
    zero = torch.zeros(3, 2, 2, requires_grad=True)
    gp0 = gradient_penalty(lambda x: (x * zero).flatten(1).sum(1), real, fake)
    (grad0,) = torch.autograd.grad(gp0, zero)
    assert float(gp0.detach()) == pytest.approx(1.0, abs=1e-5) and torch.isfinite(grad0).all()


def test_wgan_gp_trains_g_every_n_critic_steps():
    model, opts, x, _ = _built("gan", "model.loss=\"wgan-gp\"", "model.n_critic=3")
    model.train()
    g_changes = []
    for _ in range(6):
        before = _state(model.generator)
        out = model.train_step(x, None, Stepper(opts))
        g_changes.append(not _same(before, _state(model.generator)))
    assert g_changes == [False, False, True, False, False, True]
    assert int(model.critic_steps) == 6
    assert {"wasserstein", "gradient_penalty", "g_loss"} <= set(out)
    assert "d_real_acc" not in out
    assert torch.allclose(out["d_loss"], -out["wasserstein"] + 10 * out["gradient_penalty"])


# ---------------------------------------------------------------- minibatch discrimination

def _reference_minibatch(h, T, n_kernels, dim):
    """Salimans et al.'s features written out with loops: sum_{j != i} exp(-L1)."""
    m = (h @ T).view(len(h), n_kernels, dim)
    out = torch.zeros(len(h), n_kernels)
    for i in range(len(h)):
        for j in range(len(h)):
            if i != j:
                out[i] += torch.exp(-(m[i] - m[j]).abs().sum(-1))
    return out


def test_minibatch_discrimination_matches_the_paper_and_couples_the_batch():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, n_kernels=4, kernel_dim=3, group=8)
    with torch.no_grad():
        layer.T.mul_(10)  # spread the rows so the features differ clearly
    h = torch.randn(5, 6)
    out = layer(h)
    assert out.shape == (5, 4)
    assert torch.allclose(out, _reference_minibatch(h, layer.T, 4, 3), atol=1e-6)
    other = h.clone()
    other[4] += 1.0
    assert not torch.allclose(layer(other)[0], out[0])  # sample 0 sees sample 4
    same = layer(h[:1].expand(5, 6))
    assert torch.allclose(same, torch.full((5, 4), 4.0))  # identical: the maximum n - 1
    assert (out < 4.0).all()


def test_minibatch_discrimination_compares_within_groups_only():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, n_kernels=2, kernel_dim=2, group=3)
    h = torch.randn(6, 6)
    out = layer(h)
    assert torch.allclose(out[:3], layer(h[:3])) and torch.allclose(out[3:], layer(h[3:]))


def test_gan_with_minibatch_discrimination_trains_and_scores_depend_on_the_batch():
    model, opts, x, y = _built("dcgan", "model.minibatch_kernels=5")
    before = _state(model.discriminator.minibatch)
    model.train_step(x, y, Stepper(opts))
    assert not _same(before, _state(model.discriminator.minibatch))
    with torch.no_grad():
        model.discriminator.minibatch.T.mul_(0.02)  # features in exp's sensitive range
    a = model.discriminate(x)
    b = model.discriminate(torch.cat([x[:1], x[:1].expand(15, -1, -1, -1)]))
    assert not torch.allclose(a[0], b[0])


# ---------------------------------------------------------------- experience replay

def test_replay_buffer_fills_wraps_and_quantises():
    buf = ReplayBuffer(5, (1, 2, 2))
    imgs = torch.arange(7 * 4, dtype=torch.float32).view(7, 1, 2, 2) / 27
    buf.push(imgs[:3], torch.tensor([0, 1, 2]))
    assert int(buf.count) == 3
    buf.push(imgs[3:], torch.tensor([3, 4, 5, 6]))
    assert int(buf.count) == 7
    order = [5, 6, 2, 3, 4]  # items 5 and 6 wrapped over the oldest, 0 and 1
    assert buf.labels.tolist() == order
    assert torch.equal(buf.images, (imgs[order] * 255).round().to(torch.uint8))
    assert buf.images.dtype == torch.uint8
    buf.push(imgs, torch.arange(7))  # more than it holds at once: the last 5 stay
    assert int(buf.count) == 12 and sorted(buf.labels.tolist()) == [2, 3, 4, 5, 6]
    assert torch.equal(buf.images, (imgs[buf.labels] * 255).round().to(torch.uint8))


def test_replay_buffer_samples_only_filled_items_and_restores_bitwise():
    buf = ReplayBuffer(50, (3,))
    buf.push(torch.tensor([[0.0, 0.5, 1.0], [1.0, 1.0, 1.0]]), torch.tensor([7, 8]))
    torch.manual_seed(0)
    images, labels = buf.sample(200)
    assert set(labels.tolist()) == {7, 8}
    assert ((images == 1).all(1) == (labels == 8)).all()
    copy = ReplayBuffer(50, (3,))
    copy.load_state_dict(buf.state_dict())
    torch.manual_seed(1)
    a = buf.sample(20)
    torch.manual_seed(1)
    b = copy.sample(20)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_replay_mixes_past_fakes_into_d_batches():
    model, opts, x, y = _built("gan", "model.replay_fraction=0.25", "model.replay_size=30")
    model.train()
    for _ in range(3):
        model.train_step(x, y, Stepper(opts))
    assert int(model.replay.count) == 3 * 12  # 4 of 16 fakes replayed, 12 fresh each step
    assert model.replay.images.shape == (30, 1, 8, 8)
    assert "replay.images" in model.state_dict()


def test_exact_resume_with_every_option(tmp_path):
    """Conditional DCGAN, WGAN-GP (critic counter), replay: 2 epochs = 1 + resume + 1,
    bitwise, including both optimizers (else the weights would differ)."""
    extra = ("model.conditional=true", "model.loss=\"wgan-gp\"", "model.n_critic=2",
             "model.replay_fraction=0.5", "model.replay_size=20", "train.optimizer=adam")
    whole = latentforge.train(make_tiny_cfg("dcgan", *extra, epochs=2), run_dir=tmp_path / "w")
    part = latentforge.train(make_tiny_cfg("dcgan", *extra, epochs=1), run_dir=tmp_path / "p")
    assert not _same(_state(whole.model), _state(part.model))
    resumed = latentforge.train("dcgan", run_dir=tmp_path / "p", resume=True,
                                overrides=["train.epochs=2"])
    assert _same(_state(whole.model), _state(resumed.model))
    assert int(resumed.model.critic_steps) == 12  # 96 samples / batch 16, two epochs
    assert int(resumed.model.replay.count) == 12 * 8
    assert resumed.history[-1]["loss"] == whole.history[-1]["loss"]
