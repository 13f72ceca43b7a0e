"""Tests of latentforge.config: recipes, ``--set`` overrides, config files, round trips."""
from __future__ import annotations

import json
import re

import pytest

from latentforge import registry
from latentforge.config import (RunConfig, apply_override, build_config, coerce,
                                config_from_dict, describe, load_file, replace_train)
from latentforge.errors import ConfigError

ALL_RECIPES = [(name, recipe) for name in registry.names()
               for recipe in registry.get_spec(name).recipes]


# ---------------------------------------------------------------- recipes

@pytest.mark.parametrize("name,recipe", ALL_RECIPES)
def test_every_recipe_value_is_applied(name, recipe):
    cfg = build_config(name, recipe)
    assert (cfg.model_name, cfg.recipe) == (name, recipe)
    for section, values in registry.get_spec(name).recipes[recipe].items():
        for key, value in values.items():
            got = getattr(getattr(cfg, section), key)
            expected = tuple(value) if isinstance(value, list) else value
            assert got == expected, f"{name}/{recipe}: {section}.{key}"


def test_book_recipes_match_the_chapter():
    stacked = build_config("stacked_ae", "book")
    assert (stacked.train.optimizer, stacked.train.lr, stacked.train.batch_size) == ("sgd", 1.5, 32)
    assert stacked.train.epochs == 20
    assert stacked.model.hidden == (100, 30)
    assert stacked.data.source == "fashion-mnist"
    linear = build_config("linear_ae", "book")
    assert linear.data.source == "synthetic3d"
    assert (linear.train.optimizer, linear.train.lr) == ("sgd", 0.1)
    assert linear.model.hidden == (2,) and linear.model.output == "linear"


def test_recipes_differ():
    book, fast = build_config("stacked_ae", "book"), build_config("stacked_ae", "fast")
    assert book.train != fast.train
    assert (fast.train.optimizer, fast.train.batch_size, fast.train.epochs) == ("adam", 64, 4)


def test_unknown_recipe():
    with pytest.raises(ConfigError, match="no recipe 'nope'.*book"):
        build_config("stacked_ae", "nope")


def test_unknown_model_suggests_close_names():
    with pytest.raises(ConfigError) as info:
        build_config("stacked_a")
    msg = str(info.value)
    assert "Unknown model 'stacked_a'" in msg
    assert "Did you mean 'stacked_ae'" in msg
    assert "linear_ae" in msg  # the list of available models


def test_unknown_model_without_close_match_lists_models():
    with pytest.raises(ConfigError) as info:
        build_config("zzzzzz")
    assert "Did you mean" not in str(info.value)
    for name in registry.names():
        assert name in str(info.value)


# ---------------------------------------------------------------- --set overrides

def _with(*overrides: str, model: str = "stacked_ae") -> RunConfig:
    return build_config(model, "book", overrides=list(overrides))


def test_override_int_float_bool_string():
    cfg = _with("train.epochs=5", "train.lr=0.25", "train.progress=false",
                "train.optimizer=adam", 'data.source="digits"')
    assert cfg.train.epochs == 5 and type(cfg.train.epochs) is int
    assert cfg.train.lr == 0.25
    assert cfg.train.progress is False
    assert cfg.train.optimizer == "adam"
    assert cfg.data.source == "digits"


def test_override_int_becomes_float_where_float_expected():
    cfg = _with("train.lr=2")
    assert cfg.train.lr == 2.0 and type(cfg.train.lr) is float


def test_override_lists_become_tuples():
    cfg = _with("model.hidden=[8, 3]", "train.betas=[0.5,0.9]")
    assert cfg.model.hidden == (8, 3) and isinstance(cfg.model.hidden, tuple)
    assert cfg.train.betas == (0.5, 0.9) and isinstance(cfg.train.betas, tuple)


def test_override_null_for_optional_fields():
    cfg = _with("train.threads=3", "data.limit_train=100", "model.coding_activation=sigmoid")
    assert (cfg.train.threads, cfg.data.limit_train) == (3, 100)
    assert cfg.model.coding_activation == "sigmoid"
    apply_override(cfg, "train.threads=null")
    apply_override(cfg, "data.limit_train=null")
    apply_override(cfg, "model.coding_activation=null")
    assert cfg.train.threads is None and cfg.data.limit_train is None
    assert cfg.model.coding_activation is None


