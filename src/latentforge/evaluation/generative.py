"""Sample-quality metrics of generative models, on the features of a feature network.

Pure functions of feature arrays (N, D) (numpy or torch; computed in float64):

- `fid` / `fid_from_moments`: Fréchet distance between Gaussians fitted to two feature sets
  (Heusel et al. 2017, "GANs trained by a two time-scale update rule ...").
- `kid`: kernel inception distance, the unbiased MMD^2 with the cubic polynomial kernel
  k(x, y) = (x.y / d + 1)^3, mean and std over random subsets (Bińkowski et al. 2018,
  "Demystifying MMD GANs").
- `precision_recall`: k-NN manifold precision and recall (Kynkäänniemi et al. 2019,
  "Improved precision and recall metric for assessing generative models").
- `class_coverage`: share of samples per predicted class, the number of classes holding at
  least 5% and the normalised entropy: the mode-collapse detector.

`evaluate_samples` computes all of them for generated images against real images, with the
shipped Fashion-MNIST network, a network of ``latentforge featurenet train``
(`featurenet.load_feature_net(path)`) or any network following the `featurenet.FeatureNet`
protocol. Values depend on the feature space: compare only numbers
computed with the same network (real-vs-real floor with the shipped net, Fashion-MNIST test
vs the first 10,000 training images: FID 0.29, KID -0.03 +- 0.13, precision 0.85, recall
0.86, 10 classes covered).

The matrix square root of FID avoids ``scipy.linalg.sqrtm`` (available through scikit-learn):
tr sqrt(S1 S2) = tr sqrt(S1^1/2 S2 S1^1/2), and the latter matrix is symmetric PSD, so two
``numpy.linalg.eigh`` calls give it exactly, with no complex round-off parts or failures on
singular covariances (which ``sqrtm`` of the non-symmetric product S1 S2 suffers from).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from latentforge.errors import DataError


def _feats(x, name: str, min_rows: int = 2) -> np.ndarray:
    """``x`` as a finite float64 (N, D) array with N >= ``min_rows``; `DataError` otherwise."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] == 0:
        raise DataError(f"{name} must be a (N, D) feature array, got shape {a.shape}; "
                        "compute it with featurenet.features(net, images).")
    if len(a) < min_rows:
        raise DataError(f"{name} holds {len(a)} samples, need at least {min_rows}; "
                        "generate more samples.")
    if not np.isfinite(a).all():
        raise DataError(f"{name} contain NaN or infinite values; check the images and the "
                        "feature network.")
    return a


