"""Latent vector arithmetic (`latentforge arithmetic`, tasks/arithmetic.py): the expression
parser, group means against hand computations (a VAE's encoded test items, a conditional
DCGAN's labelled samples, an unconditional GAN's classified samples), the too-few-members
error, the figure and the command's exit codes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import latentforge as lf
from conftest import assert_one_error_line, tiny_overrides
from latentforge.data import FASHION_CLASSES
from latentforge.errors import ConfigError, DataError
from latentforge.generation.arithmetic import (Term, combine, expression_text, group_means,
                                               neighbours, parse_terms, split_expression)
from latentforge.tasks.arithmetic import N_RESULTS, N_SHOWN, latent_arithmetic

EXPR = ["7", "-", "1", "+", "3"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs on 8x8 digits (300 test items): a VAE, a conditional DCGAN, a GAN."""
    root = tmp_path_factory.mktemp("arith")
    specs = {"vae": ("vae", []), "cdcgan": ("dcgan", ["model.conditional=true"]),
             "gan": ("gan", [])}
    for key, (name, extra) in specs.items():
        lf.train(name, overrides=tiny_overrides(name, "data.limit_eval=300", *extra, epochs=1),
                 run_dir=root / key)
    return {key: root / key for key in specs}


# ------------------------------------------------------------------ the expression

def test_names_indices_and_multi_word_names():
    terms = parse_terms(["sneaker", "-", "ankle boot", "+", "5"], FASHION_CLASSES)
    assert terms == [Term(1, 7, "Sneaker"), Term(-1, 9, "Ankle boot"), Term(1, 5, "Sandal")]
    assert expression_text(terms) == "Sneaker - Ankle boot + Sandal"
    # unquoted words join; punctuation and case are ignored; a unique prefix is enough
    assert parse_terms(["Sneaker", "-", "ankle", "boot"], FASHION_CLASSES)[1].index == 9
    assert parse_terms(["ANKLE-BOOT"], FASHION_CLASSES)[0].index == 9
    assert parse_terms(["t-shirt", "+", "trou"], FASHION_CLASSES)[0].index == 0
    assert split_expression(["-", "bag", "+", "coat"]) == [(-1, "bag"), (1, "coat")]
    assert expression_text(parse_terms(["-", "bag"], FASHION_CLASSES)) == "-Bag"


