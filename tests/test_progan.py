"""progan (Karras et al. 2018): the fade-in equalities of G and D, the minibatch stddev
feature, pixel norm, equalized learning rate, the growth schedule and per-phase batch
sizes, the drift term, EMA of G only, bitwise resume in the middle of a fade, and the
growth figure (`latentforge growth`)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import latentforge as lf
from conftest import assert_one_error_line, make_tiny_cfg
from latentforge import rundir
from latentforge.errors import ConfigError
from latentforge.models.progan import ProGAN
from latentforge.models.progan_config import ProGANConfig
from latentforge.models.progan_growth import level_alpha, phase_batch_size, phase_end
from latentforge.models.progan_nets import downsample, upsample
from latentforge.models.style_layers import EqualizedConv2d, EqualizedLinear, PixelNorm
from latentforge.tasks.growth import growth_rows
from latentforge.training import checkpoint
from latentforge.training.callbacks import Callback
from latentforge.training.step import Stepper
from latentforge.viz.growth import growth_figure

SMALL = dict(latent_dim=8, fmap_base=128, fmap_max=16, growth_samples=3)


def _model(side: int = 16, channels: int = 1, **cfg) -> ProGAN:
    torch.manual_seed(0)
    return ProGAN(ProGANConfig(**{**SMALL, **cfg}), (channels, side, side))


# ---------------------------------------------------------------- fade-in equalities

@pytest.mark.parametrize("level", [1, 2])
def test_g_at_alpha_0_is_the_upsampled_previous_level_and_at_alpha_1_the_new_block(level):
    g = _model(16, 3).generator  # levels 4, 8, 16
    z = torch.randn(5, 8)
    with torch.no_grad():
        previous = g(z, level - 1, 1.0)
        assert torch.equal(g(z, level, 0.0), previous)
        h = g.normalize(z)
        for block in g.blocks[:level]:
            h = block(h)
        new = g.to_rgb[level](g.blocks[level](h))
        assert torch.equal(g(z, level, 1.0), upsample(new, 2 ** (2 - level)))
        halfway = g(z, level, 0.5)
    assert not torch.equal(halfway, previous) and halfway.shape == (5, 3, 16, 16)
    # the previous level's images are blocks of identical pixels at full size
    f = 16 // (4 << (level - 1))
    assert torch.equal(previous, upsample(previous[..., ::f, ::f], f))


@pytest.mark.parametrize("level", [1, 2])
def test_d_at_alpha_0_is_the_previous_path_on_the_pooled_input_and_at_1_the_new_block(level):
    d = _model(16, 3).discriminator
    x = torch.randn(8, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(d(x, level, 0.0), d(x, level - 1, 1.0))
        h = d.blocks[level](d.from_rgb[level](downsample(x, 2 - level)))
        for k in range(level - 1, 0, -1):
            h = d.blocks[k](h)
        assert torch.equal(d(x, level, 1.0), d.head(d.mbstd(h)).squeeze(1))
        assert not torch.equal(d(x, level, 0.5), d(x, level, 1.0))


def test_the_blend_is_linear_in_alpha():
    model = _model(8)
    z = torch.randn(4, 8)
    with torch.no_grad():
        g0, g1, g = (model.generator(z, 1, a) for a in (0.0, 1.0, 0.25))
        torch.testing.assert_close(g, 0.75 * g0 + 0.25 * g1)


def test_reals_fade_like_g_during_a_fade():
    model = _model(8, fade_images=100, stable_images=10)
    x = torch.rand(4, 1, 8, 8)
    blurred = upsample(downsample(x * 2 - 1, 1), 2)
    model.images_seen.fill_(10)                       # first step of the 8x8 fade: alpha 0
    assert model.growth() == (1, 0.0)
    assert torch.equal(model.to_model(x), blurred)
    model.images_seen.fill_(110)                      # stabilisation: the sharp reals
    assert torch.equal(model.to_model(x), x * 2 - 1)
    model.images_seen.fill_(35)                       # alpha 0.25
    torch.testing.assert_close(model.to_model(x), 0.75 * blurred + 0.25 * (x * 2 - 1))


# ---------------------------------------------------------------- the paper's layers

def test_minibatch_stddev_feature_equals_a_hand_computation():
    d = _model(8).discriminator  # group size 4
    h = torch.randn(8, 3, 4, 4, dtype=torch.float64)
    out = d.mbstd(h)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], h)
    for i in range(8):  # sample i is in the group {i mod 2, i mod 2 + 2, ...}
        group = h[i % 2::2]
        std = torch.sqrt(group.var(0, unbiased=False) + 1e-8).mean()
        assert torch.allclose(out[i, 3], std.expand(4, 4))
    odd = d.mbstd(h[:6])  # 6 is not divisible by 4: groups of 3
    for i in range(6):
        std = torch.sqrt(h[:6][i % 2::2].var(0, unbiased=False) + 1e-8).mean()
        assert torch.allclose(odd[i, 3], std.expand(4, 4))


def test_pixel_norm_gives_unit_rms_over_channels_after_every_g_conv():
    g = _model(16, 3).generator
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o))
             for m in g.modules() if isinstance(m, PixelNorm)]
    with torch.no_grad():
        g(torch.randn(4, 8) * 5)
    for hook in hooks:
        hook.remove()
    assert len(outputs) == 1 + 2 * 3  # the latent, then after each of the 6 convs
    for out in outputs[1:]:
        rms = out.pow(2).mean(1).sqrt()
        torch.testing.assert_close(rms, torch.ones_like(rms), rtol=1e-4, atol=1e-4)


def test_every_layer_has_the_equalized_learning_rate_with_n01_weights():
    model = _model(16, 3, latent_dim=64, fmap_base=1024, fmap_max=64)
    layers = [m for m in model.modules() if isinstance(m, (EqualizedConv2d, EqualizedLinear))]
    plain = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert not plain and len(layers) == (1 + 1 + 2 * 2 + 3) + (3 + 2 * 2 + 1 + 2)
    for layer in layers:
        fan_in = math.prod(layer.weight.shape[1:])
        gain = layer.gain
        assert layer.scale == pytest.approx(math.sqrt(gain / fan_in))
        assert gain in (2.0, 1.0, 1 / 8)
    big = torch.cat([m.weight.detach().flatten() for m in layers])
    assert abs(float(big.mean())) < 0.01 and abs(float(big.std()) - 1) < 0.01
    assert model.generator.blocks[0][0].gain == 1 / 8       # G's 4x4 dense layer
    assert {m.gain for m in model.generator.to_rgb} == {1.0}
    assert model.discriminator.head[-1].gain == 1.0          # D's score layer
    assert sum(m.gain == 2.0 for m in layers) == len(layers) - 5  # He's sqrt(2 / fan_in)


# ---------------------------------------------------------------- schedule, batch sizes

def test_growth_schedule_boundaries():
    # 3 levels, stable 10, fade 20: 4x4 [0, 10), fade 8x8 [10, 30), stable [30, 40),
    # fade 16x16 [40, 60), stable [60, 70), then 16x16 for ever.
    f = lambda n: level_alpha(n, 3, fade=20, stable=10)  # noqa: E731
    assert [f(n) for n in (0, 9)] == [(0, 1.0), (0, 1.0)]
    assert [f(n) for n in (10, 15, 29)] == [(1, 0.0), (1, 0.25), (1, 0.95)]
    assert [f(n) for n in (30, 39)] == [(1, 1.0), (1, 1.0)]
    assert [f(n) for n in (40, 50, 60, 10 ** 9)] == [(2, 0.0), (2, 0.5), (2, 1.0), (2, 1.0)]
    assert [phase_end(k, 20, 10) for k in range(3)] == [10, 40, 70]
    assert level_alpha(0, 3, fade=0, stable=0) == (2, 1.0)   # no growing at all
    assert level_alpha(12, 3, fade=0, stable=10) == (1, 1.0)  # no fades
    assert [phase_batch_size(k, (32, 16), 8) for k in range(3)] == [32, 16, 8]


class _Recorder(Callback):
    def __init__(self):
        self.records = []

    def on_epoch_end(self, trainer, record):
        self.records.append(record)


def test_per_phase_batch_sizes_and_metrics(tmp_path, monkeypatch):
    sizes = []
    original = ProGAN.train_step

    def train_step(self, x, y, step):
        sizes.append((len(x), self.growth()[0]))
        return original(self, x, y, step)

    monkeypatch.setattr(ProGAN, "train_step", train_step)
    run = lf.train(make_tiny_cfg("progan", epochs=2), run_dir=False)
    # 96 images an epoch; 4x4 for 16 images, so epoch 2 starts in the 8x8 fade: batch 8.
    assert sizes == [(16, 0)] + [(16, 1)] * 5 + [(8, 1)] * 12
    first, second = run.history
    assert (first["step"], second["step"]) == (6, 18)
    assert first["alpha"] == pytest.approx((1 + 0 + 0.125 + 0.25 + 0.375 + 0.5) / 6)
    assert first["level"] == pytest.approx(5 / 6) and second["level"] == 1.0
    assert first["drift"] > 0 and "val_drift" in first and run.model.cfg.drift_weight == 0.001


def test_drift_term_is_in_d_loss():
    model = _model(8, fade_images=0, stable_images=0, drift_weight=0.5, gp_weight=0.0)
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        d_real = model.score(model.to_model(x))
    opts = {name: torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
            for name in ("discriminator", "generator")}
    losses = {}

    class Spy(Stepper):
        def step(self, name, loss):
            losses.setdefault(name, loss.detach())

    out = model.train_step(x, None, Spy(opts))
    torch.testing.assert_close(out["drift"], d_real.pow(2).mean())
    torch.testing.assert_close(out["d_loss"], 0.5 * out["drift"] - out["wasserstein"])
    torch.testing.assert_close(losses["discriminator"], out["d_loss"])


# ---------------------------------------------------------------- shapes and options

@pytest.mark.parametrize("shape, fragment", [
    ((1, 28, 28), "data.pad_to=32"), ((3, 16, 8), "data.pad_to=16"),
    ((1, 4, 4), "data.pad_to=8"), ((784,), "images (C, H, W)")])
def test_shapes_that_cannot_grow_are_config_errors(shape, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.").replace("(", r"\(")
                       .replace(")", r"\)")):
        ProGAN(ProGANConfig(**SMALL), shape)


@pytest.mark.parametrize("change", [{"conditional": True}, {"minibatch_kernels": 4},
                                    {"batch_sizes": (16, 0)}, {"fade_images": -1}])
def test_bad_options_are_config_errors(change):
    with pytest.raises(ConfigError, match="model\\."):
        ProGANConfig(**{**SMALL, **change}).validate()


def test_generate_is_full_size_in_the_data_range_at_every_level():
    model = _model(16, 3, fade_images=10, stable_images=10)
    for seen in (0, 15, 10 ** 6):
        model.images_seen.fill_(seen)
        images = model.generate(4, generator=torch.Generator().manual_seed(0))
        assert images.shape == (4, 3, 16, 16)
        assert float(images.min()) >= 0 and float(images.max()) <= 1


# ---------------------------------------------------------------- EMA, resume

def test_ema_averages_g_only(tmp_path):
    run = lf.train(make_tiny_cfg("progan", epochs=1), run_dir=tmp_path / "r")
    assert run.config.train.ema_decay == 0.999  # the recipes' value
    assert {n for n, _ in run.model.ema_parameters()} == {
        f"generator.{n}" for n, _ in run.model.generator.named_parameters()}
    folder = checkpoint.latest_checkpoint(run.path)
    averaged = load_file(str(folder / rundir.AVERAGED))
    raw = load_file(str(folder / rundir.WEIGHTS))
    for key in raw:
        same = torch.equal(averaged[key], raw[key])
        if key.startswith("generator.") and raw[key].is_floating_point():
            assert not same, key
        else:
            assert same, key  # D, images_seen, growth images: raw


class _StopAfter(Callback):
    def __init__(self, epoch):
        self.epoch, self.growth = epoch, None

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == self.epoch:
            self.growth = trainer.model.growth()
            trainer.stop()


def test_a_run_stopped_in_the_middle_of_a_fade_resumes_bitwise(tmp_path):
    """4 epochs of 96 images (batches 16, then 8 from the fade on); fade 8x8 over images
    [48, 240): the stop after epoch 2 (192 images) is at alpha 0.75."""
    extra = ("model.fade_images=192", "model.stable_images=48")
    whole = lf.train(make_tiny_cfg("progan", *extra, epochs=4), run_dir=tmp_path / "whole")
    stop = _StopAfter(2)
    lf.train(make_tiny_cfg("progan", *extra, epochs=4), run_dir=tmp_path / "part",
             callbacks=[stop])
    assert stop.growth == (1, 0.75)
    resumed = lf.train("progan", run_dir=tmp_path / "part", resume=True)
    for name in (rundir.WEIGHTS, rundir.AVERAGED):
        a = load_file(str(checkpoint.latest_checkpoint(whole.path) / name))
        b = load_file(str(checkpoint.latest_checkpoint(resumed.path) / name))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    assert int(resumed.model.images_seen) == 4 * 96
    assert [r["step"] for r in resumed.history] == [r["step"] for r in whole.history]


# ---------------------------------------------------------------- growth figure

def test_growth_snapshots_are_the_ema_samples_at_each_phase_end(tmp_path):
    run = lf.train(make_tiny_cfg("progan", epochs=2), run_dir=tmp_path / "r")
    model = run.model
    snaps = model.growth_snapshots()
    # tiny preset: 4x4 ends at 16 images, 8x8 (fade 128 + stable 16) at 160
    assert [(r, seen) for r, seen, _ in snaps] == [(4, 16), (8, 160)]
    four = snaps[0][2]
    assert four.shape == (4, 1, 8, 8)
    assert torch.equal(four, upsample(four[..., ::2, ::2], 2))  # 4x4 content, full size
    loaded = lf.load_run(run.path).model
    assert torch.equal(loaded.growth_images, model.growth_images)


def test_growth_figure_has_one_labelled_row_per_phase():
    rows = [("4x4", np.zeros((3, 1, 8, 8))), ("8x8", np.ones((3, 3, 8, 8)) * 0.5)]
    fig = growth_figure(rows)
    assert len(fig.axes) == 6
    assert [ax.get_ylabel() for ax in fig.axes[::3]] == ["4x4", "8x8"]
    assert fig.axes[3].images[0].get_array().shape == (8, 8, 3)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), np.zeros((8, 8)))


def test_growth_command(tmp_path, cli):
    run = lf.train(make_tiny_cfg("progan", epochs=2), run_dir=tmp_path / "p")
    code, out, err = cli(["growth", str(run.path)])  # the 4 kept images per row
    assert code == 0, err
    assert (run.path / "figures" / "growth.png").is_file() and "growth.png" in out
    rows = growth_rows(lf.load_run(run.path), 2)
    assert [label.split("\n")[0] for label, _ in rows] == ["4x4", "8x8", "end: 8x8"]
    assert all(images.shape == (2, 1, 8, 8) for _, images in rows)
    code, out, err = cli(["growth", str(run.path), "--n", "2", "--out", tmp_path / "g.png"])
    assert code == 0 and (tmp_path / "g.png").is_file(), err
    code, _, err = cli(["growth", str(run.path), "--n", "9"])
    assert code == 2 and assert_one_error_line(err, "--n must be in [1, 4]")
    gan = lf.train(make_tiny_cfg("gan", epochs=1), run_dir=tmp_path / "g")
    code, _, err = cli(["growth", str(gan.path)])
    assert code == 2 and assert_one_error_line(err, "holds a gan", "progan")


def test_blend_takes_a_fade_whose_two_outputs_autocast_left_in_different_dtypes():
    # CUDA float16 autocast leaves one side of a fade in float16, the other in float32
    from latentforge.models.progan_nets import blend

    old, new = torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.float16)
    out = blend(old, new, 0.25)
    assert out.dtype == torch.float32 and torch.allclose(out, torch.full((2, 3), 0.25))
    same = torch.rand(2, 3)
    assert torch.equal(blend(old, same, 1.0), same)  # alpha 1: the new level exactly
