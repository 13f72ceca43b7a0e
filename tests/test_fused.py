"""The fused dense SGD step (`models/fused.py`) equals autograd + `torch.optim.SGD`.

Two identical models (same seed) run the same batches, one with ``model.fused_sgd=false``;
parameters and losses must agree. With momentum or Adam the fused step must not run at all.
"""
from __future__ import annotations

import sys

import pytest
import torch

from latentforge.api import build_model
from latentforge.config import build_config
from latentforge.models import fused
from latentforge.training.step import Stepper

ORIGINAL_FUSED_STEP = fused.fused_sgd_step
STEPS = 20


def _pair(name: str, shape, *overrides: str):
    """(fused model, autograd model, cfg) built from the same seed."""
    def make(flag: str):
        cfg = build_config(name, "book", overrides=[*overrides, f"model.fused_sgd={flag}"])
        return build_model(cfg, shape), cfg

    (a, cfg), (b, _) = make("true"), make("false")
    for (k, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), f"initial '{k}' differs"
    return a, b, cfg


def _batches(shape, n=STEPS, b=32, seed=0, low=0.0, high=1.0):
    g = torch.Generator().manual_seed(seed)
    return [low + (high - low) * torch.rand((b, *shape), generator=g) for _ in range(n)]


def _run(model, cfg, batches):
    opts = model.configure_optimizers(cfg.train)
    model.train()
    return torch.stack([model.train_step(x, None, Stepper(opts))["loss"] for x in batches])


def _assert_params_close(a, b, atol=1e-5, rtol=1e-4):
    for (k, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, atol=atol, rtol=rtol, msg=f"parameter '{k}'")


def _patch_fused(monkeypatch, replacement):
    """Replace fused_sgd_step in `models.fused` and every latentforge module that
    imported it by name (e.g. `models.autoencoders`)."""
    monkeypatch.setattr(fused, "fused_sgd_step", replacement)
    for mod_name, mod in list(sys.modules.items()):
        if mod_name.startswith("latentforge") and \
                getattr(mod, "fused_sgd_step", None) is ORIGINAL_FUSED_STEP:
            monkeypatch.setattr(mod, "fused_sgd_step", replacement)


@pytest.fixture
def count_fused(monkeypatch):
    """Counts calls to the fused step (the real one still runs)."""
    calls = {"n": 0}

    def counting(*args, **kwargs):
        calls["n"] += 1
        return ORIGINAL_FUSED_STEP(*args, **kwargs)

    _patch_fused(monkeypatch, counting)
    return calls


