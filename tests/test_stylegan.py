"""Model `stylegan` (models/stylegan*.py): the synthesis layers apply AdaIN styles, noise,
style mixing at a crossover, the truncation trick with the tracked mean w, shapes from the
data, and a tiny training run; bad image shapes and options are one-line errors."""
from __future__ import annotations

import math

import pytest
import torch

import latentforge as lf
from conftest import assert_one_error_line, make_tiny_cfg
from latentforge.errors import ConfigError, DataError
from latentforge.models.style_layers import AdaIN, EqualizedLinear, NoiseInjection
from latentforge.models.stylegan import StyleGAN
from latentforge.models.stylegan_config import StyleGANConfig
from latentforge.training.step import Stepper

TINY = dict(latent_dim=8, w_dim=8, mapping_layers=2, mapping_dim=8, fmap_base=32, fmap_max=8)


def _model(shape=(1, 8, 8), **fields) -> StyleGAN:
    torch.manual_seed(0)
    return StyleGAN(StyleGANConfig(**{**TINY, **fields}), shape)


def _adains(model: StyleGAN) -> list[AdaIN]:
    return [layer.adain for layer in model.generator.synthesis.layers]


def _record_adain_w(model: StyleGAN) -> list[list[torch.Tensor]]:
    """Forward hooks: calls[k][i] = the w that style input i received in G's k-th call."""
    calls: list[list[torch.Tensor]] = []

    def hook(i):
        def record(module, inputs, output):
            if i == 0:
                calls.append([])
            calls[-1].append(inputs[1].detach().clone())
        return record

    for i, adain in enumerate(_adains(model)):
        adain.register_forward_hook(hook(i))
    return calls


def _set_noise_scales(model: StyleGAN, value: float) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, NoiseInjection):
                m.weight.fill_(value)


def _train_steps(model: StyleGAN, n_steps: int, batch: int = 8) -> None:
    opts = model.configure_optimizers(lf.build_config("stylegan", "book").train)
    step = Stepper(opts)
    model.train()
    for _ in range(n_steps):
        model.train_step(torch.rand(batch, *model.sample_shape), None, step)


# ---------------------------------------------------------------- synthesis

def test_each_synthesis_layer_output_has_its_styles_statistics():
    model = _model((3, 16, 16))
    with torch.no_grad():
        for adain in _adains(model):
            adain.style.bias.normal_()          # styles far from the init (1, 0)
        model.generator.synthesis.const.normal_()  # ones at init: no spatial variance
    outputs = []
    for adain in _adains(model):
        adain.register_forward_hook(lambda m, inp, out: outputs.append((m, inp[1], out)))
    ws = torch.randn(4, model.n_styles, model.w_dim)
    model.synthesize(ws)
    assert len(outputs) == model.n_styles == 6
    for i, (adain, w, out) in enumerate(outputs):
        assert torch.equal(w, ws[:, i])
        y_s, y_b = adain.styles(w)
        assert torch.allclose(out.mean(dim=(2, 3)), y_b, atol=1e-4)
        assert torch.allclose(out.std(dim=(2, 3), unbiased=False), y_s.abs(), atol=1e-3)


def test_zero_noise_scales_make_g_deterministic_and_nonzero_scales_vary():
    model = _model()
    w = torch.randn(3, model.w_dim)
    torch.manual_seed(1)
    a = model.synthesize(w)
    torch.manual_seed(2)
    assert torch.equal(a, model.synthesize(w))            # zero-initialised scales
    _set_noise_scales(model, 0.5)
    torch.manual_seed(1)
    b = model.synthesize(w)
    torch.manual_seed(2)
    assert not torch.allclose(b, model.synthesize(w))
    gen = torch.Generator().manual_seed(3)
    c = model.synthesize(w, gen)
    assert torch.equal(c, model.synthesize(w, torch.Generator().manual_seed(3)))


def test_noise_scales_start_at_zero_and_learn():
    model = _model()
    scales = [m.weight for m in model.modules() if isinstance(m, NoiseInjection)]
    assert len(scales) == model.n_styles and all(torch.all(s == 0) for s in scales)
    _train_steps(model, 2)
    assert any(s.abs().sum() > 0 for s in scales)


@pytest.mark.parametrize("shape, n_styles", [((1, 8, 8), 4), ((3, 32, 32), 8),
                                             ((3, 64, 64), 10)])
