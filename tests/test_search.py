"""Similarity search: nearest codings (euclidean, cosine, hamming hashes), class-retrieval
precision, and the `latentforge search` command."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import latentforge as lf
from conftest import assert_one_error_line, tiny_overrides
from latentforge.errors import DataError
from latentforge.evaluation.search import nearest, retrieval_precision, same_class_share


def test_nearest_euclidean_orders_by_distance():
    db = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0], [10.0, 0.0]])
    idx, dist = nearest(torch.tensor([[0.9, 0.0]]), db, k=3)
    assert idx.tolist() == [[2, 0, 1]]
    assert torch.allclose(dist, torch.tensor([[0.1, 0.9, (2.1 ** 2 + 16) ** 0.5]]))


def test_nearest_cosine_ignores_length():
    db = torch.tensor([[10.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    idx, dist = nearest(torch.tensor([[1.0, 0.01]]), db, k=2, metric="cosine")
    assert idx.tolist() == [[0, 2]] and dist[0, 0] < 1e-3


def test_nearest_hamming_counts_bits_of_rounded_codings():
    db = torch.tensor([[0.9, 0.1, 0.8], [0.2, 0.1, 0.7], [0.6, 0.4, 0.9], [0.1, 0.9, 0.1]])
    idx, dist = nearest(torch.tensor([[0.7, 0.2, 0.99]]), db, k=4, metric="hamming")
    assert idx.tolist() == [[0, 2, 1, 3]]  # ties (0 and 2: 0 bits) keep database order
    assert dist.tolist() == [[0.0, 0.0, 1.0, 3.0]]


def test_nearest_batches_agree():
    gen = torch.Generator().manual_seed(0)
    db, q = torch.randn(300, 6, generator=gen), torch.randn(50, 6, generator=gen)
    a, _ = nearest(q, db, 5, batch_size=7)
    b, _ = nearest(q, db, 5)
    assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"k": 0}, "k must be in"), ({"k": 5}, "k must be in"),
    ({"metric": "manhattan"}, "Unknown metric"),
])
def test_nearest_bad_input(kwargs, fragment):
    with pytest.raises(DataError, match=fragment):
        nearest(torch.zeros(1, 2), torch.zeros(4, 2), **{"k": 1, **kwargs})
    with pytest.raises(DataError, match="codings"):
        nearest(torch.zeros(1, 3), torch.zeros(4, 2), 1)


def test_same_class_share():
    share = same_class_share(torch.tensor([[1, 1, 2], [0, 0, 0]]), torch.tensor([1, 0]))
    assert share == pytest.approx(5 / 6)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "run"
    lf.train("stacked_ae", overrides=tiny_overrides(
        "stacked_ae", "model.hidden=[32,8]", "data.limit_train=300", "train.lr=0.5",
        epochs=10), run_dir=path)
    return lf.load_run(path)


def test_retrieval_beats_chance_on_digits(run):
    result = retrieval_precision(run, k=5, n_queries=40)
    assert result["n_queries"] == 40 and result["database"] == 300
    assert result["precision_at_k"] > 0.5  # 10 classes: chance is about 0.1


def test_cli_search_by_index_and_by_image(cli, run, tmp_path):
    code, out, _ = cli(["search", run.path, "--index", "3", "--k", "4", "--precision", "20",
                        "--out", tmp_path / "s.png", "-q"])
    assert code == 0 and out.count("\n") >= 7 and (tmp_path / "s.png").is_file()
    assert "same-class share of the 4 nearest over 20 test queries" in out
    img = (run.split("test").x[3, 0].numpy() * 16).clip(0, 255).astype(np.uint8)  # digits 0-16
    Image.fromarray(img).resize((32, 32)).save(tmp_path / "q.png")
    code, out, _ = cli(["search", run.path, "--query", tmp_path / "q.png", "--k", "3", "-q"])
    assert code == 0 and "q.png" in out


@pytest.mark.parametrize("argv,fragment", [
    (["--index", "999"], "--index must be in"),
    (["--query", "nope.png"], "does not exist"),
    (["--k", "100000"], "k must be in"),
    (["--out", "x.jpg"], "must end in .png"),
])
def test_cli_search_bad_input(cli, run, argv, fragment):
    code, _, err = cli(["search", run.path, *argv])
    assert code == 2
    assert_one_error_line(err, fragment)