def test_later_override_wins_and_spaces_around_key():
    cfg = _with("train.epochs=5", " train.epochs =7")
    assert cfg.train.epochs == 7


@pytest.mark.parametrize("item,fragment", [
    ("foo.x=1", "section one of"),
    ("epochs=3", "section one of"),
    ("train.nope=1", "unknown key 'train.nope'"),
    ("model.hiden=[1]", "unknown key 'model.hiden'"),
    ("train.epochs=1.5", "should be int"),
    ("train.epochs=true", "should be int"),
    ("train.epochs=null", "should be int"),
    ("train.lr=abc", "should be float"),
    ("train.lr=true", "should be float"),
    ("train.progress=1", "should be bool"),
    ("train.optimizer=3", "should be str"),
    ("model.hidden=5", "should be a list"),
    ("model.hidden=[8, \"a\"]", "should be int"),
    ("train.betas=[0.9]", "should have 2 items"),
    ("train.threads=2.5", "should be"),
    ("train.epochs", "must look like section.key=value"),
])
def test_bad_override(item, fragment):
    with pytest.raises(ConfigError) as info:
        _with(item)
    assert fragment in str(info.value)


def test_unknown_key_message_lists_keys():
    with pytest.raises(ConfigError, match="Keys of 'train': .*epochs.*batch_size"):
        _with("train.epoch=3")


def test_bad_override_leaves_defaults_untouched_in_fresh_build():
    with pytest.raises(ConfigError):
        _with("train.epochs=oops")
    assert build_config("stacked_ae").train.epochs == 20


def test_coerce_nested_optional_tuple():
    import typing

    hint = typing.Optional[tuple[int, ...]]
    assert coerce([1, 2], hint, "x") == (1, 2)
    assert coerce(None, hint, "x") is None
    with pytest.raises(ConfigError):
        coerce(["a"], hint, "x")


def test_integral_floats_are_ints_other_floats_are_refused():
    assert _with("train.epochs=5.0").train.epochs == 5
    cfg = _with("model.hidden=[1e2, 3e1]")
    assert cfg.model.hidden == (100, 30) and all(type(h) is int for h in cfg.model.hidden)
    for bad in ("train.epochs=1e-3", "train.epochs=Infinity", "train.epochs=NaN"):
        with pytest.raises(ConfigError, match="should be int"):
            _with(bad)


def test_coerce_int_str_none_union():
    hint = int | str | None
    assert coerce(3, hint, "x") == 3 and coerce(3.0, hint, "x") == 3
    assert type(coerce(3.0, hint, "x")) is int
    assert coerce("label", hint, "x") == "label" and coerce(None, hint, "x") is None
    for bad in (2.5, True, [1]):
        with pytest.raises(ConfigError, match=re.escape("should be int | str | None")):
            coerce(bad, hint, "x")


def test_bad_values_are_refused_when_the_config_is_built():
    with pytest.raises(ConfigError, match="model.hidden"):
        _with("model.hidden=[0]")
    with pytest.raises(ConfigError, match=r"train.betas\[0\]"):
        _with("train.betas=[2, 3]")
    with pytest.raises(ConfigError, match="train.momentum"):
        config_from_dict({"model_name": "stacked_ae", "train": {"momentum": -5}})


# ---------------------------------------------------------------- config files

def test_json_file_between_recipe_and_overrides(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"model_name": "ignored", "recipe": "ignored",
                                "latentforge_version": "0",
                                "model": {"hidden": [32, 8]},
                                "data": {"source": "digits"},
                                "train": {"epochs": 3, "lr": 0.5}}))
    cfg = build_config("stacked_ae", "book", file=path, overrides=["train.lr=0.7"])
    assert cfg.model_name == "stacked_ae" and cfg.recipe == "book"
    assert cfg.model.hidden == (32, 8)
    assert cfg.data.source == "digits"
    assert cfg.train.epochs == 3           # file beats recipe (20)
    assert cfg.train.lr == 0.7             # override beats file (0.5)
    assert cfg.train.batch_size == 32      # recipe value kept


