"""The dense autoencoder family: tied weights, corruption, sparsity penalties, hashing,
greedy layer-wise training and the codings data source."""
import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.api import build_model
from latentforge.config import build_config
from latentforge.errors import ConfigError, DataError
from latentforge.evaluation.hashing import binariness, hash_bits, hash_ints, hash_table
from latentforge.models.autoencoders import DenseTranspose, kl_sparsity
from latentforge.training.step import Stepper
from latentforge.training.greedy import GreedySettings, train_greedy
from latentforge.viz.sparsity import activation_histograms, sparsity_loss_figure

DIGITS = ['data.source="digits"', "train.progress=false"]


def model(name, recipe="book", *overrides, shape=(1, 8, 8)):
    return build_model(build_config(name, recipe, overrides=list(overrides)), shape)


def test_tied_decoder_uses_transposed_encoder_kernels():
    m = model("tied_ae")
    enc = [l for l in m.encoder if isinstance(l, torch.nn.Linear)]
    z = torch.randn(5, 30)
    h = torch.selu(z @ enc[1].weight + m.decoder[0].bias)
    expected = h @ enc[0].weight + m.decoder[2].bias
    assert torch.allclose(m.decoder[:3](z), expected, atol=1e-6)
    names = set(m.state_dict())
    assert not any("_dense" in n for n in names)  # the shared kernel is stored once
    n_params = sum(p.numel() for p in m.parameters())
    assert n_params == 64 * 100 + 100 + 100 * 30 + 30 + 100 + 64


def _linears(module) -> list[torch.nn.Linear]:
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def test_tied_training_updates_shared_kernel_from_both_sides():
    """One SGD step of tied_ae moves each shared kernel by -lr * (its encoder gradient + the
    transposed gradient of its decoder use), both taken from an untied twin with the same
    weights: a decoder that used ``weight.detach()`` would miss the second term."""
    torch.manual_seed(0)
    cfg = build_config("tied_ae", "book")
    tied = build_model(cfg, (1, 8, 8)).double()
    untied = build_model(dataclasses.replace(cfg, model=dataclasses.replace(
        cfg.model, tied=False)), (1, 8, 8)).double()
    encoder, transposes = _linears(tied.encoder), [m for m in tied.decoder
                                                   if isinstance(m, DenseTranspose)]
    with torch.no_grad():
        for a, b in zip(_linears(untied.encoder), encoder):
            a.weight.copy_(b.weight), a.bias.copy_(b.bias)
        for a, b in zip(_linears(untied.decoder), transposes):
            a.weight.copy_(b._dense[0].weight.t()), a.bias.copy_(b.bias)
    x = torch.rand(16, 1, 8, 8, dtype=torch.float64)
    untied.losses(x)["loss"].backward()
    dec_grads = [m.weight.grad.t() for m in _linears(untied.decoder)][::-1]
    before = [m.weight.detach().clone() for m in encoder]
    lr = 0.5
    tied.train_step(x, None, Stepper({"main": torch.optim.SGD(tied.parameters(), lr=lr)}))
    for w0, layer, twin, g_dec in zip(before, encoder, _linears(untied.encoder), dec_grads):
        assert g_dec.abs().max() > 1e-6  # the decoder's share is not negligible
        assert torch.allclose(layer.weight, w0 - lr * (twin.weight.grad + g_dec))


@pytest.mark.parametrize("recipe", ["book", "book_dropout"])
def test_corruption_only_in_training(recipe):
    m = model("denoising_ae", recipe)
    x = torch.rand(16, 1, 8, 8)
    m.eval()
    assert torch.equal(m.encode(x), m.encode(x))
    m.train()
    assert not torch.equal(m.encode(x), m.encode(x))


def test_l1_penalty_is_weight_times_batch_mean_of_unit_sums():
    m = model("sparse_ae")
    codes = torch.rand(32, 300)
    expected = 1e-3 * codes.sum() / 32  # Keras: l1 * sum(|a|) / batch size
    assert torch.allclose(m.regularization(codes)["sparsity"], expected)


def test_kl_penalty_matches_formula_and_keras_batch_scaling():
    codes = torch.full((32, 4), 0.3)
    t, q = 0.1, 0.3
    one = t * math.log(t / q) + (1 - t) * math.log((1 - t) / (1 - q))
    assert kl_sparsity(codes, 0.1).item() == pytest.approx(4 * one, rel=1e-5)
    assert kl_sparsity(torch.full((8, 4), 0.1), 0.1).item() == pytest.approx(0, abs=1e-6)
    keras = model("sparse_ae", "book_kl", "model.hidden=[8,4]")
    plain = model("sparse_ae", "book_kl", "model.hidden=[8,4]", "model.kl_batch_scaling=false")
    k, p = keras.regularization(codes)["sparsity"], plain.regularization(codes)["sparsity"]
    assert p.item() == pytest.approx(0.05 * 4 * one, rel=1e-5)
    assert k.item() == pytest.approx(p.item() / 32, rel=1e-5)


