"""Limits on config values and sizes (issue 9): model and optimizer values no run can use
are ConfigErrors at config-build time (exit 2), models and sample batches larger than the
machine's memory are ResourceErrors (exit 4) before anything is allocated, and neither
leaves a run folder behind."""
from __future__ import annotations

import json
import math
import resource
import time

import pytest
import torch

import latentforge as lf
from conftest import assert_one_error_line, tiny_overrides
from latentforge import registry, resources
from latentforge.config import OPTIMIZERS, TrainConfig, build_config, config_from_dict
from latentforge.errors import ConfigError, ResourceError
from latentforge.generation.sampling import draw_samples
from latentforge.models.size import TRAINING_FACTOR, check_model_size, meta_model, tensor_bytes
from latentforge.models.vae import VAEConfig, VariationalAutoencoder
from latentforge.training.optim import FACTORIES, make_optimizer

DIGITS = (1, 8, 8)
TINY_TRAIN = ["--data", "digits", "--epochs", "1", "--no-progress",
              "--set", "data.limit_train=32", "--set", "data.limit_eval=16"]


def _shape(name: str) -> tuple[int, ...]:
    book = registry.get_spec(name).recipes["book"].get("data", {})
    side = book.get("pad_to") or 28        # power-of-two models pad Fashion-MNIST to 32
    return (3,) if book.get("source") == "synthetic3d" else (1, side, side)


def _all_tensors(model):
    return [*model.parameters(), *model.buffers()]


# ---------------------------------------------------------------- meta-device size estimate

@pytest.mark.parametrize("name", registry.names())
def test_every_model_builds_on_meta_with_the_real_sizes(name):
    cfg = build_config(name, "book")
    spec = registry.get_spec(name)
    meta = meta_model(spec.model_cls, cfg.model, _shape(name))
    assert {t.device.type for t in _all_tensors(meta)} == {"meta"}
    real = spec.model_cls(cfg.model, _shape(name))
    assert tensor_bytes(_all_tensors(meta)) == tensor_bytes(_all_tensors(real)) > 0


@pytest.mark.parametrize("override", ["model.minibatch_kernels=4", "model.replay_fraction=0.5",
                                      "model.conditional=true", 'model.loss="wgan-gp"',
                                      'model.loss="hinge"', 'model.loss="logistic"'])
def test_gan_options_build_on_meta(override):
    for name in ("gan", "dcgan"):
        cfg = build_config(name, "book", overrides=[override])
        model = meta_model(registry.get_spec(name).model_cls, cfg.model, (1, 28, 28))
        assert {t.device.type for t in _all_tensors(model)} == {"meta"}


def test_absurd_hidden_size_is_refused_fast_without_allocating():
    cfg = build_config("stacked_ae", "book", overrides=["model.hidden=[100, 1e9]"])
    assert cfg.model.hidden == (100, 10**9)  # an integral float is an int
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ResourceError, match="model.hidden") as info:
        check_model_size(registry.get_spec("stacked_ae").model_cls, cfg.model, DIGITS)
    assert time.perf_counter() - start < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100_000  # KiB
    assert "TiB" in str(info.value) and info.value.exit_code == 4


@pytest.mark.parametrize("name,override", [
    ("vae", "model.latent_dim=1e9"), ("conv_ae", "model.filters=[100000, 100000]"),
    ("recurrent_ae", "model.hidden=[100000, 30]"), ("gan", "model.latent_dim=1e12"),
    ("dcgan", "model.g_channels=[1000000, 64]"), ("tied_ae", "model.hidden=[1e11, 30]"),
    ("stacked_ae", "model.hidden=[100, 1e22]"),  # beyond torch's 64-bit element counts
])
def test_absurd_model_sizes_are_resource_errors(name, override):
    cfg = build_config(name, "book", overrides=[override])
    with pytest.raises(ResourceError, match="smaller model sizes"):
        check_model_size(registry.get_spec(name).model_cls, cfg.model, (1, 28, 28))


def test_estimate_counts_parameters_times_the_training_factor(monkeypatch):
    cfg = build_config("stacked_ae", "book")
    spec = registry.get_spec("stacked_ae")
    params = sum(p.numel() for p in spec.model_cls(cfg.model, (1, 28, 28)).parameters())
    need = check_model_size(spec.model_cls, cfg.model, (1, 28, 28))
    assert need == TRAINING_FACTOR * 4 * params
    assert check_model_size(spec.model_cls, cfg.model, (1, 28, 28), training=False) == 4 * params
    monkeypatch.setattr(resources, "available_memory", lambda: need - 1)
    with pytest.raises(ResourceError, match="only"):
        check_model_size(spec.model_cls, cfg.model, (1, 28, 28))
    assert check_model_size(spec.model_cls, cfg.model, (1, 28, 28), training=False) < need


