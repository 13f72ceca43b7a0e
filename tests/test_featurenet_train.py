"""`latentforge featurenet train` on any labelled images, and the sample metrics of
`evaluate` on that network (`--feature-net`), its shape check, the skip note without one,
and `--inception` without torch-fidelity or its weights (offline, nothing downloaded).

The data: a tiny colour .npz (3x16x16, 4 classes): a coloured square whose colour and
quadrant name the class, on dim noise, so 2 epochs learn it."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch

import latentforge as lf
from conftest import assert_one_error_line, tiny_overrides
from latentforge.data import DataConfig, load_data
from latentforge.errors import DataError
from latentforge.evaluation import featurenet as fn
from latentforge.evaluation import inception
from latentforge.evaluation.featurenet_training import data_sha256

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)


def squares(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, 16, 16) uint8 images, labels y = i % 4: class c is a 6x6 square of colour c
    in quadrant c, on noise in [0, 60)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    x = (rng.random((n, 3, 16, 16)) * 60).astype(np.uint8)
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, :, r * 8 + 1:r * 8 + 7, col * 8 + 1:col * 8 + 7] = COLOURS[c][:, None, None]
    return x, y


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("featurenet")
    x, y = squares()
    np.savez(root / "squares.npz", x=x, y=y)
    np.savez(root / "unlabelled.npz", x=x)
    return root


def _train(argv: list[str]) -> int:
    from latentforge.cli import main

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return main([str(a) for a in argv])
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def net_file(data):
    """A network trained by the CLI: 2 epochs at batch 16 (22 steps)."""
    out = data / "net.safetensors"
    code = _train(["featurenet", "train", "--data", data / "squares.npz", "--out", out,
                   "--epochs", "2", "--batch-size", "16", "-q"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def gan_run(data):
    """A tiny dcgan trained on the same squares (1 epoch)."""
    overrides = tiny_overrides("dcgan", f"data.source={data / 'squares.npz'}", epochs=1)
    lf.train("dcgan", overrides=overrides, run_dir=data / "dcgan")
    return data / "dcgan"


def test_train_writes_the_network_with_its_training_facts(net_file, data):
    meta = fn.read_metadata(net_file)
    assert meta["input_shape"] == [3, 16, 16] and meta["n_classes"] == 4
    assert meta["source"] == str(data / "squares.npz")
    assert meta["data_config"]["source"] == meta["source"]
    assert meta["seed"] == 0 and meta["epochs"] == 2 and meta["flip"] is False
    assert meta["classes"] is None  # an .npz names no classes
    splits = load_data(DataConfig(source=str(data / "squares.npz")))
    assert meta["data_sha256"] == data_sha256(splits)
    assert meta["test_accuracy"] >= 0.75  # chance is 0.25
    net = fn.load_feature_net(net_file)
    assert net.input_shape == (3, 16, 16) and net.path == str(net_file)
    accuracy = (fn.predict_classes(net, splits.test.x) == splits.test.y).float().mean()
    assert round(float(accuracy), 4) == meta["test_accuracy"]


def test_same_seed_same_weights(net_file, data):
    from safetensors.torch import load_file

    again = data / "again.safetensors"
    assert _train(["featurenet", "train", "--data", data / "squares.npz", "--out", again,
                   "--epochs", "2", "--batch-size", "16", "-q"]) == 0
    wa, wb = load_file(str(net_file)), load_file(str(again))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_class_names_of_a_named_source_are_kept(cli, tmp_path):
    out = tmp_path / "digits.safetensors"
    code, stdout, _ = cli(["featurenet", "train", "--data", "digits", "--out", out,
                           "--epochs", "1", "--set", "data.limit_train=200", "-q"])
    assert code == 0 and f"wrote {out}" in stdout and "epoch 1/1" in stdout
    meta = fn.read_metadata(out)
    assert meta["input_shape"] == [1, 8, 8] and meta["n_classes"] == 10
    assert meta["classes"] == load_data(DataConfig(source="digits")).train.classes
    assert meta["data_config"]["limit_train"] == 200 and meta["train_size"] == 200


def test_unlabelled_data_is_one_error_line(cli, data, tmp_path):
    code, _, err = cli(["featurenet", "train", "--data", data / "unlabelled.npz",
                        "--out", tmp_path / "x.safetensors", "-q"])
    assert code == 2
    assert_one_error_line(err, "no class labels")
    assert not (tmp_path / "x.safetensors").exists()


def test_only_data_overrides(cli, data, tmp_path):
    code, _, err = cli(["featurenet", "train", "--data", data / "squares.npz",
                        "--set", "train.epochs=3", "--out", tmp_path / "x.safetensors"])
    assert code == 2
    assert_one_error_line(err, "data.KEY=VALUE")


def test_evaluate_with_the_feature_net(cli, gan_run, net_file):
    code, out, err = cli(["evaluate", gan_run, "--samples", "64", "--feature-net",
                          net_file, "-q"])
    assert code == 0, err
    assert f"feature network {net_file}" in out
    samples = json.loads((gan_run / "evaluation.json").read_text())["samples"]
    for key in ("fid", "kid_mean", "kid_std", "precision", "recall", "class_entropy"):
        assert math.isfinite(samples[key]), key
    assert len(samples["class_shares"]) == 4 and 1 <= samples["classes_covered"] <= 4
    assert math.isclose(sum(samples["class_shares"]), 1.0)
    assert samples["n_samples"] == 64 and samples["feature_net"] == str(net_file)


def test_evaluate_without_a_network_skips_with_how_to_make_one(cli, gan_run):
    code, out, err = cli(["evaluate", gan_run, "--samples", "64", "-q"])
    assert code == 0, err
    skipped = [line for line in out.splitlines() if "sample metrics skipped" in line]
    assert len(skipped) == 1 and "latentforge featurenet train --data SRC" in skipped[0]
    assert "(3, 16, 16)" in skipped[0]
    assert "samples" not in json.loads((gan_run / "evaluation.json").read_text())


def test_network_of_another_shape_is_one_error_line(cli, gan_run):
    code, out, err = cli(["evaluate", gan_run, "--samples", "64", "--feature-net",
                          fn.default_path(), "-q"])
    assert code == 2 and out == ""  # refused before anything is measured
    assert_one_error_line(err, "(1, 28, 28)", "(3, 16, 16)", "featurenet train")


def test_evaluate_samples_checks_the_network_shape(net_file):
    net = fn.load_feature_net(net_file)
    with pytest.raises(DataError, match=r"\(3, 16, 16\)"):
        from latentforge.evaluation.generative import evaluate_samples

        evaluate_samples(torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28), net=net)


@pytest.fixture
def no_torch_hub(tmp_path, monkeypatch):
    """An empty torch hub folder, and any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_inception_without_package_or_weights_is_one_error_line(cli, gan_run, no_torch_hub):
    code, out, err = cli(["evaluate", gan_run, "--samples", "64", "--inception", "-q"])
    assert code == 2 and out == ""
    line = assert_one_error_line(err, inception.WEIGHTS_FILE, inception.WEIGHTS_URL,
                                 str(no_torch_hub), "TORCH_HOME")
    if not inception.has_package():
        assert "pip install 'latentforge[inception]'" in line
        assert "torch_fidelity" not in sys.modules


