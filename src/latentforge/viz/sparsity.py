"""Figures of the sparse-autoencoder section: sparsity losses (book figure 17-10) and the
activation histograms of the coding layer (figure 17-11). Pure: arrays in, Figure out."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def sparsity_loss_figure(target: float = 0.1) -> Figure:
    """KL divergence, MAE and MSE between a target sparsity and the actual one (fig. 17-10)."""
    p = np.linspace(0.001, 0.999, 500)
    kl = target * np.log(target / p) + (1 - target) * np.log((1 - target) / (1 - p))
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([target, target], [0, 0.6], "k:")
    ax.text(target + 0.02, 0.55, "target sparsity", fontsize=10)
    ax.plot(p, kl, "b-", label="KL divergence")
    ax.plot(p, np.abs(p - target), "r--", label=r"MAE ($\ell_1$)")
    ax.plot(p, (p - target) ** 2, "r--", linewidth=1, label=r"MSE ($\ell_2$)")
    ax.legend(loc="upper left")
    ax.set_xlabel("actual sparsity")
    ax.set_ylabel("cost")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 0.95)
    return fig


def activation_histograms(codings: np.ndarray) -> Figure:
    """Left: mean activation of each coding unit; right: all activations (fig. 17-11).

    codings: (N, units) in [0, 1] (sigmoid coding layer).
    """
    codings = np.asarray(codings)
    fig = Figure(figsize=(10, 3.5))
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    weights = np.full(codings.shape[1], 1.0 / codings.shape[1])
    left.hist(codings.mean(axis=0), bins=np.linspace(0, 1, 21), weights=weights)
    left.set_xlabel("mean activation")
    left.set_ylabel("% neurons")
    flat = codings.ravel()
    right.hist(flat, bins=np.linspace(0, 1, 21), weights=np.full(flat.size, 1.0 / flat.size))
    right.set_xlabel("activation")
    right.set_ylabel("% activations")
    for ax in (left, right):
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    return fig
