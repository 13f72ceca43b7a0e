"""Small built-in sources: scikit-learn's ``digits`` and the book's ``synthetic3d`` set.

Both work offline and load in milliseconds, which makes them the sources of choice for
fast tests and smoke runs.
"""
from __future__ import annotations

import numpy as np

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits, TensorData, from_numpy
from latentforge.data.splitting import split_arrays

DIGIT_CLASSES = [str(d) for d in range(10)]


def load_digits_source(cfg: DataConfig) -> Splits:
    """scikit-learn's bundled 8x8 digits (1,797 images), split by fractions.

    Pixels 0..16 become uint8 ``round(v * 255 / 16)`` in [0, 255]; ``x`` is uint8
    ``(N, 1, 8, 8)``, ``y`` int64 in [0, 10). Split: seeded permutation by
    ``data.valid_fraction`` / ``data.test_fraction`` / ``data.split_seed``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    y = bunch.target.astype(np.int64)
    return split_arrays("digits", x, y, cfg, DIGIT_CLASSES,
                        {"source": "digits", "path": "sklearn.datasets.load_digits"})


def synthetic3d(m: int = 60, w1: float = 0.1, w2: float = 0.3, noise: float = 0.1,
                seed: int = 4) -> np.ndarray:
    """The book's 3-D dataset for the linear autoencoder (Hands-On ML ch. 17, "Performing
    PCA with an Undercomplete Linear Autoencoder"), centred by its mean.

    Same draws as the book's ``np.random.seed(4)`` code, from a private
    ``np.random.RandomState(seed)`` so the global numpy RNG is left alone.
    Returns float32 ``(m, 3)`` with column means ~0.
    """
    rng = np.random.RandomState(seed)
    angles = rng.rand(m) * 3 * np.pi / 2 - 0.5
    data = np.empty((m, 3))
    data[:, 0] = np.cos(angles) + np.sin(angles) / 2 + noise * rng.randn(m) / 2
    data[:, 1] = np.sin(angles) * 0.7 + noise * rng.randn(m) / 2
    data[:, 2] = data[:, 0] * w1 + data[:, 1] * w2 + noise * rng.randn(m)
    data = data - data.mean(axis=0)
    return data.astype(np.float32)


def load_synthetic3d(cfg: DataConfig) -> Splits:
    """`synthetic3d` as `Splits`: float32 ``(60, 3)``, no labels, not min-max scaled.

    The book trains on all 60 points and has no held-out set, so valid and test are the
    same 60 points as train (evaluation on them measures fit, not generalisation).
    ``cfg`` is accepted for a uniform signature; no field of it applies.
    """
    x = synthetic3d()
    train = from_numpy(x, None)
    same = TensorData(train.x.clone(), None)
    info = {"source": "synthetic3d", "path": "generated (np.random.RandomState(4))",
            "split": "the book's: train = valid = test = the same 60 centred points",
            "sizes": {"train": len(x), "valid": len(x), "test": len(x)}}
    return Splits("synthetic3d", train, same, same, info)
