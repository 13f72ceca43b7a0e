"""Conformance suite: every registered model, tiny preset, offline data.

Parametrised over `latentforge.registry.names()`, so a newly registered model is covered
without touching this file: build, shapes, one step, eval, save/load, determinism, exact
resume, divergence handling. Plus the registry's own contract.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

import latentforge
from conftest import make_tiny_cfg
from latentforge import registry
from latentforge.api import build_model
from latentforge.data import load_data
from latentforge.errors import ConfigError, TrainingDiverged
from latentforge.training import checkpoint
from latentforge.training.engine import Callback
from latentforge.training.step import Stepper

NAMES = registry.names()


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor '{k}' differs"


def _differs(a: dict, b: dict) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a)


def _seeded(fn, *args):
    """Call fn with the global RNG seeded (stochastic models: VAE sampling, noise)."""
    torch.manual_seed(1234)
    with torch.inference_mode():
        return fn(*args)


@pytest.fixture(params=NAMES)
def name(request):
    return request.param


@pytest.fixture
def built(name):
    """(cfg, splits, model, batch x, labels y) for one model, tiny preset."""
    cfg = make_tiny_cfg(name)
    splits = load_data(cfg.data)
    model = build_model(cfg, splits.train.sample_shape)
    idx = torch.arange(min(8, len(splits.train)))
    y = None if splits.train.y is None else splits.train.y[idx]
    return cfg, splits, model, splits.train.batch(idx), y


# ---------------------------------------------------------------- build, shapes, one step

def test_tiny_preset_uses_offline_data(name, tiny_cfg):
    cfg = tiny_cfg(name)
    assert cfg.data.source in ("digits", "synthetic3d")
    assert cfg.train.epochs == 2 and cfg.train.progress is False


def test_build(built):
    cfg, splits, model, x, _ = built
    assert isinstance(model, torch.nn.Module)
    assert model.sample_shape == splits.train.sample_shape
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params > 0
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_autoencoder_shapes(built):
    cfg, splits, model, x, _ = built
    if "encode" not in model.capabilities():
        pytest.skip(f"{cfg.model_name} has no encoder")
    model.eval()
    out = _seeded(model, x)
    assert out.shape == x.shape
    codings = _seeded(model.encode, x)
    assert codings.dim() == 2 and codings.shape[0] == len(x)
    if hasattr(model, "coding_dim"):
        assert codings.shape[1] == model.coding_dim
    recon = _seeded(model.reconstruct, x)
    assert recon.shape == x.shape
    assert torch.isfinite(recon).all()
    if getattr(model.cfg, "output", None) == "sigmoid":
        assert recon.min() >= 0 and recon.max() <= 1
    decoded = _seeded(model.decode, codings)
    assert decoded.shape == x.shape


def test_train_step_changes_parameters(built):
    cfg, _, model, x, y = built
    opts = model.configure_optimizers(cfg.train)
    assert opts and all(isinstance(o, torch.optim.Optimizer) for o in opts.values())
    before = _state(model)
    model.train()
    losses = model.train_step(x, y, Stepper(opts))
    assert "loss" in losses
    for key, value in losses.items():
        assert isinstance(value, torch.Tensor) and value.dim() == 0, key
        assert not value.requires_grad, f"{key} must be detached"
        assert math.isfinite(float(value)), key
    assert _differs(before, _state(model)), "one train_step changed no parameter"


def test_eval_step_metrics_finite(built):
    _, _, model, x, y = built
    model.eval()
    with torch.inference_mode():
        metrics = model.eval_step(x, y)
    assert "loss" in metrics
    for key, value in metrics.items():
        assert math.isfinite(float(value)), key


def test_eval_step_does_not_change_parameters(built):
    _, _, model, x, y = built
    before = _state(model)
    model.eval()
    with torch.inference_mode():
        model.eval_step(x, y)
    _assert_same_state(before, _state(model))


# ---------------------------------------------------------------- full runs

def _train(name, run_dir, *extra, epochs=2, **kwargs):
    return latentforge.train(make_tiny_cfg(name, *extra, epochs=epochs), run_dir=run_dir,
                             **kwargs)


def _metrics(run_dir) -> list[dict]:
    text = (run_dir / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_train_writes_run_and_load_run_round_trip(name, tmp_path):
    run = _train(name, tmp_path / "run")
    for f in ("config.json", "model.safetensors", "metrics.jsonl"):
        assert (run.path / f).is_file(), f
    assert checkpoint.latest_checkpoint(run.path) is not None
    assert [r["epoch"] for r in _metrics(run.path)] == [1, 2]
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["val_loss"]) for r in run.history)

    loaded = latentforge.load_run(run.path)
    assert loaded.config == run.config
    _assert_same_state(_state(run.model), _state(loaded.model))
    assert not loaded.model.training
    assert [r["epoch"] for r in loaded.history] == [1, 2]

    x = run.data().valid.batch(torch.arange(min(6, len(run.data().valid))))
    if "encode" in run.model.capabilities():
        assert torch.equal(_seeded(run.encode, x), _seeded(loaded.encode, x))
        assert torch.equal(_seeded(run.reconstruct, x), _seeded(loaded.reconstruct, x))
        assert torch.equal(_seeded(run.model, x), _seeded(loaded.model, x))
    assert run.evaluate("valid") == loaded.evaluate("valid")


def test_load_run_ignores_the_global_rng(name, tmp_path):
    """Loading rebuilds from config.json + weights: the global seed must not matter."""
    run = _train(name, tmp_path / "run", epochs=1)
    torch.manual_seed(999)
    loaded = latentforge.load_run(run.path)
    _assert_same_state(_state(run.model), _state(loaded.model))


def test_same_seed_same_weights_other_seed_differs(name, tmp_path):
    a = _train(name, tmp_path / "a")
    torch.manual_seed(5)  # global RNG state before the run must not matter
    b = _train(name, tmp_path / "b")
    c = _train(name, tmp_path / "c", "train.seed=7")
    _assert_same_state(_state(a.model), _state(b.model))
    assert a.history[-1]["loss"] == b.history[-1]["loss"]
    assert _differs(_state(a.model), _state(c.model))


def test_resume_equals_uninterrupted(name, tmp_path):
    whole = _train(name, tmp_path / "whole", epochs=2)
    first = _train(name, tmp_path / "part", epochs=1)
    assert [r["epoch"] for r in _metrics(first.path)] == [1]
    assert _differs(_state(first.model), _state(whole.model))

    resumed = latentforge.train(name, run_dir=tmp_path / "part", resume=True,
                                overrides=["train.epochs=2"])
    _assert_same_state(_state(whole.model), _state(resumed.model))
    _assert_same_state(_state(whole.model), _state(latentforge.load_run(resumed.path).model))
    rows = _metrics(resumed.path)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["loss"] == whole.history[1]["loss"]
    assert rows[1]["step"] == whole.history[1]["step"]
    assert resumed.config.train.epochs == 2
    assert latentforge.load_run(resumed.path).config.train.epochs == 2


def test_resume_when_already_done_trains_nothing(name, tmp_path):
    run = _train(name, tmp_path / "run", epochs=1)
    again = latentforge.train(name, run_dir=run.path, resume=True)
    _assert_same_state(_state(run.model), _state(again.model))
    assert [r["epoch"] for r in _metrics(run.path)] == [1]


def test_new_run_refuses_existing_dir_unless_overwrite(name, tmp_path):
    from latentforge.errors import RunError

    run = _train(name, tmp_path / "run", epochs=1)
    with pytest.raises(RunError, match="already exists"):
        _train(name, run.path, epochs=1)
    again = _train(name, run.path, epochs=1, overwrite=True)
    assert [r["epoch"] for r in _metrics(again.path)] == [1]


def _inject_nan_from_epoch(monkeypatch, model_cls, calls_before_nan: int):
    """Make train_step report a NaN loss after `calls_before_nan` good calls."""
    original = model_cls.train_step
    count = {"n": 0}

    def train_step(self, x, y, opts):
        out = original(self, x, y, opts)
        count["n"] += 1
        if count["n"] > calls_before_nan:
            out = dict(out, loss=torch.tensor(float("nan")))
        return out

    monkeypatch.setattr(model_cls, "train_step", train_step)


def test_divergence_keeps_previous_checkpoint(name, tmp_path, monkeypatch):
    good = _train(name, tmp_path / "run", epochs=1)
    kept = _state(good.model)
    _inject_nan_from_epoch(monkeypatch, registry.get_spec(name).model_cls, 0)
    with pytest.raises(TrainingDiverged, match="diverged.*epoch 2"):
        latentforge.train(name, run_dir=good.path, resume=True, overrides=["train.epochs=2"])
    monkeypatch.undo()

    assert [r["epoch"] for r in _metrics(good.path)] == [1]
    loaded = latentforge.load_run(good.path)
    _assert_same_state(kept, _state(loaded.model))
    # The kept checkpoint still resumes exactly: same weights as an uninterrupted run.
    resumed = latentforge.train(name, run_dir=good.path, resume=True,
                                overrides=["train.epochs=2"])
    whole = _train(name, tmp_path / "whole", epochs=2)
    _assert_same_state(_state(whole.model), _state(resumed.model))


def test_divergence_in_first_epoch_writes_no_weights(name, tmp_path, monkeypatch):
    _inject_nan_from_epoch(monkeypatch, registry.get_spec(name).model_cls, 1)
    with pytest.raises(TrainingDiverged, match="no checkpoint"):
        _train(name, tmp_path / "run", epochs=2)
    assert not (tmp_path / "run" / checkpoint.WEIGHTS).exists()
    assert checkpoint.latest_checkpoint(tmp_path / "run") is None


class _BlowUpLr(Callback):
    """Callback: after epoch 1, set every optimizer's lr to 1e30 (and keep the weights)."""

    def __init__(self):
        self.after_epoch_1 = None

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == 1:
            self.after_epoch_1 = _state(trainer.model)
            for opt in trainer.optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = 1e30