@pytest.mark.parametrize("tokens,fragment", [
    (["bag", "-", "-", "coat"], "Expected a class name before '-'"),
    (["bag", "+"], "must end in a class name"),
    ([], "must end in a class name"),
    (["boots"], "'boots' is not a class"),
    (["s"], "matches several classes"),
    (["10"], "out of range [0, 9]"),
])
def test_bad_expressions(tokens, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        parse_terms(tokens, FASHION_CLASSES)


def test_group_means_combine_and_neighbours_by_hand():
    codes = torch.arange(24, dtype=torch.float32).reshape(12, 2)
    labels = torch.tensor([0, 1, 2] * 4)
    terms = [Term(1, 2, "c"), Term(-1, 0, "a"), Term(1, 1, "b")]
    means = group_means(codes, labels, terms, min_members=4)
    assert torch.equal(means[0], codes[2::3].mean(0)) and torch.equal(means[1], codes[::3].mean(0))
    assert torch.equal(combine(means, terms), means[0] - means[1] + means[2])
    with pytest.raises(DataError, match="Only 4 of 12 codings are of class 'c'"):
        group_means(codes, labels, terms, min_members=5)
    points = neighbours(torch.zeros(2), torch.tensor([1.0, 0.0]), 9, seed=3)
    assert points.shape == (9, 2) and torch.equal(points[0], torch.zeros(2))
    assert (points[1:, 0] != 0).all() and (points[1:, 1] == 0).all()
    assert torch.equal(points, neighbours(torch.zeros(2), torch.tensor([1.0, 0.0]), 9, seed=3))


# ------------------------------------------------------------------ against hand computations

def test_vae_arithmetic_decodes_the_hand_computed_mean_sum(runs):
    run = lf.load_run(runs["vae"])
    result = latent_arithmetic(run, EXPR, n=250, seed=1)
    data = run.split("test")
    idx = data.sample_indices(250, 1)
    x, y = data.batch(idx), data.y[idx]
    with torch.no_grad():
        z = run.model.encode(x)
        means = [z[y == k].mean(0) for k in (7, 1, 3)]
        expected = run.model.decode((means[0] - means[1] + means[2])[None])[0]
        decoded_means = run.model.decode(torch.stack(means))
    assert result.expression == "7 - 1 + 3" and result.space == "codings"
    assert result.counts == [int((y == k).sum()) for k in (7, 1, 3)]
    assert torch.allclose(torch.from_numpy(result.results[0]), expected, atol=1e-5)
    assert torch.allclose(torch.from_numpy(result.means), decoded_means, atol=1e-5)
    assert result.results.shape == (N_RESULTS, 1, 8, 8)
    assert not torch.allclose(torch.from_numpy(result.results[1]), expected, atol=1e-3)
    members = result.members  # the first members of each group, in split order
    assert members.shape == (3, N_SHOWN, 1, 8, 8)
    assert torch.equal(torch.from_numpy(members[1]), x[y == 1][:N_SHOWN])


def test_conditional_gan_groups_by_generation_label(runs):
    run = lf.load_run(runs["cdcgan"])
    result = latent_arithmetic(run, EXPR, n=100, seed=2)
    assert result.counts == [10, 10, 10] and result.space == "z"
    z = torch.randn(100, run.model.coding_dim, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(100) % 10
    combo = z[labels == 7].mean(0) - z[labels == 1].mean(0) + z[labels == 3].mean(0)
    with torch.no_grad():
        expected = run.model.decode(combo[None], torch.tensor([7]))[0]  # first term's class
        as_three = run.model.decode(combo[None], torch.tensor([3]))[0]
    assert torch.allclose(torch.from_numpy(result.results[0]), expected, atol=1e-5)
    relabelled = latent_arithmetic(run, EXPR, n=100, seed=2, label=3)
    assert torch.allclose(torch.from_numpy(relabelled.results[0]), as_three, atol=1e-5)


class Brightness(nn.Module):
    """A stand-in classifier: class k = the k-th tenth of the mean pixel value."""

    def forward(self, x):
        centres = (torch.arange(10, dtype=torch.float32) + 0.5) / 10
        return -(x.flatten(1).mean(1, keepdim=True) - centres) ** 2


def test_unconditional_gan_groups_by_the_classifier(runs):
    run = lf.load_run(runs["gan"])
    net = Brightness()
    with torch.no_grad():
        z = torch.randn(400, run.model.coding_dim, generator=torch.Generator().manual_seed(0))
        labels = net(run.model.decode(z)).argmax(1)
    top = torch.bincount(labels, minlength=10).argsort(descending=True)[:2].tolist()
    a, b = top
    result = latent_arithmetic(run, [str(a), "-", str(b)], n=400, net=net)
    with torch.no_grad():
        expected = run.model.decode((z[labels == a].mean(0) - z[labels == b].mean(0))[None])
    assert result.grouping == "samples classified by the feature network"
    assert result.counts == [int((labels == a).sum()), int((labels == b).sum())]
    assert torch.allclose(torch.from_numpy(result.results[0]), expected[0], atol=1e-5)


def test_a_feature_network_file_names_the_classes(runs, tmp_path):
    from latentforge.evaluation.featurenet import (FeatureCNN, load_feature_net,
                                                   save_feature_net)

    torch.manual_seed(0)
    names = [f"kind {k}" for k in range(10)]
    save_feature_net(FeatureCNN(input_shape=(1, 8, 8)), tmp_path / "f.safetensors",
                     {"classes": names})
    run = lf.load_run(runs["gan"])
    net = load_feature_net(tmp_path / "f.safetensors")
    with torch.no_grad():
        z = torch.randn(300, run.model.coding_dim, generator=torch.Generator().manual_seed(0))
        labels = net(run.model.decode(z)).argmax(1)
    a = int(torch.bincount(labels, minlength=10).argmax())  # an untrained net: one class
    result = latent_arithmetic(run, [f"kind {a}"], n=300, net=tmp_path / "f.safetensors")
    assert result.expression == f"kind {a}" and result.counts == [int((labels == a).sum())]
    with torch.no_grad():
        expected = run.model.decode(z[labels == a].mean(0)[None])[0]
    assert torch.allclose(torch.from_numpy(result.results[0]), expected, atol=1e-5)
    save_feature_net(FeatureCNN(input_shape=(1, 16, 16)), tmp_path / "g.safetensors", {})
    with pytest.raises(DataError, match=r"takes \(1, 16, 16\) images and .* makes "
                                        r"\(1, 8, 8\) images"):
        latent_arithmetic(run, ["1"], n=300, net=tmp_path / "g.safetensors")


def test_the_shipped_classifier_takes_fashion_mnist_shaped_samples():
    from latentforge.api import Run, build_model
    from latentforge.config import build_config

    cfg = build_config("gan", "book")  # untrained: the classifier sees noise, one class
    run = Run(None, cfg, build_model(cfg, (1, 28, 28)))
    with pytest.raises(DataError, match="Only 0 of 200 samples classified by the feature "
                                        "network are of class"):
        latent_arithmetic(run, ["sneaker", "-", "ankle boot", "+", "sandal"], n=200)


def test_figure_has_a_row_per_group_and_the_result_grid(runs):
    from latentforge.viz.arithmetic import arithmetic_figure

    result = latent_arithmetic(lf.load_run(runs["vae"]), EXPR, n=250)
    fig = arithmetic_figure(result.members, result.means, result.results, ["a", "b", "c"],
                            result.expression)
    assert len(fig.axes) == 3 * (N_SHOWN + 1) + N_RESULTS
    assert fig._suptitle.get_text() == "7 - 1 + 3"


# ------------------------------------------------------------------ the command

def test_cli_writes_the_figure(cli, runs, tmp_path):
    out = tmp_path / "a.png"
    code, stdout, _ = cli(["arithmetic", runs["vae"], "7", "-", "1", "+", "3", "--n", "250",
                           "--out", out, "-q"])
    assert code == 0 and out.stat().st_size > 1000
    assert "7 - 1 + 3 in codings space" in stdout and f"wrote {out}" in stdout


@pytest.mark.parametrize("key,argv,fragments", [
    ("vae", ["7", "-", "1", "--n", "20"], ["Only", "test items are of class", "at least 5"]),
    ("vae", ["seven", "-", "1"], ["'seven' is not a class", "0, 1, 2"]),
    ("vae", ["7", "-", "-", "1"], ["Expected a class name before '-'"]),
    ("vae", ["7", "--label", "1"], ["--label needs a conditional model"]),
    ("vae", ["7", "--out", "x.jpg"], ["must end in .png"]),
    ("cdcgan", ["7", "--label", "10"], ["--label must be in [0, 9]"]),
    ("gan", ["7", "-", "1"], ["shipped Fashion-MNIST classifier", "(1, 8, 8)",
                              "--feature-net FILE", "model.conditional=true"]),
    ("gan", ["7", "--feature-net", "missing.safetensors"], ["No feature-network weights"]),
])
def test_cli_bad_input_is_one_error_line(cli, runs, key, argv, fragments):
    code, _, err = cli(["arithmetic", runs[key], *argv])
    assert code == 2
    assert_one_error_line(err, *fragments)
