"""The exercise-9 figure (`latentforge top-activations`, tasks/top_activations.py): the
units shown are the most variable ones, each with the items of largest activation, checked
against a hand computation on the codings; the figure and the command's exit codes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import latentforge as lf
from conftest import assert_one_error_line, tiny_overrides
from latentforge.tasks.top_activations import most_variable_units, top_activations


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs on 8x8 digits: a stacked autoencoder, a VAE and a GAN."""
    root = tmp_path_factory.mktemp("top")
    for name in ("stacked_ae", "vae", "gan"):
        lf.train(name, overrides=tiny_overrides(name, epochs=1), run_dir=root / name)
    return {name: root / name for name in ("stacked_ae", "vae", "gan")}


def test_most_variable_units_by_hand():
    codes = torch.tensor([[0.0, 5.0, 1.0, 1.0], [0.0, -5.0, 2.0, -1.0]])
    # variances 0, 25, 0.25, 1; ties would go to the lower index
    assert most_variable_units(codes, 3).tolist() == [1, 3, 2]
    assert most_variable_units(codes, 9).tolist() == [1, 3, 2, 0]
    assert most_variable_units(torch.ones(3, 3), 2).tolist() == [0, 1]


@pytest.mark.parametrize("name", ["stacked_ae", "vae"])
def test_top_items_are_the_argmax_of_the_codings(runs, name):
    run = lf.load_run(runs[name])
    result = top_activations(run, units=3, per_unit=4, n=None)
    data = run.split("train")
    with torch.no_grad():
        codes = run.model.encode(data.batch(torch.arange(len(data)))).flatten(1)
    variance = codes.var(0, unbiased=False)
    units = result.units.tolist()
    assert len(units) == min(3, codes.shape[1])
    assert variance[units[0]] == variance.max()
    for k, unit in enumerate(units):
        order = torch.argsort(codes[:, unit], descending=True, stable=True)[:4]
        assert result.indices[k].tolist() == order.tolist()
        assert np.allclose(result.values[k], codes[order, unit].numpy(), atol=1e-6)
        assert int(codes[:, unit].argmax()) == result.indices[k][0]
        assert np.array_equal(result.images[k], data.batch(order).numpy())


def test_a_seeded_sample_reports_split_indices(runs):
    run = lf.load_run(runs["stacked_ae"])
    result = top_activations(run, units=2, per_unit=3, n=50, seed=4)
    data = run.split("train")
    idx = data.sample_indices(50, 4)
    with torch.no_grad():
        codes = run.model.encode(data.batch(idx))
    unit = int(result.units[0])
    assert result.indices[0][0] == int(idx[codes[:, unit].argmax()]) and result.n_items == 50


def test_figure_has_a_row_per_unit(runs):
    from latentforge.viz.top_activations import top_activations_figure

    result = top_activations(lf.load_run(runs["stacked_ae"]), units=2, per_unit=5)
    fig = top_activations_figure(result.images, result.units, result.values, "t")
    assert len(fig.axes) == 10
    assert fig.axes[0].get_title() == f"{result.values[0, 0]:.3g}"
    assert fig.axes[5].texts[0].get_text() == f"unit {int(result.units[1])}"


def test_cli_writes_the_figure(cli, runs, tmp_path):
    out = tmp_path / "top.png"
    code, stdout, _ = cli(["top-activations", runs["stacked_ae"], "--units", "2",
                           "--per-unit", "3", "--n", "0", "--out", out, "-q"])
    assert code == 0 and out.stat().st_size > 1000
    assert stdout.count("unit ") == 2 and f"wrote {out}" in stdout


@pytest.mark.parametrize("key,argv,fragments", [
    ("gan", [], ["needs a model with an encoder", "stacked_ae"]),
    ("stacked_ae", ["--units", "0"], ["--units and --per-unit must be at least 1"]),
    ("stacked_ae", ["--per-unit", "500"], ["--per-unit 500 is more than the 96 items"]),
    ("stacked_ae", ["--n", "-3"], ["--n must be at least 1"]),
    ("stacked_ae", ["--out", "x.svg"], ["must end in .png"]),
])
def test_cli_bad_input_is_one_error_line(cli, runs, key, argv, fragments):
    code, _, err = cli(["top-activations", runs[key], *argv])
    assert code == 2
    assert_one_error_line(err, *fragments)
