"""Golden outputs: every registered model (and the GAN options) trained 3 seeded steps on
fixed tiny data through the engine must reproduce the numbers stored in
`tests/golden/tiny_models.json`, so a refactoring that changes any number fails here.

The numbers are the epoch's train loss, the validation metrics, two sums over every
parameter and buffer, and the first values of the model's output on fixed inputs
(reconstructions for autoencoders, seeded samples for generative models). They move when
the shuffling, an init, a loss, a gradient path or an optimizer step changes - e.g. a tied
decoder that used ``weight.detach()`` or an engine that stopped shuffling both fail.

Regenerate (only for an intended change of numbers, saying why in the commit):
``LATENTFORGE_REGEN_GOLDEN=1 pytest tests/test_golden.py``.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

import latentforge as lf
from conftest import make_tiny_cfg
from latentforge.registry import names

GOLDEN = Path(__file__).parent / "golden" / "tiny_models.json"
REGEN = os.environ.get("LATENTFORGE_REGEN_GOLDEN") == "1"
REL_TOL = 1e-4  # the same machine gives identical numbers; this absorbs BLAS differences
# 48 training items in batches of 16: 3 steps (linear_ae's synthetic set has 60 points).
STEPS = ("data.limit_train=48", "train.batch_size=16")
CASES = {name: () for name in names()}
CASES.update({
    "stacked_ae+adam": ("train.optimizer=\"adam\"", "train.lr=0.01"),
    "sparse_ae+kl": ("model.sparsity=\"kl\"", "model.sparsity_weight=0.05"),
    "gan+wgan_gp": ("model.loss=\"wgan-gp\"", "model.n_critic=2"),
    "gan+conditional": ("model.conditional=true",),
    "gan+replay": ("model.replay_fraction=0.5", "model.replay_size=64"),
    "gan+minibatch": ("model.minibatch_kernels=4", "model.minibatch_dim=3",
                      "model.minibatch_group=8"),
    "dcgan+conditional": ("model.conditional=true",),
})


def fingerprint(case: str, tmp_path) -> dict:
    name, extra = case.split("+")[0], CASES[case]
    cfg = make_tiny_cfg(name, *STEPS, *extra, epochs=1)
    run = lf.train(cfg, run_dir=tmp_path / "run")
    state = [v.double() for v in run.model.state_dict().values() if v.is_floating_point()]
    record = {k: v for k, v in run.history[-1].items()
              if isinstance(v, float) and k != "time_s"}
    record["param_sum"] = sum(float(v.sum()) for v in state)
    record["param_abs_sum"] = sum(float(v.abs().sum()) for v in state)
    record["output"] = _output(run)
    return record


@torch.inference_mode()
def _output(run) -> list[float]:
    """The first 4 values of the model's output on fixed inputs."""
    model = run.model
    if hasattr(model, "generate"):
        out = model.generate(2, generator=torch.Generator().manual_seed(0))
    else:
        out = model.reconstruct(run.split("valid").batch(torch.arange(2)))
    return [float(v) for v in out.flatten()[:4]]


def _close(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-7)


@pytest.fixture(scope="module")
def golden():
    stored = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    yield stored
    if REGEN:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("case", sorted(CASES))
def test_three_steps_reproduce_the_golden_numbers(case, golden, tmp_path):
    got = fingerprint(case, tmp_path)
    if REGEN:
        golden[case] = got
        return
    assert case in golden, f"no golden numbers for {case}: regenerate (see the docstring)"
    want = golden[case]
    assert sorted(got) == sorted(want), (case, sorted(got), sorted(want))
    wrong = {k: (got[k], want[k]) for k in want if not _close(got[k], want[k])}
    assert not wrong, f"{case}: numbers changed (got, golden): {wrong}"


def test_every_registered_model_has_a_golden_case():
    assert set(names()) <= set(CASES)