def test_buffers_are_counted_once():
    cfg = build_config("gan", "book", overrides=["model.replay_fraction=0.5",
                                                 "model.replay_size=1000"])
    model = meta_model(registry.get_spec("gan").model_cls, cfg.model, (1, 28, 28))
    params = tensor_bytes(model.parameters())
    need = check_model_size(registry.get_spec("gan").model_cls, cfg.model, (1, 28, 28))
    assert need == TRAINING_FACTOR * params + 1000 * 784 + 8 * 1000 + 8  # uint8 images, labels


def test_meta_build_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    cfg = build_config("gan", "book", overrides=["model.minibatch_kernels=4"])
    check_model_size(registry.get_spec("gan").model_cls, cfg.model, (1, 28, 28))
    assert torch.equal(state, torch.get_rng_state())


# ---------------------------------------------------------------- model config values

BAD_MODEL_VALUES = [
    ("stacked_ae", "model.hidden=[0]", "model.hidden"),
    ("stacked_ae", "model.hidden=[100, -3]", "model.hidden"),
    ("stacked_ae", "model.hidden=[]", "model.hidden"),
    ("stacked_ae", "model.code_noise=NaN", "model.code_noise"),
    ("stacked_ae", 'model.coding_activation="nope"', "model.coding_activation"),
    ("denoising_ae", "model.corruption_rate=-0.1", "model.corruption_rate"),
    ("sparse_ae", "model.sparsity_weight=-1", "model.sparsity_weight"),
    ("recurrent_ae", "model.hidden=[30]", "at least two LSTM sizes"),
    ("conv_ae", "model.filters=[]", "model.filters"),
    ("conv_ae", "model.kernel=4", "model.kernel"),
    ("vae", "model.latent_dim=0", "model.latent_dim"),
    ("vae", "model.eval_seed=-1", "model.eval_seed"),
    ("conv_vae", "model.filters=[16, 0]", "model.filters"),
    ("gan", "model.g_hidden=[0]", "model.g_hidden"),
    ("gan", "model.latent_dim=0", "model.latent_dim"),
    ("gan", "model.codings=0", "model.latent_dim"),  # the old key, read as latent_dim
    ("gan", 'model.loss="lsgan"', "model.loss"),
    ("gan", "model.r1_gamma=-1", "model.r1_gamma"),
    ("gan", "model.d_lr=Infinity", "model.d_lr"),
    ("dcgan", "model.g_channels=[]", "model.g_channels"),
    ("dcgan", "model.bn_eps=0", "model.bn_eps"),
    ("dcgan", "model.bn_momentum=2", "model.bn_momentum"),
]


@pytest.mark.parametrize("name,override,fragment", BAD_MODEL_VALUES)
def test_config_command_refuses_model_values(cli, name, override, fragment):
    code, out, err = cli(["config", name, "--set", override])
    assert code == 2 and out == ""
    assert_one_error_line(err, fragment)


@pytest.mark.parametrize("name,override,fragment", BAD_MODEL_VALUES[:3])
def test_saved_config_with_bad_model_values_is_refused(name, override, fragment):
    key, value = override.removeprefix("model.").split("=")
    data = {"model_name": name, "model": {key: json.loads(value)}}
    with pytest.raises(ConfigError, match=fragment):
        config_from_dict(data)


def test_every_model_config_has_validate_and_its_defaults_pass():
    for name in registry.names():
        cfg = registry.get_spec(name).config_cls()
        cfg.validate()


def test_train_refuses_a_model_value_and_writes_no_run(cli, tmp_path):
    code, _, err = cli(["train", "stacked_ae", *TINY_TRAIN, "--runs-dir", tmp_path,
                        "--set", "model.hidden=[100, 0]"])
    assert code == 2
    assert_one_error_line(err, "model.hidden", "positive layer sizes")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- optimizer settings