def _pair(a, b, names: tuple[str, str], min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets checked, with the same feature size."""
    fa, fb = _feats(a, names[0], min_rows), _feats(b, names[1], min_rows)
    if fa.shape[1] != fb.shape[1]:
        raise DataError(f"{names[0]} and {names[1]} differ in feature size: {fa.shape[1]} vs "
                        f"{fb.shape[1]}; compute both with the same feature network.")
    return fa, fb


def feature_moments(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and sample covariance (D, D) (ddof=1) of float64 features (N, D)."""
    f = _feats(feats, "features")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (negative round-off eigenvalues -> 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def fid_from_moments(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance of N(mu1, sigma1) and N(mu2, sigma2):
    ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1^1/2 S2 S1^1/2).

    mu: (D,), sigma: (D, D) symmetric PSD. Returns a float >= 0 (round-off clipped).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if d < 1 or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise DataError(f"FID moments must be means (D,) and covariances (D, D) of one D, got "
                        f"{mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}.")
    if not all(np.isfinite(m).all() for m in (mu1, mu2, s1, s2)):
        raise DataError("FID moments contain NaN or infinite values.")
    root1 = _sqrt_psd(s1)
    m = root1 @ s2 @ root1
    cross = np.linalg.eigvalsh((m + m.T) / 2)  # eigenvalues of S1 S2, all >= 0 up to round-off
    tr_cross = float(np.sqrt(np.clip(cross, 0.0, None)).sum())
    diff = mu1 - mu2
    return max(float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_cross), 0.0)


def fid(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussians fitted to features (N, D) and (M, D); symmetric."""
    a, b = _pair(feats_a, feats_b, ("feats_a", "feats_b"))
    return fid_from_moments(*feature_moments(a), *feature_moments(b))


class KID(NamedTuple):
    """KID: mean and standard deviation of the unbiased MMD^2 over subsets."""

    mean: float
    std: float


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of x, y (m, d) with k(u, v) = (u.v / d + 1)^3."""
    m, d = x.shape
    kxx, kyy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.mean())


def kid(feats_a, feats_b, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> KID:
    """Kernel inception distance of features (N, D) and (M, D).

    Each of ``subsets`` rounds draws ``subset_size`` rows of each set without replacement
    (numpy generator seeded with ``seed``) and computes the unbiased MMD^2; returns its mean
    and std (0 for one subset). Requires ``2 <= subset_size <= min(N, M)``.
    """
    a, b = _pair(feats_a, feats_b, ("feats_a", "feats_b"))
    if subsets < 1:
        raise DataError(f"kid needs subsets >= 1, got {subsets}.")
    if not 2 <= subset_size <= min(len(a), len(b)):
        raise DataError(f"kid subset_size must be in [2, {min(len(a), len(b))}] (the smaller "
                        f"set), got {subset_size}; lower subset_size or add samples.")
    rng = np.random.default_rng(seed)
    vals = np.array([_mmd2_unbiased(a[rng.choice(len(a), subset_size, replace=False)],
                                    b[rng.choice(len(b), subset_size, replace=False)])
                     for _ in range(subsets)])
    return KID(float(vals.mean()), float(vals.std()))


def _sq_dists(q: np.ndarray, r: np.ndarray, r_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(q), len(r)), clipped at 0."""
    d = (q * q).sum(1)[:, None] + r_sq[None, :] - 2.0 * (q @ r.T)
    return np.clip(d, 0.0, None)


def knn_radii(feats: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Squared distance of each row of ``feats`` (N, D) to its k-th nearest other row (N,)."""
    sq = (feats * feats).sum(1)
    out = np.empty(len(feats))
    for i in range(0, len(feats), chunk):
        d = _sq_dists(feats[i:i + chunk], feats, sq)
        out[i:i + chunk] = np.partition(d, k, axis=1)[:, k]  # index 0 is the row itself
    return out


def _in_manifold(query: np.ndarray, ref: np.ndarray, radii: np.ndarray,
                 chunk: int = 1024) -> np.ndarray:
    """Whether each query row lies within some ref row's k-NN ball (bool (len(query),))."""
    sq = (ref * ref).sum(1)
    return np.concatenate([(_sq_dists(query[i:i + chunk], ref, sq) <= radii[None, :]).any(1)
                           for i in range(0, len(query), chunk)])


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision and recall of ``fake`` (M, D) against ``real`` (N, D).

    precision: share of fake samples inside the real manifold (the union of balls around
    each real sample reaching its k-th nearest real neighbour); recall: share of real
    samples inside the fake manifold. Both sets need more than k samples.
    """
    if not isinstance(k, int) or k < 1:
        raise DataError(f"precision_recall needs an integer k >= 1, got {k!r}.")
    r, f = _pair(real, fake, ("real", "fake"), min_rows=k + 1)
    precision = _in_manifold(f, r, knn_radii(r, k)).mean()
    recall = _in_manifold(r, f, knn_radii(f, k)).mean()
    return float(precision), float(recall)


@dataclass
class Coverage:
    """How predicted classes spread over the samples.

    shares: (K,) share of samples per class (sums to 1).
    n_covered: classes holding at least ``threshold`` (5%) of the samples; K for a
        balanced set, 1 for a fully collapsed one.
    entropy: entropy of ``shares`` divided by log K, in [0, 1] (1 = uniform).
    """

    shares: np.ndarray
    n_covered: int
    entropy: float


def class_coverage(pred_labels, n_classes: int, threshold: float = 0.05) -> Coverage:
    """`Coverage` of integer class predictions (N,) in [0, n_classes)."""
    if isinstance(pred_labels, torch.Tensor):
        pred_labels = pred_labels.detach().cpu().numpy()
    y = np.asarray(pred_labels)
    if not isinstance(n_classes, int) or n_classes < 2:
        raise DataError(f"class_coverage needs n_classes >= 2, got {n_classes!r}.")
    if y.ndim != 1 or len(y) == 0 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"pred_labels must be a non-empty integer array (N,), got "
                        f"{y.dtype} {y.shape}; use featurenet.predict_classes.")
    if y.min() < 0 or y.max() >= n_classes:
        raise DataError(f"pred_labels must lie in [0, {n_classes}), got [{y.min()}, "
                        f"{y.max()}]; pass the network's number of classes.")
    shares = np.bincount(y, minlength=n_classes) / len(y)
    nz = shares[shares > 0]
    entropy = float(-(nz * np.log(nz)).sum() / np.log(n_classes))
    return Coverage(shares, int((shares >= threshold).sum()), entropy)


def evaluate_samples(images, reference_images, net=None, batch_size: int = 1000, k: int = 3,
                     kid_subsets: int = 100, kid_subset_size: int = 1000,
                     seed: int = 0, phase=None) -> dict:
    """All metrics of generated ``images`` against real ``reference_images``.

    images, reference_images: (N, C, H, W) uint8 or float in [0, 1].
    net: a `featurenet.FeatureNet` (e.g. `featurenet.load_feature_net(path)`); default the
        shipped Fashion-MNIST network, which needs (1, 28, 28) images. Images of another
        shape than the network's ``input_shape`` (when it declares one) raise `DataError`.
        The KID subset size is capped at the smaller set's size.
    phase: called with "features" and then "metrics" as each step starts (progress).
    Returns {"fid", "kid_mean", "kid_std", "precision", "recall", "classes_covered",
    "class_entropy", "class_shares" (list), "n_samples", "n_reference"}.
    """
    from latentforge.evaluation.featurenet import (INPUT_SHAPE, as_image_batch, class_logits,
                                                   features, input_shape_of,
                                                   load_feature_net)

    x, ref = as_image_batch(images, "images"), as_image_batch(reference_images, "reference_images")
    shipped = net is None
    _check_shape(x, ref, INPUT_SHAPE if shipped else input_shape_of(net),
                 "the shipped" if shipped else "this")
    net = load_feature_net() if shipped else net
    phase = phase or (lambda name: None)
    phase("features")
    fx, fr = features(net, x, batch_size), features(net, ref, batch_size)
    logits = class_logits(net, x, batch_size)
    phase("metrics")
    cov = class_coverage(logits.argmax(dim=1), int(logits.shape[1]))
    kd = kid(fx, fr, kid_subsets, min(kid_subset_size, len(fx), len(fr)), seed)
    precision, recall = precision_recall(fr, fx, k)
    return {"fid": fid(fx, fr), "kid_mean": kd.mean, "kid_std": kd.std,
            "precision": precision, "recall": recall, "classes_covered": cov.n_covered,
            "class_entropy": cov.entropy, "class_shares": cov.shares.tolist(),
            "n_samples": len(fx), "n_reference": len(fr)}


def _check_shape(x, ref, shape, which: str) -> None:
    """`DataError` naming the fix unless both image batches have the network's input
    ``shape`` (None: any)."""
    for name, t in (("images", x), ("reference_images", ref)):
        if shape is not None and tuple(t.shape[1:]) != tuple(shape):
            raise DataError(f"{name} have shape {tuple(t.shape[1:])}, but {which} feature "
                            f"network takes {tuple(shape)}; pass a feature network for this "
                            "data with net=featurenet.load_feature_net(FILE) (make one with "
                            "'latentforge featurenet train --data SRC').")
