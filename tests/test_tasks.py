"""The use-case layer `latentforge.tasks`, called from Python alone: every task takes a
loaded run and plain arguments, returns plain results (dataclasses, arrays, paths) and
prints nothing."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import latentforge as lf
from conftest import tiny_overrides
from latentforge import tasks
from latentforge.errors import ConfigError, DataError, RunError


@pytest.fixture(scope="module")
def zeros(tmp_path_factory):
    """A stacked_ae with 8-D codings trained on digit 0 only (whole digits data)."""
    overrides = tiny_overrides("stacked_ae", "data.train_classes=[0]", "data.limit_train=null",
                               "data.limit_eval=null", "model.hidden=[32, 8]", epochs=40)
    run_dir = tmp_path_factory.mktemp("tasks") / "zeros"
    return lf.train("stacked_ae", "fast", overrides=overrides, run_dir=run_dir)


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tasks") / "vae"
    return lf.train("vae", overrides=tiny_overrides("vae"), run_dir=run_dir)


@pytest.fixture(scope="module")
def ae(tmp_path_factory):
    """A tiny stacked_ae trained on every digit class."""
    run_dir = tmp_path_factory.mktemp("tasks") / "ae"
    return lf.train("stacked_ae", overrides=tiny_overrides("stacked_ae"), run_dir=run_dir)


@pytest.fixture
def quiet(capsys):
    """Fails the test if a task printed anything."""
    yield
    out, _ = capsys.readouterr()
    assert out == ""


def _pngs(run, root, digits: dict) -> None:
    """root/<name>/<i>.png: the run's test images of each digit (8 per subfolder)."""
    test = run.data().test
    for name, digit in digits.items():
        (root / name).mkdir(parents=True)
        for i in torch.nonzero(test.y == digit).squeeze(1)[:8].tolist():
            Image.fromarray(test.x[i, 0].numpy()).save(root / name / f"{i}.png")


def test_evaluate_run_and_its_json(zeros, quiet):
    result = tasks.evaluate_run(zeros, ["valid", "test"])
    assert set(result.losses) == {"valid", "test"} and "loss" in result.losses["test"]
    assert result.likelihood is None and result.samples is None
    path = tasks.write_evaluation(zeros, result)
    assert json.loads(path.read_text()) == result.to_dict()
    with pytest.raises(ConfigError):
        tasks.evaluate_run(zeros, samples=-1)


def test_evaluate_vae_likelihood_and_skipped_sample_metrics(vae, quiet):
    result = tasks.evaluate_run(vae, ["valid"], samples=10, k=3)
    assert result.likelihood["k"] == 3 and result.likelihood["iwae_nll_nats"] > 0
    assert result.samples is None and "Fashion-MNIST" in result.samples_skipped
    assert tasks.evaluate_run(vae, [], samples=0, k=0).to_dict() == {}


def test_encode_split_and_files(zeros, tmp_path, quiet):
    codings = tasks.encode_split(zeros, "test")
    test = zeros.split("test")
    assert codings.codings.shape == (len(test), 8)
    np.testing.assert_array_equal(codings.labels, test.y.numpy())
    written = tasks.write_codings(codings, tmp_path / "c.npy")
    assert [p.name for p in written] == ["c.npy", "c.labels.npy"]
    np.testing.assert_array_equal(np.load(written[0]), codings.codings)


def test_score_a_folder_of_pngs_with_auroc(zeros, tmp_path, quiet):
    _pngs(zeros, tmp_path / "f", {"0": 0, "7": 7})
    result = tasks.score_anomalies(zeros, tmp_path / "f", percentile=95)
    assert result.score == "knn" and len(result.scores) == 16
    assert result.names[0].startswith("0/") and result.names[-1].startswith("7/")
    assert result.auroc > 0.9 and result.auroc_note is None  # sevens are the anomalies
    assert result.flagged.dtype == torch.bool and 0 < result.threshold
    csv = tasks.write_anomaly_csv(result, tmp_path / "a.csv").read_text().splitlines()
    assert csv[0] == "item,score,anomalous,label" and csv[-1].endswith(",7")
    assert tasks.anomaly_figure(result, tmp_path / "a.png", top=4).stat().st_size > 500


def test_score_other_classes_says_why_no_auroc(zeros, tmp_path, quiet):
    _pngs(zeros, tmp_path / "f", {"cats": 0, "dogs": 7})
    result = tasks.score_anomalies(zeros, tmp_path / "f")
    assert result.auroc is None and "not the run's classes" in result.auroc_note


