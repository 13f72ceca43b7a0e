"""Anomaly detection: scores, thresholds, AUROC, one-class data, the one-class protocol, and
the `latentforge anomalies` / `benchmark one-class` commands (tiny digits runs)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import latentforge as lf
from conftest import assert_one_error_line, make_tiny_cfg, tiny_overrides
from latentforge.api import build_model
from latentforge.errors import ConfigError, DataError
from latentforge.evaluation import anomaly
from latentforge.evaluation.one_class import auroc_rows, run_protocol


def test_contamination_threshold_flags_that_share():
    scores = torch.arange(100, dtype=torch.float32)
    threshold = anomaly.contamination_threshold(scores, 0.1)
    assert int((scores > threshold).sum()) == 10


def test_percentile_threshold_of_reference_scores():
    assert anomaly.percentile_threshold(torch.arange(101.0), 90) == pytest.approx(90.0)


@pytest.mark.parametrize("call", [lambda s: anomaly.contamination_threshold(s, 0.0),
                                  lambda s: anomaly.contamination_threshold(s, 1.5),
                                  lambda s: anomaly.percentile_threshold(s, 100)])
def test_threshold_rejects_out_of_range(call):
    with pytest.raises(DataError):
        call(torch.arange(10.0))


def test_auroc_perfect_inverted_and_one_sided():
    labels = np.array([0, 0, 1, 1], dtype=bool)
    assert anomaly.auroc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert anomaly.auroc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    with pytest.raises(DataError, match="both"):
        anomaly.auroc(np.array([0.1, 0.2]), np.array([True, True]))


def test_knn_distance_is_mean_of_nearest():
    reference = torch.tensor([[0.0], [1.0], [10.0]])
    d = anomaly.knn_distance(torch.tensor([[0.0], [20.0]]), reference, k=2)
    assert torch.allclose(d, torch.tensor([0.5, 14.5]))


def test_reconstruction_error_is_per_item_mse():
    model = build_model(make_tiny_cfg("stacked_ae"), (1, 8, 8)).eval()
    x = torch.rand(5, 1, 8, 8)
    expected = ((model.reconstruct(x) - x) ** 2).flatten(1).mean(1)
    assert torch.allclose(anomaly.reconstruction_error(model, x, batch_size=2), expected)


def test_vae_elbo_score_is_negative_elbo():
    from latentforge.evaluation.likelihood import elbo_nats

    model = build_model(make_tiny_cfg("vae"), (1, 8, 8)).eval()
    x = torch.rand(4, 1, 8, 8)
    got = anomaly.anomaly_scores(model, x, "elbo")
    want = -elbo_nats(model, x, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(got, want) and (got > 0).all()


def test_gan_discriminator_score_is_minus_logit():
    model = build_model(make_tiny_cfg("gan"), (1, 8, 8))
    x = torch.rand(6, 1, 8, 8)
    got = anomaly.anomaly_scores(model, x, "discriminator")
    prob_real = model.discriminate(x)
    assert torch.allclose(torch.sigmoid(-got), prob_real, atol=1e-6)
    assert model.training  # the score left the model's mode as it was


@pytest.mark.parametrize("name,score", [("gan", "elbo"), ("gan", "knn"),
                                        ("stacked_ae", "elbo"), ("stacked_ae", "typo")])
def test_unusable_scores_are_refused(name, score):
    model = build_model(make_tiny_cfg(name), (1, 8, 8))
    with pytest.raises(ConfigError):
        anomaly.check_score(model, score)


def test_train_classes_keep_train_and_valid_only():
    from latentforge.data import load_data

    cfg = make_tiny_cfg("stacked_ae", "data.train_classes=[2, 5]")
    cfg.data.limit_train = cfg.data.limit_eval = None
    splits = load_data(cfg.data)
    assert set(splits.train.y.tolist()) == {2, 5} == set(splits.valid.y.tolist())
    assert len(set(splits.test.y.tolist())) == 10


@pytest.fixture(scope="module")
def one_class_run(tmp_path_factory):
    """A stacked_ae trained on digit 0 only (whole digits data, 40 epochs, ~1 s)."""
    overrides = tiny_overrides("stacked_ae", "data.train_classes=[0]", "data.limit_train=null",
                               "data.limit_eval=null", "model.hidden=[32, 8]", epochs=40)
    run_dir = tmp_path_factory.mktemp("oc") / "zeros"
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        lf.train("stacked_ae", "fast", overrides=overrides, run_dir=run_dir)
    return run_dir


def test_anomalies_command_scores_test_split(one_class_run, cli):
    code, out, err = cli(["anomalies", str(one_class_run)])
    assert code == 0, err
    lines = (one_class_run / "anomalies.csv").read_text().splitlines()
    assert lines[0] == "item,score,anomalous,label" and len(lines) == 1 + 180
    rows = [line.split(",") for line in lines[1:]]
    auroc = anomaly.auroc(np.array([float(r[1]) for r in rows]),
                          np.array([r[3] != "0" for r in rows]))
    assert auroc > 0.9  # digit 0 against the other nine digits (knn, tiny run: 0.95)
    assert f"AUROC of 'not class [0]': {auroc:.4f}" in out
    # knn is the autoencoders' default: the one-class benchmark measured it better
    assert "scored by knn" in out and (one_class_run / "figures" / "anomalies.png").is_file()


def test_anomalies_contamination_flags_that_share(one_class_run, cli, tmp_path):
    csv = tmp_path / "s.csv"
    code, out, err = cli(["anomalies", str(one_class_run), "--score", "knn",
                          "--contamination", "0.1", "--out", str(csv)])
    assert code == 0, err
    flagged = [line.split(",")[2] for line in csv.read_text().splitlines()[1:]]
    assert flagged.count("1") == 18 and "knn" in out


def test_anomalies_of_an_image_folder_by_file_name(one_class_run, cli, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / name)
    csv = tmp_path / "folder.csv"
    code, out, err = cli(["anomalies", str(one_class_run), "--data", str(folder),
                          "--out", str(csv), "--top", "2"])
    assert code == 0, err
    names = [line.split(",")[0] for line in csv.read_text().splitlines()[1:]]
    assert names == ["a.png", "b.png", "c.png"] and "3 items scored" in out


def _class_folder(root, run_dir, subfolders: dict) -> None:
    """root/<name>/*.png: the run's test images of each digit, one subfolder per name."""
    test = lf.load_run(run_dir).data().test
    for name, digit in subfolders.items():
        (root / name).mkdir(parents=True)
        for i in torch.nonzero(test.y == digit).squeeze(1)[:8].tolist():
            Image.fromarray(test.x[i, 0].numpy()).save(root / name / f"{i}.png")


def test_labelled_folder_named_after_the_run_classes_gets_an_auroc(one_class_run, cli,
                                                                    tmp_path):
    _class_folder(tmp_path / "f", one_class_run, {"0": 0, "7": 7})
    csv = tmp_path / "f.csv"
    code, out, err = cli(["anomalies", str(one_class_run), "--data", str(tmp_path / "f"),
                          "--out", str(csv)])
    assert code == 0, err
    assert "AUROC of 'not class [0]': " in out
    labels = [line.split(",")[3] for line in csv.read_text().splitlines()[1:]]
    assert labels == ["0"] * 8 + ["7"] * 8  # class names, not the folder's index (0, 1)


def test_labelled_folder_of_other_classes_says_why_no_auroc(one_class_run, cli, tmp_path):
    _class_folder(tmp_path / "f", one_class_run, {"cats": 0, "dogs": 7})
    csv = tmp_path / "f.csv"
    code, out, err = cli(["anomalies", str(one_class_run), "--data", str(tmp_path / "f"),
                          "--out", str(csv)])
    assert code == 0, err
    assert "no AUROC: the items' classes ['cats', 'dogs'] are not the run's classes" in out
    assert csv.read_text().splitlines()[1].endswith(",cats")


@pytest.mark.parametrize("argv,fragment", [
    (["--score", "elbo"], "cannot give the 'elbo' score"),
    (["--contamination", "1.5"], "contamination rate"),
    (["--out", "x.txt"], "must end in .csv"),
    (["--data", "digits", "--split", "all", "--k", "0"], "--k"),
])
def test_anomalies_bad_input_is_one_error_line(one_class_run, cli, argv, fragment):
    code, _, err = cli(["anomalies", str(one_class_run), *argv])
    assert code == 2
    assert_one_error_line(err, fragment)


def test_one_class_protocol_on_digits(tmp_path):
    overrides = [o for o in tiny_overrides("stacked_ae", epochs=30)
                 if not o.startswith("data.limit")] + ["model.hidden=[32, 8]"]
    result = run_protocol("stacked_ae", "fast", classes=[0, 1], seeds=[0, 1],
                          scores=("knn", "reconstruction"), overrides=overrides,
                          runs_dir=tmp_path)
    table = result["auroc"]
    assert set(table) == {"knn", "reconstruction", "pixel_knn"}
    assert all(len(table["knn"][c]) == 2 and len(table["pixel_knn"][c]) == 1 for c in (0, 1))
    assert np.mean(table["reconstruction"][0]) > 0.95 and table["pixel_knn"][0][0] > 0.95
    rows = auroc_rows(result)
    assert [r[0] for r in rows] == ["0 0", "1 1", "mean"] and "+-" in rows[-1][1]
    json.dumps(result)  # the CLI writes it as results.json
    assert (tmp_path / "class1-seed1" / "model.safetensors").is_file()


def test_benchmark_refuses_unusable_score_before_training(cli, tmp_path):
    code, _, err = cli(["benchmark", "one-class", "--model", "gan", "--set",
                        "data.source=digits", "--out", str(tmp_path / "oc")])
    assert code == 2
    assert_one_error_line(err, "cannot give the 'knn' score")
    assert not (tmp_path / "oc").exists()


def test_benchmark_needs_labels(cli, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).integers(0, 255, (40, 1, 8, 8), dtype=np.uint8))
    code, _, err = cli(["benchmark", "one-class", "--model", "stacked_ae", "--set",
                        f"data.source={path}", "--out", str(tmp_path / "oc")])
    assert code == 2
    assert_one_error_line(err, "needs labelled train and test splits")


@pytest.mark.parametrize("value,fragment", [
    ("[]", "non-empty list of class labels"), ("[20]", "are not labels of 'digits'"),
    ("[-1]", "non-empty list of class labels"), ("3", "should be list[int]")])
def test_bad_train_classes_are_one_error_line(cli, in_tmp, value, fragment):
    code, _, err = cli(["train", "stacked_ae", "--data", "digits", "--epochs", "1",
                        "--set", f"data.train_classes={value}", "--no-progress"])
    assert code == 2
    assert_one_error_line(err, fragment)
    assert not (in_tmp / "runs" / "stacked_ae-book").exists()  # nothing written