def test_shapes_follow_the_data(shape, n_styles):
    model = _model(shape)
    r = shape[1]
    assert model.n_styles == n_styles
    assert model.style_resolutions == [4, 4] + [2 ** k for k in range(3, int(math.log2(r)) + 1)
                                                for _ in range(2)]
    images = model.generate(5, generator=torch.Generator().manual_seed(0))
    assert images.shape == (5, *shape) and images.min() >= 0 and images.max() <= 1
    z = torch.randn(5, model.coding_dim)
    w = model.mapping(z)
    assert w.shape == (5, model.w_dim) and model.mean_w.shape == (model.w_dim,)
    assert model.decode(z).shape == (5, *shape)
    assert model.decode_w(w).shape == (5, *shape)
    assert model.synthesize(model._per_layer(w)).shape == (5, *shape)
    assert model.score(torch.rand(6, *shape)).shape == (6,)  # 6: stddev groups of 3


def test_to_rgb_and_generator_mapping_width():
    model = _model((3, 32, 32), mapping_layers=3, mapping_dim=12)
    linears = [m for m in model.generator.mapping.modules() if isinstance(m, EqualizedLinear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 12), (12, 12), (12, 8)]
    assert all(m.lr_multiplier == 0.01 for m in linears)
    assert model.generator.synthesis.to_rgb.out_channels == 3


# ---------------------------------------------------------------- style mixing

def _crossover(ws: list[torch.Tensor]) -> int:
    """The first style input whose w differs from input 0's (len(ws): none); asserts the
    inputs before it share one w and the ones after it another."""
    first = next((i for i, w in enumerate(ws) if not torch.equal(w, ws[0])), len(ws))
    assert all(torch.equal(w, ws[0]) for w in ws[:first])
    assert all(torch.equal(w, ws[first]) for w in ws[first:])
    return first


def test_style_mixing_feeds_two_ws_split_at_a_crossover():
    model = _model(mixing_prob=1.0)
    calls = _record_adain_w(model)
    _train_steps(model, 6)
    assert len(calls) == 12                                 # G runs in both phases
    cuts = [_crossover(ws) for ws in calls]
    assert all(1 <= c < model.n_styles for c in cuts), cuts
    assert len(set(cuts)) > 1, cuts                         # a random crossover
    for ws, c in zip(calls, cuts):
        assert not torch.allclose(ws[0], ws[c])             # two different w's


def test_no_mixing_at_probability_zero_nor_outside_training():
    model = _model(mixing_prob=0.0)
    calls = _record_adain_w(model)
    _train_steps(model, 3)
    assert calls and all(_crossover(ws) == model.n_styles for ws in calls)
    mixing = _model(mixing_prob=1.0)
    calls = _record_adain_w(mixing)
    mixing.train()
    mixing.decode(torch.randn(4, mixing.coding_dim))
    mixing.generate(4)
    assert len(calls) == 2 and all(_crossover(ws) == mixing.n_styles for ws in calls)


def test_mix_uses_w1_before_the_crossover():
    model = _model()
    w1, w2 = torch.randn(2, model.w_dim), torch.randn(2, model.w_dim)
    ws = model.mix(w1, w2, 3)
    assert torch.equal(ws[:, :3], w1[:, None].expand(-1, 3, -1))
    assert torch.equal(ws[:, 3:], w2[:, None].expand(-1, 1, -1))


# ---------------------------------------------------------------- mean w and truncation

def test_mean_w_tracks_the_moving_average_of_w_in_training():
    model = _model(mixing_prob=0.0, w_avg_decay=0.5)
    seen = []
    model.generator.mapping.register_forward_hook(lambda m, i, out: seen.append(out.detach()))
    _train_steps(model, 3)
    expected = torch.zeros(model.w_dim)
    for w in seen:                      # each G call of each training step, in order
        expected = expected + 0.5 * (w.mean(0) - expected)
    assert len(seen) == 6
    assert torch.allclose(model.mean_w, expected, atol=1e-6)
    before = model.mean_w.clone()
    model.generate(8)                   # sampling leaves it alone
    with torch.inference_mode():
        model.eval_step(torch.rand(8, 1, 8, 8), None)
    assert torch.equal(model.mean_w, before)