BAD_TRAIN_VALUES = [
    ("train.betas=[2, 3]", "train.betas[0] must be in [0, 1)"),
    ("train.betas=[0.9, 1]", "train.betas[1] must be in [0, 1)"),
    ("train.momentum=-5", "train.momentum must be in [0, 1)"),
    ("train.momentum=1", "train.momentum must be in [0, 1)"),
    ("train.rho=1.5", "train.rho must be in [0, 1)"),
    ("train.eps=-1", "train.eps must be positive and finite"),
    ("train.eps=0", "train.eps must be positive and finite"),
    ("train.lr=Infinity", "train.lr must be positive and finite"),
    ("train.lr=NaN", "train.lr must be positive and finite"),
    (f"train.seed={2**70}", "train.seed must be an integer in [0, 2**64 - 1]"),
    ("train.seed=-1", "train.seed must be an integer in [0, 2**64 - 1]"),
]


@pytest.mark.parametrize("override,message", BAD_TRAIN_VALUES)
def test_config_command_refuses_optimizer_values(cli, override, message):
    code, out, err = cli(["config", "stacked_ae", "--set", override])
    assert code == 2 and out == ""
    assert_one_error_line(err, message)


@pytest.mark.parametrize("override,message", BAD_TRAIN_VALUES[::3])
def test_train_refuses_optimizer_values_and_writes_no_run(cli, tmp_path, override, message):
    code, _, err = cli(["train", "stacked_ae", *TINY_TRAIN, "--runs-dir", tmp_path,
                        "--set", "train.optimizer=adam", "--set", override])
    assert code == 2
    assert_one_error_line(err, message)
    assert list(tmp_path.iterdir()) == []


def test_largest_seed_is_accepted_by_torch():
    cfg = build_config("stacked_ae", "book", overrides=[f"train.seed={2**64 - 1}"])
    torch.Generator().manual_seed(cfg.train.seed)


def test_make_optimizer_checks_values_and_knows_every_name():
    assert set(FACTORIES) == set(OPTIMIZERS)
    params = [torch.nn.Parameter(torch.zeros(2))]
    for name in OPTIMIZERS:
        assert make_optimizer(params, TrainConfig(optimizer=name))
    with pytest.raises(ConfigError, match="train.lr"):
        make_optimizer(params, TrainConfig(lr=math.inf))
    with pytest.raises(ConfigError, match="Unknown optimizer 'sgdd'"):
        make_optimizer(params, TrainConfig(optimizer="sgdd"))


# ---------------------------------------------------------------- sample batches

@pytest.fixture(scope="module")
def tiny_vae():
    return VariationalAutoencoder(VAEConfig(hidden=(8,), latent_dim=2), DIGITS)


def test_huge_sample_count_is_refused_before_allocating(tiny_vae):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ResourceError, match="10000000000000 samples of shape \\(1, 8, 8\\)"):
        draw_samples(tiny_vae, 10**13)
    assert time.perf_counter() - start < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100_000  # KiB


@pytest.mark.parametrize("kwargs,match", [({"n": 0}, "at least 1"),
                                          ({"n": 4, "batch_size": 0}, "at least 1"),
                                          ({"n": 4, "seed": -1}, "seed"),
                                          ({"n": 4, "seed": 2**64}, "seed")])
def test_bad_sampling_arguments(tiny_vae, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        draw_samples(tiny_vae, **kwargs)


def test_samples_fill_the_output_in_batches(tiny_vae):
    images = draw_samples(tiny_vae, 5, seed=3, batch_size=2)
    assert images.shape == (5, *DIGITS) and images.dtype == torch.float32
    assert torch.equal(images, draw_samples(tiny_vae, 5, seed=3, batch_size=2))
    assert 0 <= images.min() and images.max() <= 1


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("limits") / "vae"
    lf.train("vae", overrides=tiny_overrides("vae", epochs=1), run_dir=run_dir)
    return run_dir


def test_generate_huge_n_exits_4(cli, vae_run, tmp_path):
    code, _, err = cli(["generate", vae_run, "--n", str(10**13), "--out", tmp_path / "g.png"])
    assert code == 4
    assert_one_error_line(err, "samples of shape", "fewer samples")
    assert not (tmp_path / "g.png").exists()


# ---------------------------------------------------------------- wiring into training

def test_train_refuses_an_absurd_model_with_exit_4_and_no_run(cli, tmp_path):
    code, _, err = cli(["train", "stacked_ae", *TINY_TRAIN, "--runs-dir", tmp_path,
                        "--set", "model.hidden=[100, 1e9]"])
    assert code == 4
    assert_one_error_line(err, "would need", "model.hidden")
    assert list(tmp_path.iterdir()) == []
