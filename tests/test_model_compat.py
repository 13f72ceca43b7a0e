"""Runs made before the model re-layering still load: old config keys (the GANs' ``codings``,
now ``latent_dim``) through `config.KEY_ALIASES`, and the same state_dict keys and shapes
after the conv stages moved to `models/conv_blocks.py`.

The fixtures in tests/fixtures/ were written by the code before the change: a tiny gan
run's config.json, a tiny dcgan run (config, weights, checkpoint), and the state_dict
keys/shapes of tiny models on (1, 8, 8) images.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

import latentforge
from conftest import make_tiny_cfg
from latentforge.config import build_config, config_from_dict, describe
from latentforge.errors import ConfigError
from latentforge.registry import get_spec, names

FIXTURES = Path(__file__).parent / "fixtures"


def test_an_old_gan_config_loads_with_codings_read_as_latent_dim(caplog):
    data = json.loads((FIXTURES / "old_gan_config.json").read_text())
    assert data["model"]["codings"] == 4 and "latent_dim" not in data["model"]
    with caplog.at_level(logging.INFO, logger="latentforge.config"):
        cfg = config_from_dict(data)
    assert cfg.model.latent_dim == 4
    assert any("model.codings is the old name of model.latent_dim" in r.getMessage()
               for r in caplog.records)
    model = get_spec("gan").model_cls(cfg.model, (1, 8, 8))
    assert model.coding_dim == 4 and model.generate(2).shape == (2, 1, 8, 8)
    saved = json.loads(describe(cfg))["model"]
    assert saved["latent_dim"] == 4 and "codings" not in saved  # saved with the new key


def test_old_set_overrides_still_apply_and_new_keys_win_the_name():
    cfg = build_config("dcgan", "book", overrides=["model.codings=7"])
    assert cfg.model.latent_dim == 7
    assert build_config("gan", "book", overrides=["model.latent_dim=5"]).model.latent_dim == 5
    # an alias applies only where the new key exists: dense autoencoders have no latent_dim
    with pytest.raises(ConfigError, match="unknown key 'model.codings'"):
        build_config("stacked_ae", "book", overrides=["model.codings=3"])


def test_an_old_dcgan_run_loads_and_generates():
    run = latentforge.load_run(FIXTURES / "old_dcgan_run")
    assert run.config.model.latent_dim == 8 and run.model.coding_dim == 8
    images = run.model.generate(3, generator=torch.Generator().manual_seed(0))
    assert images.shape == (3, 1, 8, 8) and torch.isfinite(images).all()


def test_state_dict_keys_and_shapes_are_unchanged():
    want = json.loads((FIXTURES / "state_dict_keys.json").read_text())
    for name, keys in want.items():
        cfg = make_tiny_cfg(name)
        model = get_spec(name).model_cls(cfg.model, (1, 8, 8))
        got = {k: list(v.shape) for k, v in model.state_dict().items()}
        assert got == keys, name


@pytest.mark.parametrize("name", names())
def test_every_config_answers_latent_dim_or_depends_on_the_image(name):
    """The latent size has one name; conv_ae's (filters[-1] * h * w) needs the image size."""
    run_cfg = build_config(name, "book")
    cfg = run_cfg.model
    if name == "conv_ae":
        return
    side = run_cfg.data.pad_to or 28        # power-of-two models pad Fashion-MNIST to 32
    model = get_spec(name).model_cls(cfg, (1, side, side))
    assert cfg.latent_dim == model.coding_dim