def test_inception_with_package_but_no_weights_names_only_the_weights(
        cli, gan_run, no_torch_hub, monkeypatch):
    monkeypatch.setattr(inception, "has_package", lambda: True)
    code, _, err = cli(["evaluate", gan_run, "--samples", "64", "--inception", "-q"])
    assert code == 2
    line = assert_one_error_line(err, inception.WEIGHTS_FILE, str(no_torch_hub))
    assert "pip install" not in line


class FakeFidelity:
    """Stands in for torch_fidelity (not installed here): records the call, returns a FID."""

    def __init__(self):
        self.calls = []

    def calculate_metrics(self, **kwargs):
        self.calls.append(kwargs)
        return {"frechet_inception_distance": 12.5}


def test_inception_hands_torch_fidelity_uint8_rgb_and_the_local_weights(
        cli, gan_run, net_file, no_torch_hub, monkeypatch):
    """Only the adapter (the real Inception needs torchvision and GitHub-hosted weights)."""
    fake = FakeFidelity()
    monkeypatch.setattr(inception, "has_package", lambda: True)
    monkeypatch.setitem(sys.modules, "torch_fidelity", fake)
    no_torch_hub.mkdir(parents=True)
    (no_torch_hub / inception.WEIGHTS_FILE).write_bytes(b"weights")
    gray = inception.inception_fid(torch.rand(5, 1, 8, 8), torch.zeros(6, 1, 8, 8,
                                                                      dtype=torch.uint8))
    call = fake.calls[0]
    assert gray["fid"] == 12.5 and (gray["n_samples"], gray["n_reference"]) == (5, 6)
    first = call["input1"][0]
    assert first.dtype == torch.uint8 and first.shape == (3, 8, 8)
    assert torch.equal(first[0], first[2])  # grayscale repeated to RGB
    assert len(call["input2"]) == 6 and call["fid"] is True
    assert call["feature_extractor_weights_path"] == str(no_torch_hub / inception.WEIGHTS_FILE)
    code, out, err = cli(["evaluate", gan_run, "--samples", "32", "--feature-net",
                          net_file, "--inception", "-q"])
    assert code == 0, err
    assert "Inception FID of 32 samples" in out
    saved = json.loads((gan_run / "evaluation.json").read_text())["inception"]
    assert saved["fid"] == 12.5 and saved["n_samples"] == 32
    colour = fake.calls[-1]["input1"][0]
    assert colour.shape == (3, 16, 16) and colour.dtype == torch.uint8