HUGE_LR_CASES = [
    ("stacked_ae", ()),                                   # fused SGD path
    ("stacked_ae", ("model.fused_sgd=false",)),           # autograd + torch SGD
    ("stacked_ae", ("train.optimizer=adam",)),
    ("linear_ae", ()),
]


def test_divergence_detected_mid_epoch(name, tmp_path, monkeypatch):
    from latentforge.training import engine

    monkeypatch.setattr(engine, "NAN_CHECK_EVERY", 2)
    _inject_nan_from_epoch(monkeypatch, registry.get_spec(name).model_cls, 0)
    with pytest.raises(TrainingDiverged, match="epoch 1 at step 2;"):
        _train(name, tmp_path / "run", epochs=1)


@pytest.mark.parametrize("model_name,extra", HUGE_LR_CASES)
def test_huge_learning_rate_from_the_start_raises_diverged(model_name, extra, tmp_path):
    with pytest.raises(TrainingDiverged) as info:
        _train(model_name, tmp_path / "run", *extra, "train.lr=1e30", epochs=2)
    msg = str(info.value)
    assert "epoch 1" in msg and "no checkpoint was written" in msg
    assert "Lower train.lr (now 1e+30)" in msg
    assert not (tmp_path / "run" / checkpoint.WEIGHTS).exists()