@pytest.fixture
def forbid_fused(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the fused SGD step must not run here")

    _patch_fused(monkeypatch, boom)


CASES = [
    # name, sample shape, overrides, batch value range
    pytest.param("stacked_ae", (1, 28, 28), (), (0.0, 1.0), id="book-784-100-30-100-784"),
    pytest.param("stacked_ae", (1, 8, 8), ("model.hidden=[16, 4]",), (0.0, 1.0), id="tiny"),
    pytest.param("stacked_ae", (1, 8, 8), ("model.hidden=[16, 4]", "model.output=\"linear\""),
                 (0.0, 1.0), id="selu-linear-output"),
    pytest.param("stacked_ae", (1, 8, 8), ("model.hidden=[12, 6, 3]", "train.lr=0.3"),
                 (0.0, 1.0), id="deeper"),
    pytest.param("linear_ae", (3,), (), (-1.0, 1.0), id="linear_ae-mse"),
    pytest.param("linear_ae", (5,), ("model.hidden=[3]", "train.lr=0.05"), (-2.0, 2.0),
                 id="linear_ae-5-3-5"),
]


@pytest.mark.parametrize("name,shape,overrides,value_range", CASES)
def test_fused_equals_autograd_sgd(name, shape, overrides, value_range, count_fused):
    a, b, cfg = _pair(name, shape, *overrides)
    assert a._stack is not None and b._stack is None
    batches = _batches(shape, low=value_range[0], high=value_range[1])
    start = [p.detach().clone() for p in a.parameters()]
    loss_a = _run(a, cfg, batches)
    assert count_fused["n"] == STEPS      # the fast path really ran for model a
    loss_b = _run(b, cfg, batches)
    assert count_fused["n"] == STEPS      # ... and never for model b
    assert torch.isfinite(loss_a).all()
    torch.testing.assert_close(loss_a, loss_b, atol=1e-5, rtol=1e-4)
    _assert_params_close(a, b)
    assert all(p.grad is None for p in a.parameters())
    moved = [not torch.equal(s, p) for s, p in zip(start, a.parameters())]
    assert all(moved), "every layer must be updated"
    assert loss_a[-1] < loss_a[0]


def test_fused_step_matches_single_autograd_step_exactly_in_float64():
    """One step in float64: the hand-written gradients equal autograd's to 1e-12."""
    a, b, cfg = _pair("stacked_ae", (1, 8, 8), "model.hidden=[16, 4]")
    a.double(), b.double()
    x = _batches((1, 8, 8), n=1)[0].double()
    loss_a = _run(a, cfg, [x])
    loss_b = _run(b, cfg, [x])
    torch.testing.assert_close(loss_a, loss_b, atol=1e-12, rtol=1e-12)
    _assert_params_close(a, b, atol=1e-12, rtol=1e-12)


def test_fused_step_with_negative_preactivations_uses_selu_derivative():
    """Inputs far below zero put SELU units on their exponential branch."""
    a, b, cfg = _pair("stacked_ae", (1, 8, 8), "model.hidden=[16, 4]",
                      "model.output=\"linear\"", "train.lr=0.01")
    a.double(), b.double()
    batches = [x.double() for x in _batches((1, 8, 8), n=3, low=-3.0, high=1.0)]
    _run(a, cfg, batches)
    _run(b, cfg, batches)
    _assert_params_close(a, b, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("overrides", [
    pytest.param(("train.momentum=0.9",), id="sgd-momentum"),
    pytest.param(("train.optimizer=adam", "train.lr=0.001"), id="adam"),
    pytest.param(("train.optimizer=rmsprop", "train.lr=0.001"), id="rmsprop"),
    pytest.param(("model.activation=\"relu\"",), id="relu-not-fusable"),
    pytest.param(("model.coding_activation=\"sigmoid\"",), id="sigmoid-codings"),
])
def test_fast_path_not_taken(overrides, forbid_fused):
    shape = (1, 8, 8)
    a, b, cfg = _pair("stacked_ae", shape, "model.hidden=[16, 4]", "train.lr=0.1", *overrides)
    batches = _batches(shape, n=5)
    loss_a = _run(a, cfg, batches)   # would raise if the fused step were called
    loss_b = _run(b, cfg, batches)
    assert torch.equal(loss_a, loss_b)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_forbid_fixture_really_blocks_the_fast_path(forbid_fused):
    """Control for test_fast_path_not_taken: with plain SGD the patched step is hit."""
    a, _, cfg = _pair("stacked_ae", (1, 8, 8), "model.hidden=[16, 4]")
    with pytest.raises(AssertionError, match="must not run"):
        _run(a, cfg, _batches((1, 8, 8), n=1))


def test_plain_sgd_lr():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert fused.plain_sgd_lr(torch.optim.SGD(p, lr=0.25)) == 0.25
    assert fused.plain_sgd_lr(torch.optim.SGD(p, lr=0.25, momentum=0.9)) is None
    assert fused.plain_sgd_lr(torch.optim.SGD(p, lr=0.25, weight_decay=1e-4)) is None
    assert fused.plain_sgd_lr(torch.optim.SGD(p, lr=0.25, maximize=True)) is None
    assert fused.plain_sgd_lr(torch.optim.Adam(p, lr=0.25)) is None
    two_groups = torch.optim.SGD([{"params": p}, {"params": [torch.nn.Parameter(
        torch.zeros(1))], "lr": 1.0}], lr=0.25)
    assert fused.plain_sgd_lr(two_groups) is None


def test_dense_stack_describes_layers():
    a, _, _ = _pair("stacked_ae", (1, 8, 8), "model.hidden=[16, 4]")
    linears, acts = fused.dense_stack(a)
    assert [(m.in_features, m.out_features) for m in linears] == \
        [(64, 16), (16, 4), (4, 16), (16, 64)]
    assert acts == ["selu", "selu", "selu", "linear"]
    lin, _, _ = _pair("linear_ae", (3,))
    assert fused.dense_stack(lin)[1] == ["linear", "linear"]
    relu = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))
    assert fused.dense_stack(relu) is None
