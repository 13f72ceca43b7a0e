"""train.compile and train.drop_last (training/compiling.py, the engine).

Every registered model trains compiled with the "aot_eager" backend (dynamo's graph capture
and AOT autograd, without code generation: fast, no C++ compiler) and matches its eager
run; graphs are counted so that nothing compiles again after the first epoch; one slow
test compiles a conv model with inductor (generated C++ kernels) where a compiler exists.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch._dynamo.utils import counters

from conftest import make_tiny_cfg, run_cli
from latentforge import registry
from latentforge.api import build_model
from latentforge.data import load_data
from latentforge.errors import ConfigError
from latentforge.training import compiling
from latentforge.training.engine import Callback, Trainer

AOT = "train.compile_backend=aot_eager"
BATCH = "train.batch_size=20"  # the tiny data's 96 training items leave a last batch of 16


def _fit(name: str, *extra: str, epochs: int = 1):
    """(history, model, compiled graphs) of a tiny in-memory run of `name`."""
    torch._dynamo.reset()
    counters.clear()
    cfg = make_tiny_cfg(name, *extra, epochs=epochs)
    splits = load_data(cfg.data)
    model = build_model(cfg, splits.train.sample_shape)
    history = Trainer(model, splits, cfg).fit().history
    return history, model, counters["stats"]["unique_graphs"]


def _graphs_per_epoch(name: str, *extra: str, epochs: int = 3) -> list[int]:
    """Graphs compiled by the end of each epoch of a compiled tiny run."""
    seen = []

    class Count(Callback):
        def on_epoch_end(self, trainer, record):
            seen.append(counters["stats"]["unique_graphs"])

    torch._dynamo.reset()
    counters.clear()
    cfg = make_tiny_cfg(name, "train.compile=true", AOT, *extra, epochs=epochs)
    splits = load_data(cfg.data)
    model = build_model(cfg, splits.train.sample_shape)
    Trainer(model, splits, cfg, callbacks=[Count()]).fit()
    return seen


@pytest.mark.parametrize("name", registry.names())
def test_every_model_trains_compiled_like_eager(name):
    eager, _, _ = _fit(name)
    compiled, model, graphs = _fit(name, "train.compile=true", AOT)
    assert graphs >= 1, "nothing was compiled"
    for key, value in eager[-1].items():
        if key != "time_s" and isinstance(value, float):
            assert math.isclose(compiled[-1][key], value, rel_tol=1e-5, abs_tol=1e-6), key
    # the model a caller gets back runs eagerly again
    assert all(getattr(m, "_compiled_call_impl", None) is None for m in model.modules())


def test_the_last_smaller_batch_compiles_once_not_every_epoch():
    # under a cosine schedule (a new lr every step, which the fused step takes as an
    # argument) and with an epoch whose last batch is smaller
    cfg = make_tiny_cfg("stacked_ae", BATCH)
    n, bs = len(load_data(cfg.data).train), cfg.train.batch_size
    assert n % bs, "the tiny data must leave a smaller last batch"
    for name in ("stacked_ae", "sparse_ae"):  # the fused step; compiled modules
        seen = _graphs_per_epoch(name, BATCH, "train.schedule=cosine")
        assert seen[0] >= 1 and seen[1:] == [seen[0]] * 2, (name, seen)


def test_drop_last_needs_no_graph_for_a_last_batch():
    kept = _graphs_per_epoch("sparse_ae", BATCH, epochs=2)
    dropped = _graphs_per_epoch("sparse_ae", BATCH, "train.drop_last=true", epochs=2)
    assert dropped[-1] < kept[-1], (dropped, kept)


def test_drop_last_leaves_out_the_last_batch():
    cfg = make_tiny_cfg("stacked_ae", BATCH, epochs=1)
    n, bs = len(load_data(cfg.data).train), cfg.train.batch_size
    kept, _, _ = _fit("stacked_ae", BATCH)
    dropped, _, _ = _fit("stacked_ae", BATCH, "train.drop_last=true")
    assert kept[-1]["step"] == math.ceil(n / bs)
    assert dropped[-1]["step"] == n // bs


def test_drop_last_with_fewer_items_than_a_batch_is_refused():
    cfg = make_tiny_cfg("stacked_ae", "train.drop_last=true", "train.batch_size=100000")
    splits = load_data(cfg.data)
    model = build_model(cfg, splits.train.sample_shape)
    with pytest.raises(ConfigError, match="drop_last leaves no batch"):
        Trainer(model, splits, cfg)


def test_checkpoints_of_a_compiled_run_have_the_eager_names(tmp_path):
    import latentforge

    run = latentforge.train(make_tiny_cfg("conv_ae", "train.compile=true", AOT, epochs=1),
                            run_dir=tmp_path / "run")
    eager = build_model(make_tiny_cfg("conv_ae"), run.model.sample_shape)
    assert set(run.model.state_dict()) == set(eager.state_dict())
    loaded = latentforge.load_run(tmp_path / "run")
    for k, v in run.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v), k


def test_an_unknown_backend_is_one_error_line(tmp_path, capsys):
    code, _, err = run_cli(["train", "stacked_ae", "--data", "digits", "--epochs", "1",
                            "--name", "x", "--runs-dir", tmp_path, "--set",
                            "train.compile=true", "--set", "train.compile_backend=nope"],
                           capsys)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "Unknown train.compile_backend 'nope'" in err and "aot_eager" in err


def test_inductor_without_a_cxx_compiler_is_refused(monkeypatch):
    monkeypatch.setattr(compiling, "_cxx_compiler", lambda: None)
    with pytest.raises(ConfigError, match="needs a C\\+\\+ compiler"):
        compiling.check_backend("inductor", torch.device("cpu"))
    compiling.check_backend("aot_eager", torch.device("cpu"))  # no compiler needed


@pytest.mark.slow
def test_inductor_compiles_like_eager():
    # the dense book path: the hand-fused SGD step, compiled into generated C++ kernels
    if compiling._cxx_compiler() is None:
        pytest.skip("no C++ compiler for inductor's CPU kernels (apt install g++)")
    eager, _, _ = _fit("stacked_ae")
    compiled, _, graphs = _fit("stacked_ae", "train.compile=true")
    assert graphs >= 1
    assert math.isclose(compiled[-1]["loss"], eager[-1]["loss"], rel_tol=1e-4)
    assert math.isclose(compiled[-1]["val_loss"], eager[-1]["val_loss"], rel_tol=1e-4)