def test_toml_file(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text('[model]\nhidden = [24, 6]\noutput = "linear"\n\n'
                    '[train]\noptimizer = "adam"\nlr = 1\nbetas = [0.8, 0.99]\n\n'
                    '[data]\nlimit_train = 50\n')
    cfg = build_config("stacked_ae", "fast", file=str(path))
    assert cfg.model.hidden == (24, 6) and cfg.model.output == "linear"
    assert cfg.train.optimizer == "adam"
    assert cfg.train.lr == 1.0 and type(cfg.train.lr) is float
    assert cfg.train.betas == (0.8, 0.99)
    assert cfg.data.limit_train == 50
    assert cfg.recipe == "fast"


def test_load_file_reads_both_formats(tmp_path):
    (tmp_path / "a.json").write_text('{"train": {"epochs": 4}}')
    (tmp_path / "a.toml").write_text("[train]\nepochs = 4\n")
    assert load_file(tmp_path / "a.json") == load_file(tmp_path / "a.toml") == \
        {"train": {"epochs": 4}}


@pytest.mark.parametrize("filename,text,fragment", [
    ("bad.json", '{"train": {"epochs": 3,}}', "not valid json"),
    ("bad.toml", "[train\nepochs = 3\n", "not valid toml"),
    ("bad.toml", "[train]\nepochs = \n", "not valid toml"),
    ("bin.json", None, "not valid"),
    ("list.json", "[1, 2]", "expected a table"),
    ("section.json", '{"optim": {"lr": 1}}', "unknown section 'optim'"),
    ("scalar.json", '{"train": 5}', "must be a table"),
    ("key.toml", "[train]\nlearning_rate = 0.1\n", "unknown key 'train.learning_rate'"),
    ("type.json", '{"train": {"epochs": "ten"}}', "should be int"),
])
def test_invalid_config_file(tmp_path, filename, text, fragment):
    path = tmp_path / filename
    if text is None:
        path.write_bytes(b"\xff\xfe\x00garbage\x80")
    else:
        path.write_text(text)
    with pytest.raises(ConfigError) as info:
        build_config("stacked_ae", file=path)
    assert fragment in str(info.value).lower()
    assert filename in str(info.value)  # the message names the file


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_config("stacked_ae", file=tmp_path / "nope.json")


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("name,recipe", ALL_RECIPES)
def test_round_trip_through_dict_and_json(name, recipe):
    cfg = build_config(name, recipe, overrides=["train.threads=2", "data.limit_eval=7",
                                                "train.betas=[0.5, 0.75]"])
    assert config_from_dict(cfg.to_dict()) == cfg
    again = config_from_dict(json.loads(describe(cfg)))
    assert again == cfg
    assert isinstance(again.train.betas, tuple)
    sequences = [v for v in vars(cfg.model).values() if isinstance(v, tuple)]
    assert sequences == [v for v in vars(again.model).values() if isinstance(v, tuple)]


def test_round_trip_detects_a_change():
    cfg = build_config("stacked_ae")
    data = cfg.to_dict()
    data["train"]["lr"] = 0.123
    assert config_from_dict(data) != cfg
    assert config_from_dict(data).train.lr == 0.123


def test_save_and_read_config(tmp_path):
    from latentforge.api import read_config

    cfg = build_config("linear_ae", "fast", overrides=["train.seed=7"])
    cfg.save(tmp_path / "config.json")
    saved = json.loads((tmp_path / "config.json").read_text())
    from latentforge import __version__

    assert saved["latentforge_version"] == __version__
    assert saved["model_name"] == "linear_ae"
    assert read_config(tmp_path) == cfg


def test_config_from_dict_errors():
    with pytest.raises(ConfigError, match="model_name"):
        config_from_dict({"model": {}})
    with pytest.raises(ConfigError, match="model_name"):
        config_from_dict(["not", "a", "dict"])
    with pytest.raises(ConfigError, match="Unknown model 'nope'"):
        config_from_dict({"model_name": "nope"})
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"model_name": "stacked_ae", "train": {"bogus": 1}})


def test_config_from_dict_without_recipe_is_custom():
    cfg = config_from_dict({"model_name": "stacked_ae", "train": {"epochs": 2}})
    assert cfg.recipe == "custom" and cfg.train.epochs == 2


def test_replace_train_copies():
    cfg = build_config("stacked_ae")
    other = replace_train(cfg, epochs=1, lr=0.5)
    assert (other.train.epochs, other.train.lr) == (1, 0.5)
    assert (cfg.train.epochs, cfg.train.lr) == (20, 1.5)
    assert other.model == cfg.model
