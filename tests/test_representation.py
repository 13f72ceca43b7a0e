"""Representation tools: 2-D maps, linear-probe / kNN accuracy, and unsupervised
pretraining of a few-label classifier (functions and their CLI commands)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import latentforge as lf
from conftest import assert_one_error_line, tiny_overrides
from latentforge.errors import ConfigError, DataError
from latentforge.evaluation.pretrain import (Classifier, PretrainSettings, accuracy, fit,
                                             fresh_encoder, make_head, pretrain_classifier,
                                             transfer_encoder)
from latentforge.evaluation.probes import knn_accuracy, linear_probe_accuracy, probe_run
from latentforge.viz.maps import embed_2d, latent_map_figure, spaced_indices


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A stacked_ae with 4-D codings trained 20 epochs on 300 digits (labels 0-9)."""
    path = tmp_path_factory.mktemp("rep") / "run"
    return lf.train("stacked_ae", overrides=tiny_overrides(
        "stacked_ae", "model.hidden=[32,4]", "data.limit_train=300", "data.limit_eval=120",
        "train.lr=0.5", epochs=20), run_dir=path)


def blobs(n=60, d=5, seed=0):
    """Two well-separated Gaussian blobs: (codes (n, d), labels (n,))."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, d)) + 6.0 * y[:, None], y


# ---------------------------------------------------------------- probes

def test_probes_read_separable_classes_perfectly():
    x, y = blobs()
    assert linear_probe_accuracy(x[:40], y[:40], x[40:], y[40:]) == 1.0
    assert knn_accuracy(x[:40], y[:40], x[40:], y[40:], k=3) == 1.0


def test_probes_are_at_chance_on_noise():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 4)), rng.integers(0, 2, 400)
    assert 0.3 < linear_probe_accuracy(x[:200], y[:200], x[200:], y[200:]) < 0.7
    assert 0.3 < knn_accuracy(x[:200], y[:200], x[200:], y[200:]) < 0.7


@pytest.mark.parametrize("bad,fragment", [
    (lambda x, y: (x[:, :2], y, x, y), "differ in size"),
    (lambda x, y: (x, y[:-1], x, y), "labels must have shape"),
    (lambda x, y: (np.where(x > 5, np.nan, x), y, x, y), "NaN"),
    (lambda x, y: (x, np.zeros_like(y), x, y), "single class"),
    (lambda x, y: (x[:0], y[:0], x, y), "non-empty"),
])
def test_probe_bad_input(bad, fragment):
    x, y = blobs()
    with pytest.raises(DataError, match=fragment):
        linear_probe_accuracy(*bad(x, y))


def test_knn_k_larger_than_train_set():
    x, y = blobs(10)
    with pytest.raises(DataError, match="larger than"):
        knn_accuracy(x, y, x, y, k=11)


def test_probe_run_beats_chance(run):
    result = probe_run(run, k=5)
    assert result["coding_dim"] == 4 and result["eval_split"] == "test"
    assert result["n_train"] == 300 and result["n_eval"] == 120
    assert result["linear_probe"] > 0.5 and result["knn"] > 0.5  # 10 classes: chance 0.1


# ---------------------------------------------------------------- maps

@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embed_2d_keeps_clusters_apart(method):
    x, y = blobs(40, 6)
    points = embed_2d(x, method)
    assert points.shape == (40, 2) and np.isfinite(points).all()
    assert knn_accuracy(points, y, points, y, k=1) == 1.0


def test_embed_2d_bad_input():
    x, _ = blobs(40)
    with pytest.raises(ConfigError, match="Unknown map method"):
        embed_2d(x, "lda")
    with pytest.raises(DataError, match="at least 4"):
        embed_2d(x[:3], "pca")
    with pytest.raises(DataError, match="D >= 2"):
        embed_2d(x[:, :1], "pca")


def test_umap_absent_is_an_actionable_error():
    pytest.importorskip("torch")
    try:
        import umap  # noqa: F401
        pytest.skip("umap-learn is installed")
    except ImportError:
        pass
    with pytest.raises(ConfigError, match="pip install umap-learn"):
        embed_2d(blobs(40)[0], "umap")


def test_spaced_indices_respect_min_distance():
    pts = np.random.default_rng(0).random((300, 2))
    picked = spaced_indices(pts, 0.1)
    chosen = pts[picked]
    d = np.sqrt(((chosen[:, None] - chosen[None]) ** 2).sum(-1))
    assert (d[~np.eye(len(picked), dtype=bool)] > 0.1).all()
    others = np.delete(pts, picked, axis=0)  # every skipped point is near a picked one
    assert (np.sqrt(((others[:, None] - chosen[None]) ** 2).sum(-1)).min(1) <= 0.1).all()


def test_latent_map_figure_has_thumbnails_and_legend():
    x, y = blobs(50)
    images = np.random.default_rng(0).random((50, 1, 8, 8))
    fig = latent_map_figure(embed_2d(x, "pca"), y, images, ["a", "b"])
    ax = fig.axes[0]
    assert len(ax.artists) >= 2  # one thumbnail per cluster at least
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


# ---------------------------------------------------------------- pretraining

def test_transferred_encoder_has_the_trained_weights(run):
    clone = transfer_encoder(run.model)
    for (name, a), b in zip(run.model.encoder.state_dict().items(),
                            clone.state_dict().values()):
        assert torch.equal(a, b), name
        assert a.data_ptr() != b.data_ptr()  # a copy: training it leaves the run alone


def test_frozen_encoder_stays_frozen_and_finetuning_moves_it(run):
    x = run.split("train").batch(torch.arange(64))
    y = run.split("train").y[:64]
    recipe = PretrainSettings(epochs=2, frozen_epochs=1)
    clf = Classifier(transfer_encoder(run.model), make_head(4, 10, 0, 0))
    before = {k: v.clone() for k, v in clf.encoder.state_dict().items()}
    clf.freeze(True)
    fit(clf, x, y, 2, 1e-2, recipe, torch.Generator().manual_seed(0))
    assert all(torch.equal(before[k], v) for k, v in clf.encoder.state_dict().items())
    clf.freeze(False)
    fit(clf, x, y, 1, 1e-2, recipe, torch.Generator().manual_seed(0))
    assert not all(torch.equal(before[k], v) for k, v in clf.encoder.state_dict().items())


def test_pretrained_features_beat_random_features_when_frozen(run):
    """The transfer is real: a head on the frozen trained encoder classifies better than the
    same head on a frozen random encoder of the same architecture (the book's clone_model
    re-initialised the encoder, which would make them equal in distribution)."""
    train, valid = run.split("train"), run.split("valid")
    x, y = train.batch(torch.arange(300)), train.y
    recipe = PretrainSettings(epochs=20, frozen_epochs=20, lr=1e-2)
    accs = {}
    for name, encoder in (("trained", transfer_encoder(run.model)),
                          ("random", fresh_encoder(run.config, train.sample_shape, 7)),
                          ("random2", fresh_encoder(run.config, train.sample_shape, 8))):
        clf = Classifier(encoder, make_head(4, 10, 0, seed=0))
        clf.freeze(True)
        fit(clf, x, y, recipe.epochs, recipe.lr, recipe, torch.Generator().manual_seed(0))
        accs[name] = accuracy(clf, valid, torch.device("cpu"))
    assert accs["trained"] > max(accs["random"], accs["random2"]) + 0.1, accs


def test_pretrain_classifier_table(run):
    result = pretrain_classifier(run, 100, PretrainSettings(epochs=3, frozen_epochs=1),
                                 seeds=[0, 1])
    assert result.coding_dim == 4 and result.n_eval == 120
    assert all(len(v) == 2 and all(0 <= a <= 1 for a in v) for v in result.accuracies.values())
    table = result.table()
    assert "from scratch" in table and "fine-tuned" in table and "points" in table
    assert json.loads(json.dumps(result.to_dict()))["n_labels"] == 100


@pytest.mark.parametrize("kwargs,error,fragment", [
    ({"n_labels": 0}, ConfigError, "--labels"),
    ({"n_labels": 10_000}, ConfigError, "--labels"),
    ({"settings": PretrainSettings(epochs=2, frozen_epochs=3)}, ConfigError, "frozen"),
    ({"seeds": []}, ConfigError, "seed"),
])
def test_pretrain_bad_input(run, kwargs, error, fragment):
    kwargs = {"n_labels": 50, **kwargs}
    with pytest.raises(error, match=fragment):
        pretrain_classifier(run, **kwargs)


# ---------------------------------------------------------------- CLI

def test_cli_map_probe_pretrain(cli, run, tmp_path):
    out = tmp_path / "m.png"
    code, stdout, _ = cli(["map", run.path, "--method", "pca", "--n", "50", "--out", out, "-q"])
    assert code == 0 and out.stat().st_size > 1000 and str(out) in stdout
    code, stdout, _ = cli(["probe", run.path, "--k", "3", "-q"])
    assert code == 0 and "kNN (k=3)" in stdout
    saved = json.loads((run.path / "probes.json").read_text())
    assert saved["k"] == 3 and 0 <= saved["linear_probe"] <= 1
    code, stdout, _ = cli(["pretrain-classifier", run.path, "--labels", "60", "--epochs", "2",
                           "--frozen-epochs", "1", "--seeds", "0", "-q"])
    assert code == 0 and "gain of the best pretrained variant" in stdout
    assert json.loads((run.path / "pretrain-60-valid.json").read_text())["seeds"] == [0]


@pytest.mark.parametrize("argv,fragments", [
    (["map", "--n", "2"], ["--n must be at least 4"]),
    (["map", "--out", "x.jpg", "--method", "pca"], ["--out must end in .png"]),
    (["probe", "--k", "0"], ["k must be a positive integer"]),
    (["probe", "--limit", "1"], ["--limit must be at least 2"]),
    (["pretrain-classifier", "--labels", "100000"], ["--labels must be in"]),
    (["pretrain-classifier", "--epochs", "2", "--frozen-epochs", "5"], ["frozen"]),
])
def test_cli_bad_input(cli, run, argv, fragments):
    code, _, err = cli([argv[0], run.path, *argv[1:]])
    assert code == 2
    assert_one_error_line(err, *fragments)


@pytest.mark.parametrize("name", ["conv_ae", "recurrent_ae", "tied_ae", "denoising_ae",
                                  "sparse_ae", "hashing_ae"])
def test_tools_work_for_every_autoencoder(name, tmp_path):
    run = lf.train(name, overrides=tiny_overrides(name, epochs=1), run_dir=tmp_path / name)
    run = lf.load_run(tmp_path / name)
    result = pretrain_classifier(run, 40, PretrainSettings(epochs=2, frozen_epochs=1), seeds=[0])
    assert result.coding_dim == run.model.coding_dim
    assert 0 <= result.mean("finetuned") <= 1
    assert 0 <= probe_run(run, k=3)["knn"] <= 1
