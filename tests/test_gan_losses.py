"""The GANs' adversarial losses as strategies (`models/gan_losses.py`): each loss against a
hand computation on fixed D scores, R1 against a hand computation on a tiny D, the new
losses training tiny GANs, and a loss added in one place (the dict)."""
from __future__ import annotations

import math

import pytest
import torch

import latentforge
from conftest import make_tiny_cfg
from latentforge.errors import ConfigError
from latentforge.models.gan import DenseGAN, DenseGANConfig
from latentforge.models.gan_losses import (ADVERSARIAL_LOSSES, AdversarialLoss, BCELoss,
                                           HingeLoss, LogisticR1Loss, WGANGPLoss, r1_penalty)
from latentforge.training.step import Stepper

D_REAL = [2.0, -1.0, 0.5]
D_FAKE = [-3.0, 0.2, 1.0]


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _losses(cls, **cfg):
    loss = cls(DenseGANConfig(loss=cls.name, **cfg))
    d = loss.d_loss(torch.tensor(D_REAL), torch.tensor(D_FAKE))
    return loss, {k: float(v) for k, v in d.items()}, float(loss.g_loss(torch.tensor(D_FAKE)))


def test_bce_is_the_mean_over_all_2b_outputs_and_g_uses_labels_one():
    _, d, g = _losses(BCELoss)
    assert d["d_loss"] == pytest.approx(
        (sum(_softplus(-r) for r in D_REAL) + sum(_softplus(f) for f in D_FAKE)) / 6)
    assert g == pytest.approx(_mean(_softplus(-f) for f in D_FAKE))
    assert (d["d_real_acc"], d["d_fake_acc"]) == pytest.approx((2 / 3, 1 / 3))


def test_wgan_gp_is_the_negative_wasserstein_estimate():
    loss, d, g = _losses(WGANGPLoss, n_critic=3)
    assert d["wasserstein"] == pytest.approx(_mean(D_REAL) - _mean(D_FAKE))
    assert d["d_loss"] == pytest.approx(-d["wasserstein"])
    assert g == pytest.approx(-_mean(D_FAKE))
    assert loss.n_critic == 3


def test_wgan_gp_drift_term_by_hand_and_off_by_default():
    _, d, _ = _losses(WGANGPLoss, drift_weight=0.25)
    drift = _mean(r * r for r in D_REAL)  # (4 + 1 + 0.25) / 3
    assert d["drift"] == pytest.approx(drift)
    assert d["d_loss"] == pytest.approx(0.25 * drift - (_mean(D_REAL) - _mean(D_FAKE)))
    _, off, _ = _losses(WGANGPLoss)
    assert "drift" not in off  # other GANs keep their metrics and numbers
    with pytest.raises(ConfigError, match="model.drift_weight"):
        DenseGANConfig(loss="wgan-gp", drift_weight=-1.0).validate()


def test_hinge_loss_by_hand():
    loss, d, g = _losses(HingeLoss)
    # relu(1 - [2, -1, 0.5]) = [0, 2, 0.5]; relu(1 + [-3, 0.2, 1]) = [0, 1.2, 2]
    assert d["d_loss"] == pytest.approx(2.5 / 3 + 3.2 / 3)
    assert g == pytest.approx(-(-3.0 + 0.2 + 1.0) / 3)
    assert loss.n_critic is None and "d_real_acc" in d


def test_logistic_loss_by_hand():
    _, d, g = _losses(LogisticR1Loss)
    assert d["d_loss"] == pytest.approx(_mean(_softplus(-r) for r in D_REAL)
                                        + _mean(_softplus(f) for f in D_FAKE))
    assert g == pytest.approx(_mean(_softplus(-f) for f in D_FAKE))  # non-saturating