def test_sparse_eval_reports_penalty_in_loss(tmp_path):
    run = lf.train("sparse_ae", overrides=DIGITS + ["train.epochs=1"], run_dir=tmp_path / "s")
    res = run.evaluate("valid")
    assert res["loss"] == pytest.approx(res["reconstruction"] + res["sparsity"], rel=1e-6)
    from latentforge.viz.run_figures import write_figures

    assert tmp_path / "s" / "figures" / "activation_histograms.png" in write_figures(run)


@pytest.mark.parametrize("bad", ['model.sparsity="l2"', 'model.sparsity="kl"',
                                 "model.code_noise=-1", 'model.corruption="salt"',
                                 'model.output="tanh"'])
def test_bad_family_options_raise_config_error(bad):
    extra = ['model.coding_activation="selu"'] if "kl" in bad else []
    with pytest.raises(ConfigError):
        model("stacked_ae", "book", bad, *extra)


def test_hash_functions():
    codes = np.array([[0.9, 0.1, 0.8], [0.2, 0.7, 0.95], [0.99, 0.01, 0.6]])
    bits = hash_bits(codes)
    assert bits.tolist() == [[1, 0, 1], [0, 1, 1], [1, 0, 1]]
    assert hash_ints(bits).tolist() == [5, 6, 5]
    assert binariness(codes) == pytest.approx(3 / 9)  # 0.95, 0.99, 0.01
    table = hash_table(codes, np.array([0, 1, 1]))
    assert table["distinct_hashes"] == 2 and table["largest_bucket"] == 2
    assert table["bucket_label_purity"] == pytest.approx(2 / 3)


def test_sparsity_figures():
    assert len(sparsity_loss_figure(0.1).axes) == 1
    assert len(activation_histograms(np.random.default_rng(0).random((50, 30))).axes) == 2


def test_codings_source_and_greedy(tmp_path):
    summary = train_greedy(tmp_path / "g", GreedySettings(
        hidden=(16, 4), epochs=1, finetune_epochs=1, overrides=DIGITS))
    assert list(summary) == ["phase1", "phase2", "stack"]
    assert json.loads((tmp_path / "g" / "greedy.json").read_text()) == summary
    phase1, phase2 = lf.load_run(tmp_path / "g" / "phase1"), lf.load_run(tmp_path / "g" / "phase2")
    assert phase2.config.model.output == "selu"
    valid = phase2.data().valid
    x = phase1.split("valid").batch(torch.arange(len(valid)))
    assert torch.allclose(valid.x, phase1.encode(x))  # phase 2 learns phase 1's codings
    stack = lf.load_run(tmp_path / "g" / "stack")
    assert stack.config.model.hidden == (16, 4)
    again = train_greedy(tmp_path / "g", GreedySettings(
        hidden=(16, 4), epochs=1, finetune_epochs=1, overrides=DIGITS))
    assert again == summary  # finished phases are reused, not retrained


def test_greedy_initialises_stack_from_phases(tmp_path):
    train_greedy(tmp_path / "g", GreedySettings(hidden=(16, 4), epochs=1, finetune_epochs=1,
                                              finetune_lr=1e-12, overrides=DIGITS))
    runs = {p: lf.load_run(tmp_path / "g" / p) for p in ("phase1", "phase2", "stack")}
    lin = {p: [m for m in r.model.modules() if isinstance(m, torch.nn.Linear)]
           for p, r in runs.items()}
    stack = lin["stack"]
    pairs = [(stack[0], lin["phase1"][0]), (stack[1], lin["phase2"][0]),
             (stack[2], lin["phase2"][1]), (stack[3], lin["phase1"][1])]
    for got, want in pairs:
        assert torch.allclose(got.weight, want.weight, atol=1e-9)


def test_greedy_needs_finetune_epochs():
    with pytest.raises(ConfigError):
        GreedySettings(finetune_epochs=0)


def test_codings_source_errors(tmp_path):
    from latentforge.data import DataConfig, load_data

    with pytest.raises(DataError, match="needs a run directory"):
        load_data(DataConfig(source="codings:"))
    from latentforge.errors import RunError

    with pytest.raises(RunError):
        load_data(DataConfig(source=f"codings:{tmp_path}/missing"))
