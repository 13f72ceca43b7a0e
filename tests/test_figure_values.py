"""The values the pure figures plot, not only their layout: the sparsity losses of book
figure 17-10 and the activation histograms of figure 17-11."""
from __future__ import annotations

import numpy as np

from latentforge.viz.sparsity import activation_histograms, sparsity_loss_figure


def test_sparsity_losses_are_kl_mae_and_mse_of_the_target():
    target = 0.1
    ax = sparsity_loss_figure(target).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    kl, mae, mse = (lines[k] for k in ("KL divergence", r"MAE ($\ell_1$)", r"MSE ($\ell_2$)"))
    p = kl.get_xdata()
    expected = target * np.log(target / p) + (1 - target) * np.log((1 - target) / (1 - p))
    np.testing.assert_allclose(kl.get_ydata(), expected)
    np.testing.assert_allclose(mae.get_ydata(), np.abs(mae.get_xdata() - target))
    np.testing.assert_allclose(mse.get_ydata(), (mse.get_xdata() - target) ** 2)
    assert abs(p[np.argmin(kl.get_ydata())] - target) < 0.01  # KL is 0 at the target


def test_activation_histograms_are_shares_of_units_and_activations():
    codings = np.random.default_rng(0).random((50, 30)) ** 3  # mostly small activations
    left, right = activation_histograms(codings).axes
    bins = np.linspace(0, 1, 21)
    units = [bar.get_height() for bar in left.patches]
    np.testing.assert_allclose(units, np.histogram(codings.mean(0), bins)[0] / 30)
    shares = [bar.get_height() for bar in right.patches]
    np.testing.assert_allclose(shares, np.histogram(codings.ravel(), bins)[0] / codings.size)
    assert abs(sum(shares) - 1) < 1e-9 and shares[0] > shares[-1]