def test_r1_of_a_tiny_d_matches_the_hand_computation():
    """D(x) = sum(a * x^2) + w . x: grad_x D = 2 a x + w, so R1 = mean ||2 a x + w||^2."""
    a = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[1.0, 0.0], [-0.5, 3.0]], dtype=torch.float64)
    x = torch.tensor([[[1.0, 2.0], [0.0, -1.0]], [[-2.0, 0.5], [1.5, 1.0]]],
                     dtype=torch.float64)

    def critic(v):
        return (a * v * v + w * v).flatten(1).sum(1)

    expected = ((2 * a * x + w) ** 2).flatten(1).sum(1).mean()
    got = r1_penalty(critic, x)
    assert torch.allclose(got, expected)
    # differentiable w.r.t. D's weights: d/da of mean ||2 a x + w||^2 = mean 4 x (2 a x + w)
    (grad_a,) = torch.autograd.grad(got, a)
    assert torch.allclose(grad_a, (4 * x * (2 * a * x + w)).mean(0).detach())
    loss = LogisticR1Loss(DenseGANConfig(loss="logistic", r1_gamma=4.0))
    ((name, (weight, value)),) = loss.penalties(critic, x, x).items()
    assert (name, weight) == ("r1_penalty", 2.0) and torch.allclose(value, expected)
    off = LogisticR1Loss(DenseGANConfig(loss="logistic", r1_gamma=0.0))
    assert off.penalties(critic, x, x) == {}


def test_minibatch_discrimination_is_refused_only_with_a_gradient_penalty():
    with pytest.raises(ConfigError, match="per-sample D gradients .*model.r1_gamma=0"):
        DenseGANConfig(loss="logistic", minibatch_kernels=4).validate()
    with pytest.raises(ConfigError, match="model.loss='wgan-gp' penalises per-sample critic "
                                          "gradients"):
        DenseGANConfig(loss="wgan-gp", minibatch_kernels=4).validate()
    DenseGANConfig(loss="logistic", r1_gamma=0.0, minibatch_kernels=4).validate()
    DenseGANConfig(loss="hinge", minibatch_kernels=4).validate()


@pytest.mark.parametrize("name,extra,penalty", [
    ("gan", ('model.loss="hinge"',), None),
    ("gan", ('model.loss="logistic"', "model.r1_gamma=1.0"), "r1_penalty"),
    ("dcgan", ('model.loss="logistic"',), "r1_penalty"),
])
def test_new_losses_train_tiny_gans_with_finite_losses(name, extra, penalty, tmp_path):
    cfg = make_tiny_cfg(name, "data.limit_train=48", *extra, epochs=1)
    run = latentforge.train(cfg, run_dir=tmp_path / "run")
    last = run.history[-1]
    for key in ("loss", "d_loss", "g_loss", "val_loss", "val_d_loss"):
        assert math.isfinite(last[key]), (key, last)
    assert (penalty in last) == (penalty is not None)
    assert "val_r1_penalty" not in last  # penalties need gradients: training only
    assert torch.isfinite(run.model.generate(2)).all()


class LeastSquares(AdversarialLoss):
    """LSGAN (Mao et al. 2017), a=0, b=c=1: a loss added only in ADVERSARIAL_LOSSES."""

    name = "ls"

    def d_loss(self, d_real, d_fake):
        return {"d_loss": ((d_real - 1) ** 2).mean() / 2 + (d_fake ** 2).mean() / 2}

    def g_loss(self, d_fake):
        return ((d_fake - 1) ** 2).mean() / 2


def test_a_new_loss_is_one_entry_in_the_strategy_dict(monkeypatch):
    monkeypatch.setitem(ADVERSARIAL_LOSSES, "ls", LeastSquares)
    model = DenseGAN(DenseGANConfig(loss="ls", latent_dim=3, g_hidden=(8,), d_hidden=(8,)),
                     (1, 4, 4))
    opts = model.configure_optimizers(make_tiny_cfg("gan").train)
    out = model.train_step(torch.rand(8, 1, 4, 4), None, Stepper(opts))
    assert isinstance(model.adversarial_loss, LeastSquares)
    assert set(out) == {"loss", "d_loss", "g_loss"}
    assert all(torch.isfinite(v) for v in out.values())