@pytest.mark.parametrize("model_name,extra", HUGE_LR_CASES)
def test_huge_learning_rate_mid_run_keeps_previous_checkpoint(model_name, extra, tmp_path):
    blow_up = _BlowUpLr()
    with pytest.raises(TrainingDiverged) as info:
        _train(model_name, tmp_path / "run", *extra, epochs=3, callbacks=[blow_up])
    assert "in epoch 2" in str(info.value)
    assert "checkpoint after epoch 1 is kept" in str(info.value)
    assert [r["epoch"] for r in _metrics(tmp_path / "run")] == [1]
    _assert_same_state(blow_up.after_epoch_1,
                       _state(latentforge.load_run(tmp_path / "run").model))


def test_resume_uses_the_new_learning_rate(tmp_path):
    _train("stacked_ae", tmp_path / "run", epochs=1)
    resumed = latentforge.train("stacked_ae", run_dir=tmp_path / "run", resume=True,
                                overrides=["train.epochs=2", "train.lr=0.01"])
    whole = _train("stacked_ae", tmp_path / "whole", epochs=2)
    assert _differs(_state(whole.model), _state(resumed.model))


# ---------------------------------------------------------------- registry

def test_names_sorted_and_builtin_present():
    assert NAMES == sorted(NAMES)
    assert {"stacked_ae", "linear_ae"} <= set(NAMES)


def test_public_available_models_function():
    registry.get_spec("stacked_ae")
    assert latentforge.available_models() == NAMES


def test_every_spec_is_complete(name):
    spec = registry.get_spec(name)
    assert spec.name == name
    assert "book" in spec.recipes
    assert spec.summary.strip()
    assert spec.tiny, f"{name} has no tiny preset"
    spec.config_cls()  # every field has a default


def test_duplicate_name_raises(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    spec = registry.get_spec("stacked_ae")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("stacked_ae", spec.config_cls, "dup", {"book": {}})(spec.model_cls)
    assert registry.get_spec("stacked_ae") is spec


def test_register_requires_book_recipe():
    with pytest.raises(ValueError, match="book"):
        registry.register("no_book_model", object, "x", {"fast": {}})


def test_register_new_model_is_listed(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    spec = registry.get_spec("stacked_ae")
    registry.register("zz_test_model", spec.config_cls, "test", {"book": {}},
                      tiny={"model": {"hidden": [4]}})(spec.model_cls)
    assert "zz_test_model" in registry.names()
    assert registry.get_spec("zz_test_model").model_cls is spec.model_cls
    assert latentforge.build_config("zz_test_model").model_name == "zz_test_model"


def test_unknown_name_raises_config_error():
    with pytest.raises(ConfigError, match="Unknown model 'linear_a'.*'linear_ae'"):
        registry.get_spec("linear_a")
    with pytest.raises(ConfigError):
        latentforge.train("no_such_model", run_dir="unused")
