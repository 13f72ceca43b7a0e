"""Generative metrics (FID, KID, precision/recall, class coverage) against closed forms and
constructed cases, and the shipped Fashion-MNIST feature network (offline, metadata, real
images when the Debian dataset package is installed, reproducible retraining script)."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from latentforge.data import DataConfig, load_data
from latentforge.errors import DataError
from latentforge.evaluation import featurenet as fn
from latentforge.evaluation.generative import (class_coverage, evaluate_samples, fid,
                                               fid_from_moments, kid, precision_recall)

FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(not FASHION.is_dir(), reason="needs dataset-fashion-mnist")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_feature_net.py"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def random_psd(d: int, seed: int) -> np.ndarray:
    a = rng(seed).normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ---------------------------------------------------------------- FID

def test_fid_of_identical_sets_is_zero():
    a = rng().normal(size=(500, 16))
    assert fid(a, a) == pytest.approx(0.0, abs=1e-8)
    assert fid(torch.from_numpy(a).float(), torch.from_numpy(a).float()) < 1e-4


def test_fid_from_moments_matches_diagonal_closed_form():
    g = rng(1)
    mu1, mu2 = g.normal(size=6), g.normal(size=6)
    s1, s2 = g.uniform(0.1, 3.0, size=6), g.uniform(0.1, 3.0, size=6)
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    got = fid_from_moments(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_fid_from_moments_matches_scipy_sqrtm_on_full_covariances():
    linalg = pytest.importorskip("scipy.linalg")
    s1, s2 = random_psd(8, 2), random_psd(8, 3)
    mu1, mu2 = rng(4).normal(size=8), rng(5).normal(size=8)
    ref = (((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
           - 2 * np.trace(linalg.sqrtm(s1 @ s2)).real)
    assert fid_from_moments(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9)
    assert fid_from_moments(mu2, s2, mu1, s1) == pytest.approx(ref, rel=1e-9)


def test_fid_of_gaussian_samples_approaches_closed_form():
    g = rng(6)
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([0.5, 1.0, 3.0])
    mu2 = np.array([1.0, -1.0, 0.0])
    a = g.normal(size=(40_000, 3)) * np.sqrt(s1)
    b = g.normal(size=(40_000, 3)) * np.sqrt(s2) + mu2
    expected = (mu2 ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert fid(a, b) == pytest.approx(expected, rel=0.03)


def test_fid_is_symmetric_and_handles_singular_covariances():
    g = rng(7)
    a, b = g.normal(size=(300, 10)), g.normal(size=(200, 10)) * 1.5 + 0.3
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-9)
    a[:, 3] = 0.0  # a dead ReLU unit: zero variance
    b[:, 3] = 0.0
    assert np.isfinite(fid(a, b)) and fid(a, b) > 0
    assert fid(a, a) == pytest.approx(0.0, abs=1e-8)


# ---------------------------------------------------------------- KID

def naive_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    m, d = x.shape
    k = lambda u, v: (u @ v / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_is_the_unbiased_cubic_kernel_mmd():
    x, y = rng(8).normal(size=(12, 4)), rng(9).normal(size=(12, 4)) + 0.5
    result = kid(x, y, subsets=3, subset_size=12)  # every subset is a permutation of all rows
    assert result.mean == pytest.approx(naive_mmd2(x, y), rel=1e-10)
    assert result.std == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_same_distribution_and_positive_for_shifted():
    g = rng(10)
    a, b = g.normal(size=(600, 8)), g.normal(size=(600, 8))
    same = kid(a, b, subsets=20, subset_size=300, seed=1)
    shifted = kid(a, b + 0.5, subsets=20, subset_size=300, seed=1)
    assert abs(same.mean) < 0.01
    assert shifted.mean > 0.05 and shifted.mean > 5 * max(same.mean, same.std)
    assert kid(a, b, subsets=5, subset_size=100, seed=3) == kid(a, b, 5, 100, 3)


# ---------------------------------------------------------------- precision / recall

def clusters(centres: np.ndarray, n: int, seed: int) -> np.ndarray:
    g = rng(seed)
    return np.concatenate([c + g.normal(size=(n, centres.shape[1])) for c in centres])


def test_precision_recall_identical_and_disjoint_sets():
    a = rng(11).normal(size=(200, 5))
    assert precision_recall(a, a, k=3) == (1.0, 1.0)
    assert precision_recall(a, a + 1000.0, k=3) == (0.0, 0.0)


def test_precision_recall_fake_covering_half_the_modes():
    centres = np.array([[0, 0], [100, 0], [0, 100], [100, 100]], dtype=float)
    real = clusters(centres, 300, seed=12)
    fake = clusters(centres[:2], 300, seed=13)  # fresh samples of two of the four modes
    precision, recall = precision_recall(real, fake, k=3)
    assert precision >= 0.95
    assert recall == pytest.approx(0.5, abs=0.03)


# ---------------------------------------------------------------- class coverage

def test_class_coverage_detects_collapse_and_balance():
    collapsed = class_coverage(np.full(500, 3), 10)
    assert collapsed.n_covered == 1 and collapsed.entropy == 0.0 and collapsed.shares[3] == 1
    balanced = class_coverage(torch.arange(1000) % 10, 10)
    assert balanced.n_covered == 10 and balanced.entropy == pytest.approx(1.0)
    assert balanced.shares.sum() == pytest.approx(1.0)
    few = class_coverage(np.array([0] * 96 + [1] * 4), 10)  # 4% is not covered
    assert few.n_covered == 1 and 0 < few.entropy < 0.2


# ---------------------------------------------------------------- bad input

def test_bad_inputs_raise_data_error():
    a = rng(14).normal(size=(50, 4))
    nan = a.copy()
    nan[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fid(a, nan)
    with pytest.raises(DataError, match="NaN"):
        kid(nan, a, subsets=2, subset_size=10)
    with pytest.raises(DataError, match="feature size"):
        fid(a, a[:, :3])
    with pytest.raises(DataError, match="feature size"):
        precision_recall(a, a[:, :3])
    with pytest.raises(DataError, match="at least 4"):
        precision_recall(a, a[:3], k=3)
    with pytest.raises(DataError, match="subset_size"):
        kid(a, a[:20], subsets=2, subset_size=30)
    with pytest.raises(DataError, match=r"\(N, D\)"):
        fid(a.ravel(), a.ravel())
    with pytest.raises(DataError, match="lie in"):
        class_coverage(np.array([0, 10]), 10)
    with pytest.raises(DataError, match="moments"):
        fid_from_moments(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


# ---------------------------------------------------------------- the shipped network

def test_shipped_net_loads_offline_with_its_training_facts():
    path = fn.default_path()
    assert path.is_file() and path.stat().st_size < 1_000_000
    net = fn.load_feature_net()
    meta = net.metadata
    assert meta["test_accuracy"] >= 0.91
    for key in ("seed", "epochs", "torch_version", "data_sha256", "valid_accuracy"):
        assert key in meta
    assert not net.training and isinstance(net, fn.FeatureNet)


def test_features_shape_mode_and_input_checks():
    net = fn.load_feature_net().train()
    x = torch.rand(7, 1, 28, 28)
    feats = fn.features(net, x, batch_size=3)
    assert feats.shape == (7, net.arch["hidden"]) and feats.dtype == torch.float32
    assert net.training  # mode restored
    assert torch.allclose(feats, fn.features(net, x, batch_size=7), atol=1e-5)
    xu = (x * 255).round().to(torch.uint8)  # uint8 images are scaled by 1/255
    assert torch.equal(fn.features(net, xu), fn.features(net, xu.float() / 255))
    assert fn.predict_classes(net, x).shape == (7,)
    with pytest.raises(DataError, match="rescale"):
        fn.features(net, x * 2 - 1)
    with pytest.raises(DataError, match=r"\(N, C, H, W\)"):
        fn.features(net, torch.rand(7, 28, 28))


def test_load_feature_net_refuses_foreign_files(tmp_path):
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(DataError, match="not a latentforge feature network"):
        fn.load_feature_net(other)
    with pytest.raises(DataError, match="No feature-network weights"):
        fn.load_feature_net(tmp_path / "missing.safetensors")


def fashion_sha256(splits) -> str:
    h = hashlib.sha256()
    for part in (splits.train, splits.valid, splits.test):
        h.update(part.x.numpy().tobytes())
        h.update(part.y.numpy().tobytes())
    return h.hexdigest()


@needs_fashion
def test_shipped_net_classifies_real_test_images():
    splits = load_data(DataConfig(source="fashion-mnist", data_dir=str(FASHION),
                                  download=False))
    net = fn.load_feature_net()
    assert net.metadata["data_sha256"] == fashion_sha256(splits)
    test = splits.test.head(300)
    pred = fn.predict_classes(net, test.x)
    assert torch.equal(pred[:10], test.y[:10])
    assert float((pred == test.y).float().mean()) >= 0.9
    result = evaluate_samples(test.x[:150], test.x[150:], kid_subset_size=100, kid_subsets=5)
    assert result["classes_covered"] >= 8 and result["precision"] > 0.5
    collapsed = evaluate_samples(test.x[test.y == 1][:100], test.x[150:],
                                 kid_subset_size=100, kid_subsets=5)
    assert collapsed["classes_covered"] == 1 and collapsed["fid"] > 5 * result["fid"]
    assert collapsed["kid_mean"] > result["kid_mean"]


# ---------------------------------------------------------------- evaluate_samples

class TinyNet(nn.Module):
    """A feature network for (3, 8, 8) images: 4 features, 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(192, 4))
        self.head = nn.Linear(4, 3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_evaluate_samples_with_own_network_and_shape_check():
    g = torch.Generator().manual_seed(0)
    x, ref = torch.rand(40, 3, 8, 8, generator=g), torch.rand(50, 3, 8, 8, generator=g)
    with pytest.raises(DataError, match="net="):
        evaluate_samples(x, ref)
    out = evaluate_samples(x, ref, net=TinyNet(), kid_subsets=3)
    assert set(out) >= {"fid", "kid_mean", "kid_std", "precision", "recall",
                        "classes_covered", "class_entropy", "class_shares"}
    assert len(out["class_shares"]) == 3 and out["n_samples"] == 40
    assert all(np.isfinite(v) for k, v in out.items() if k != "class_shares")


@needs_fashion
def test_training_script_is_reproducible(tmp_path):
    from safetensors.torch import load_file

    spec = importlib.util.spec_from_file_location("train_feature_net", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    args = ["--epochs", "1", "--limit-train", "256", "--data-dir", str(FASHION)]
    try:
        for name in ("a", "b"):
            assert script.main([*args, "--out", str(tmp_path / f"{name}.safetensors")]) == 0
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])
    wa, wb = (load_file(str(tmp_path / f"{n}.safetensors")) for n in ("a", "b"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    net = fn.load_feature_net(tmp_path / "a.safetensors")
    assert net.metadata == fn.read_metadata(tmp_path / "b.safetensors")
    assert net.metadata["train_size"] == 256 and net.metadata["epochs"] == 1
