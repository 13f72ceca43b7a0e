"""Recipes of the dense autoencoders: the book's hyperparameters (``book*``) and faster
ones (``fast``) that reach the same quality, with where each value comes from.

name -> (summary, {recipe: {"model"|"data"|"train": overrides}}, tiny preset for tests).
Reference numbers: docs/book-reference.md; measured numbers: README.md.
"""
from __future__ import annotations


def _sgd(lr: float, epochs: int, **extra) -> dict:
    """Keras SGD(learning_rate=lr), fit(epochs=epochs) with the default batch size 32."""
    return {"optimizer": "sgd", "lr": lr, "epochs": epochs, "batch_size": 32, **extra}


# Book quality sooner: Adam with batch 64 (stacked_ae: 4 epochs match 20 book epochs).
_FAST = {"optimizer": "adam", "lr": 2e-3, "epochs": 4, "batch_size": 64}
_TINY = {"model": {"hidden": [16, 4]}}

DENSE_RECIPES = {
    "linear_ae": (
        "Undercomplete linear autoencoder 3-2-3 with MSE: finds PCA's principal plane",
        {
            # Book notebook: SGD(lr=0.1), MSE, fit(epochs=20), batch 32, 60 synthetic points.
            "book": {"data": {"source": "synthetic3d"}, "train": _sgd(0.1, 20)},
            # The book's 40 steps leave the plane ~25 degrees off PCA's; full-batch SGD
            # lr 1.0 for 200 epochs (about a second) converges (tests/test_linear_pca.py).
            "fast": {"data": {"source": "synthetic3d"},
                     "train": {**_sgd(1.0, 200), "batch_size": 60}},
        },
        {"model": {"hidden": [2]}},
    ),
    "stacked_ae": (
        "Stacked autoencoder 784-100-30-100-784, SELU, sigmoid output, binary cross-entropy",
        {
            # Book: SGD(lr=1.5), binary_crossentropy, 20 epochs, batch 32, Glorot init.
            "book": {"train": _sgd(1.5, 20)},
            # Book: "plain" autoencoder with 30 sigmoid codings, the sparse section's baseline.
            "book_sigmoid_codings": {"model": {"coding_activation": "sigmoid"},
                                     "train": _sgd(1.0, 10)},
            "fast": {"train": dict(_FAST)},
        },
        _TINY,
    ),
    "tied_ae": (
        "Stacked autoencoder with tied weights (decoder = transposed encoder kernels)",
        {
            # Book: DenseTranspose decoder, SGD(lr=1.5), 10 epochs.
            "book": {"train": _sgd(1.5, 10)},
            "fast": {"train": dict(_FAST)},
        },
        _TINY,
    ),
    "denoising_ae": (
        "Denoising stacked autoencoder: Gaussian noise or dropout on the input in training",
        {
            # Book: GaussianNoise(0.2) before Dense(100), SGD(lr=1.0), 10 epochs.
            "book": {"train": _sgd(1.0, 10)},
            # Book: Dropout(0.5) instead of the Gaussian noise.
            "book_dropout": {"model": {"corruption": "dropout", "corruption_rate": 0.5},
                             "train": _sgd(1.0, 10)},
            "fast": {"train": dict(_FAST)},
        },
        _TINY,
    ),
    "sparse_ae": (
        "Sparse autoencoder: 300 sigmoid codings with an L1 or KL-divergence penalty",
        {
            # Book: ActivityRegularization(l1=1e-3) on 300 sigmoid codings, SGD(lr=1.0), 10 ep.
            "book": {"train": _sgd(1.0, 10)},
            # Book: KLDivergenceRegularizer(weight=0.05, target=0.1), SGD(lr=1.0), 10 epochs.
            # Keras divides it by the batch size, in evaluate() too (batch 32 there).
            "book_kl": {"model": {"sparsity": "kl", "sparsity_weight": 0.05,
                                  "sparsity_target": 0.1},
                        "train": _sgd(1.0, 10, eval_batch_size=32)},
            "fast": {"train": dict(_FAST)},
        },
        {"model": {"hidden": [16, 12]}},
    ),
    "hashing_ae": (
        "Hashing autoencoder: 16 noisy sigmoid codings rounded to binary hashes",
        {
            # Book notebook: GaussianNoise(15) before Dense(16, sigmoid), Nadam(), 10 epochs.
            "book": {"train": {"optimizer": "nadam", "lr": 1e-3, "epochs": 10,
                               "batch_size": 32}},
            # Measured: val BCE 0.3354 / rounded acc 0.8860 in 8 epochs (book: 0.3371 /
            # 0.8862 in 10 epochs at batch 32), about half the wall time.
            "fast": {"train": {"optimizer": "nadam", "lr": 5e-3, "epochs": 8,
                               "batch_size": 64}},
        },
        {"model": {"hidden": [16, 8]}},
    ),
}