def test_mean_w_converges_to_the_average_w():
    model = _model(mixing_prob=0.5, w_avg_decay=0.9)
    model.generator.mapping.requires_grad_(False)  # a fixed mapping: a fixed mean of w
    _train_steps(model, 30, batch=16)
    with torch.no_grad():
        average = model.mapping(torch.randn(20000, model.coding_dim)).mean(0)
    assert torch.allclose(model.mean_w, average, atol=0.1 * average.abs().max())


def test_truncation_psi_zero_gives_the_mean_w_image_for_every_z():
    model = _model((3, 16, 16))
    with torch.no_grad():
        model.mean_w.normal_()
    images = model.generate(6, truncation=0.0, generator=torch.Generator().manual_seed(0))
    mean_image = model.decode_w(model.mean_w[None])
    assert torch.allclose(images, mean_image.expand_as(images), atol=1e-6)
    untruncated = model.generate(6, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(untruncated, mean_image.expand_as(untruncated))


def test_truncate_formula_and_cutoff():
    model = _model()
    with torch.no_grad():
        model.mean_w.normal_()
    w = torch.randn(4, model.w_dim)
    mean = model.mean_w
    assert torch.allclose(model.truncate(w, 0.7), mean + 0.7 * (w - mean))
    assert torch.equal(model.truncate(w, 1.0), w)
    cut = model.truncate(w, 0.0, cutoff=2)
    assert cut.shape == (4, model.n_styles, model.w_dim)
    assert torch.allclose(cut[:, :2], mean.expand(4, 2, -1))
    assert torch.equal(cut[:, 2:], w[:, None].expand(-1, 2, -1))
    assert model.truncate(w, 0.5, cutoff=99).shape == w.shape
    with pytest.raises(ConfigError, match="finite"):
        model.truncate(w, math.nan)


def test_generate_truncation_cutoff_from_the_config():
    model = _model(truncation_cutoff=2)
    with torch.no_grad():
        model.mean_w.normal_()
    calls = _record_adain_w(model)
    model.generate(3, truncation=0.0)
    ws = calls[0]
    assert all(torch.allclose(w, model.mean_w.expand(3, -1)) for w in ws[:2])
    assert not torch.allclose(ws[2], model.mean_w.expand(3, -1))


# ---------------------------------------------------------------- training and errors

def test_tiny_training_run_is_finite_and_reports_r1():
    run = lf.train(make_tiny_cfg("stylegan", "data.limit_train=32", epochs=1),
                   run_dir=False)
    row = run.history[-1]
    for key in ("loss", "d_loss", "g_loss", "r1_penalty", "val_loss"):
        assert math.isfinite(row[key]), key
    assert row["r1_penalty"] > 0


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 16), (2, 8, 8), (1, 4, 4),
                                   (1, 12, 12), (64,)])
def test_unusable_shapes_are_config_errors(shape):
    with pytest.raises(ConfigError, match="data.pad_to"):
        StyleGAN(StyleGANConfig(**TINY), shape)


@pytest.mark.parametrize("field, value, fragment", [
    ("conditional", True, "model.conditional"), ("minibatch_kernels", 4, "mbstd_group"),
    ("mixing_prob", 1.5, "model.mixing_prob"), ("w_avg_decay", 1.0, "model.w_avg_decay"),
    ("mapping_lr_mul", 0.0, "model.mapping_lr_mul"), ("w_dim", 0, "model.w_dim"),
    ("truncation_cutoff", 0, "model.truncation_cutoff")])
def test_bad_options_are_config_errors(field, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        StyleGANConfig(**{field: value}).validate()


def test_bad_styles_and_labels():
    model = _model()
    with pytest.raises(DataError, match="styles must have shape"):
        model.synthesize(torch.randn(2, 3, model.w_dim))
    with pytest.raises(ConfigError, match="conditional"):
        model.generate(2, labels=1)


def test_cli_errors_are_one_line(cli, tmp_path):
    base = ["train", "stylegan", "--data", "digits", "--runs-dir", tmp_path, "--no-progress",
            "--set", "data.limit_train=32", "--set", "data.limit_eval=16"]
    code, _, err = cli([*base, "--set", "data.pad_to=12"])
    assert code == 2
    assert_one_error_line(err, "1x12x12", "data.pad_to")
    code, _, err = cli([*base, "--set", "model.conditional=true"])
    assert code == 2
    assert_one_error_line(err, "model.conditional")