def test_score_a_split_an_array_file_and_one_image(zeros, tmp_path, quiet):
    result = tasks.score_anomalies(zeros, score="reconstruction", contamination=0.1)
    assert result.items.same_source and 0.85 < result.auroc <= 1
    assert abs(float(result.flagged.float().mean()) - 0.1) < 0.02
    x = zeros.data().test.x[:20, 0].numpy()  # (20, 8, 8) uint8 images
    np.save(tmp_path / "items.npy", x)
    from_file = tasks.score_anomalies(zeros, tmp_path / "items.npy", split="all")
    assert len(from_file.scores) == 20 and from_file.items.labels is None
    Image.fromarray(x[0]).save(tmp_path / "one.png")
    one = tasks.score_anomalies(zeros, tmp_path / "one.png")
    assert one.names == ["one.png"] and torch.isfinite(one.scores).all()


def test_anomaly_scores_follow_capabilities(zeros, vae):
    from latentforge.evaluation.anomaly import default_score, usable_scores

    assert default_score(zeros.model) == "knn" and default_score(vae.model) == "elbo"
    assert usable_scores({"generate", "decode", "discriminate"}) == ("discriminator",)
    assert usable_scores(vae.model.capabilities()) == ("reconstruction", "knn", "elbo")
    with pytest.raises(ConfigError, match="cannot give the 'elbo' score"):
        tasks.score_anomalies(zeros, score="elbo")


def test_search_by_query_image_and_by_index(zeros, tmp_path, quiet):
    train = zeros.split("train")
    Image.fromarray(train.x[3, 0].numpy()).save(tmp_path / "q.png")
    by_image = tasks.search(zeros, query=tmp_path / "q.png", k=5)
    # itself, first; cdist's matmul form leaves ~1e-3 of rounding on a zero distance
    assert by_image.indices[0] == 3 and by_image.distances[0] < 1e-2
    assert by_image.query_name == str(tmp_path / "q.png") and by_image.images.shape[0] == 6
    by_index = tasks.search(zeros, index=2, split="test", k=4, distance="cosine",
                            precision=10)
    assert by_index.query_name == "test item 2" and len(by_index.classes) == 4
    assert by_index.precision["n_queries"] == 10 and by_index.precision["k"] == 4
    assert tasks.search_figure(by_index, tmp_path / "s.png").is_file()
    with pytest.raises(DataError, match="--index must be in"):
        tasks.search(zeros, index=10**6)
    with pytest.raises(RunError, match="binary hash codes"):
        tasks.search(zeros, distance="hamming")


def test_generate_and_interpolate(vae, tmp_path, quiet):
    images = tasks.generate(vae, 6, seed=1)
    assert images.shape == (6, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(images, tasks.generate(vae, 6, seed=1))
    with pytest.raises(ConfigError, match="--label needs a conditional model"):
        tasks.generate(vae, 2, label=0)
    assert tasks.samples_png(vae, images, tmp_path / "g.png").is_file()
    path = tasks.interpolate(vae, "slerp", steps=4, pairs=3)
    assert path.images.shape == (12, 1, 8, 8) and path.n_cols == 4
    assert tasks.interpolation_figure(vae, "grid", out=tmp_path / "i.png").is_file()


def test_probe_map_pretrain(ae, tmp_path, quiet):
    probe = tasks.probe(ae, limit=50, k=3)
    assert probe["k"] == 3 and probe["n_train"] == 50 and 0 <= probe["knn"] <= 1
    assert tasks.map_codings(ae, "pca", n=30, out=tmp_path / "m.png").is_file()
    from latentforge.tasks.representation import pretrain_settings

    result = tasks.pretrain(ae, labels=20, settings=pretrain_settings(2, 1), seeds=[0])
    assert 0 <= result.mean("finetuned") <= 1
    assert tasks.write_pretrain(ae, result, 20, "valid", tmp_path / "p.json").is_file()


def test_greedy_and_one_class(tmp_path, quiet):
    digits = ["data.source=\"digits\"", "data.limit_train=96", "data.limit_eval=40",
              "train.batch_size=16"]
    result = tasks.greedy(tmp_path, "g", (16, 4), 1, 1, overrides=digits, progress=False)
    assert list(result.summary) == ["phase1", "phase2", "stack"]
    assert result.root == tmp_path / "g" and (result.root / "stack").is_dir()
    lines = []
    oc = tasks.one_class("stacked_ae", "fast", 1, [0], [0], ["knn"], 3,
                         [*digits, "model.hidden=[16,4]"], tmp_path / "oc", lines.append)
    assert set(oc["auroc"]) == {"knn", "pixel_knn"} and len(lines) == 1
    results, table = tasks.write_one_class(oc, tmp_path / "oc")
    assert json.loads(results.read_text()) == json.loads(json.dumps(oc))
    assert "| class |" in table.read_text()
