"""The adversarial losses of the GANs, one strategy object each; ``model.loss`` picks one
from `ADVERSARIAL_LOSSES` (adding a loss is one class and one entry there).

A strategy turns D's raw scores (B,) of reals and fakes into D's loss and its reported
metrics (`d_loss`), G's loss from D's scores of G's fakes (`g_loss`), D's extra penalty
terms, which need gradients and so run in training only (`penalties`), and how often G
steps (`n_critic`: G steps every n_critic-th D step, counted in a checkpointed buffer;
None: every step). Losses are batch means. A score > 0 means "real" for every loss here,
so `d_real_acc` / `d_fake_acc` are the shares of reals / fakes on the right side of 0.

- "bce": the book's (Goodfellow et al. 2014, with Keras's binary cross-entropy on logits):
  D: BCE of the 2B scores against labels 1 (reals) and 0 (fakes), the mean over all 2B as
  Keras's one ``train_on_batch``; G: BCE of D(G(z)) against labels 1 (non-saturating).
- "wgan-gp": WGAN-GP (Gulrajani et al. 2017): D is a critic; D: mean D(fake) - mean D(real)
  + gp_weight * GP (eq. 3, `gradient_penalty`) [+ drift_weight * mean D(real)^2, ProGAN's
  drift term that keeps the critic's scores near 0 (Karras et al. 2018, sec. A.1), when
  drift_weight > 0]; G: -mean D(G(z)); G steps every n_critic.
- "hinge": the hinge loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, SN-GAN):
  D: mean relu(1 - D(x)) + mean relu(1 + D(G(z))); G: -mean D(G(z)).
- "logistic": the non-saturating logistic loss (Goodfellow et al. 2014, sec. 3) with the
  R1 penalty (Mescheder et al. 2018, "Which Training Methods for GANs do actually
  Converge?", eq. 9): D: mean softplus(-D(x)) + mean softplus(D(G(z))) + (r1_gamma / 2) *
  E[||grad_x D(x)||^2] on reals; G: mean softplus(-D(G(z))).

The gradient penalties need per-sample scores; minibatch discrimination couples them across
the batch, so those losses refuse it (`check`). Under train.precision=16-mixed they take
their input gradients at the gradient scaler's loss scale and unscale them (torch's AMP
recipe for gradient penalties; `_input_gradient`), so float16 does not flush small ones to
0: the penalty is its true value, and D's loss is scaled once, by the Stepper. A scaled
input gradient that overflows gives the penalty a NaN gradient, so the scaler skips D's
step and lowers its scale, and the value float16 gives without scaling, so the reported
number stays finite (`_penalty`). At scale 1.0 (float32, bf16) nothing is scaled.
"""
from __future__ import annotations

from typing import Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from latentforge.errors import ConfigError

GP_EPS = 1e-12  # inside the square root of the gradient norm: finite gradient at norm 0
Critic = Callable[[Tensor], Tensor]  # images (B, ...) -> scores (B,)


def random_interpolates(real: Tensor, fake: Tensor,
                        generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """x_hat = alpha * real + (1 - alpha) * fake with one alpha ~ U(0, 1) per sample.

    real, fake: (B, ...) -> (x_hat (B, ...), alpha (B, 1, ..., 1)), alpha broadcast over
    every non-batch axis (a per-pixel alpha would not sample the line between two images).
    """
    shape = (len(real),) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    return alpha * real + (1 - alpha) * fake, alpha


def _input_gradient(critic: Critic, x: Tensor, scale: float = 1.0) -> Tensor:
    """grad_x of sum(critic(x)) (B, ...), differentiable w.r.t. the critic's weights. The
    critic runs eagerly even when it is compiled (train.compile): a compiled graph cannot
    be differentiated twice.

    scale: 1.0, no scaling (float32 and bf16); else 16-mixed's loss scale S
    (`Precision.loss_scale`): torch's AMP recipe for gradient penalties. The gradient is
    taken of S * mean(critic(x)) in float32, so the float16 backward carries the per-sample
    scale S / B that D's loss (a batch mean) gets, and keeps gradients that would underflow
    unscaled; it is multiplied back by B / S in float32. Where it overflowed, it is inf/NaN.
    (S * sum would carry S itself, B times more than D's loss: the scaler's first scale,
    2^16, is above float16's largest number, and the scale it settles at would be set by
    the penalty's pass, lower for every loss.)
    """
    x = x.detach().requires_grad_(True)
    with torch.compiler.set_stance("force_eager"):
        score = critic(x)
    if scale == 1.0:
        (grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)
        return grad
    (grad,) = torch.autograd.grad(score.float().mean() * scale, x, create_graph=True)
    return grad.float() * (len(x) / scale)


class _NaNGradient(torch.autograd.Function):
    """The value of `shown` with a NaN gradient into `value`'s graph."""

    @staticmethod
    def forward(ctx, value: Tensor, shown: Tensor) -> Tensor:
        return shown.clone()

    @staticmethod
    def backward(ctx, grad: Tensor):
        return torch.full_like(grad, float("nan")), None


def _penalty(of_gradient: Callable[[Tensor], Tensor], critic: Critic, x: Tensor,
             scale: float) -> Tensor:
    """of_gradient(the input gradient of critic at x) taken at the loss `scale`. Where the
    scaled gradient overflowed, the result has the value taken without scaling and a NaN
    gradient: the gradient scaler skips D's step and lowers its scale, as for any overflow,
    and the reported penalty stays finite (the engine stops a run whose loss is not). That
    costs a second pass through D (its dropout included) on such steps only; checking for
    them waits for the device."""
    value = of_gradient(_input_gradient(critic, x, scale))
    if scale == 1.0 or bool(torch.isfinite(value)):
        return value
    return _NaNGradient.apply(value, of_gradient(_input_gradient(critic, x)).detach())


def _gp_of_gradient(grad: Tensor) -> Tensor:
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(1) + GP_EPS)
    return (norm - 1).pow(2).mean()


def _r1_of_gradient(grad: Tensor) -> Tensor:
    return grad.flatten(1).pow(2).sum(1).mean()


def gradient_penalty(critic: Critic, real: Tensor, fake: Tensor,
                     generator: torch.Generator | None = None, scale: float = 1.0) -> Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, eq. 3): mean over the batch of
    (||grad_x_hat critic(x_hat)||_2 - 1)^2 at random interpolates x_hat of real and fake.

    critic: (B, ...) -> scores (B,) (one score per sample; no cross-sample coupling such as
        BatchNorm or minibatch discrimination, else the per-sample gradient is wrong);
    real, fake: (B, ...). The norm runs over all non-batch axes (the flattened sample) and
    is sqrt(sum g^2 + 1e-12), so it has a finite gradient even where g = 0. The graph is
    kept (create_graph=True): the penalty is differentiable w.r.t. the critic's weights.
    scale: 16-mixed's loss scale, which the input gradient is taken at (`_input_gradient`,
    `_penalty`); 1.0: none. Returns a scalar tensor.
    """
    x_hat, _ = random_interpolates(real.detach(), fake.detach(), generator)
    return _penalty(_gp_of_gradient, critic, x_hat, scale)


def r1_penalty(critic: Critic, real: Tensor, scale: float = 1.0) -> Tensor:
    """R1 (Mescheder et al. 2018, eq. 9, without the gamma / 2): E[||grad_x D(x)||^2] over
    the reals (B, ...), the squared norm over all non-batch axes; a scalar, differentiable
    w.r.t. the critic's weights. Same per-sample rule and `scale` as `gradient_penalty`."""
    return _penalty(_r1_of_gradient, critic, real, scale)


def _sign_accuracy(d_real: Tensor, d_fake: Tensor) -> dict[str, Tensor]:
    return {"d_real_acc": (d_real > 0).float().mean(), "d_fake_acc": (d_fake < 0).float().mean()}


class AdversarialLoss:
    """Base strategy: no penalties, G steps every step. Built from the GAN's config."""

    name: ClassVar[str]
    n_critic: int | None = None

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    @classmethod
    def check(cls, cfg) -> None:
        """ConfigError for GAN options this loss cannot train with (none by default)."""

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> dict[str, Tensor]:
        """D's loss ("d_loss") and metrics from scores of reals (B,) and fakes (B',)."""
        raise NotImplementedError

    def g_loss(self, d_fake: Tensor) -> Tensor:
        """G's loss from D's scores (B,) of G's fakes."""
        raise NotImplementedError

    def penalties(self, critic: Critic, real: Tensor, fake: Tensor,
                  scale: float = 1.0) -> dict[str, tuple[float, Tensor]]:
        """D's extra terms in training: name -> (weight, value); d_loss adds weight * value
        and the value is reported under its name. scale: the loss scale their input
        gradients are taken at (16-mixed; `_input_gradient`)."""
        return {}


def _refuse_minibatch(cfg, what: str, fixes: str) -> None:
    if cfg.minibatch_kernels:
        raise ConfigError(f"model.loss={cfg.loss!r} penalises per-sample {what}, which "
                          f"minibatch discrimination couples across the batch; set "
                          f"model.minibatch_kernels=0 or {fixes}.")


class BCELoss(AdversarialLoss):
    """The book's binary cross-entropy on logits (see the module docstring)."""

    name = "bce"

    def d_loss(self, d_real, d_fake):
        scores = torch.cat([d_fake, d_real])
        targets = torch.cat([torch.zeros_like(d_fake), torch.ones_like(d_real)])
        return {"d_loss": F.binary_cross_entropy_with_logits(scores, targets),
                **_sign_accuracy(d_real, d_fake)}

    def g_loss(self, d_fake):
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


class WGANGPLoss(AdversarialLoss):
    """WGAN-GP; reports "wasserstein" (mean D(real) - mean D(fake)), "gradient_penalty" and,
    with drift_weight > 0, "drift" (mean D(real)^2, in d_loss times drift_weight)."""

    name = "wgan-gp"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.n_critic = cfg.n_critic

    @classmethod
    def check(cls, cfg) -> None:
        _refuse_minibatch(cfg, "critic gradients", "model.loss='bce'")

    def d_loss(self, d_real, d_fake):
        wasserstein = d_real.mean() - d_fake.mean()
        if not self.cfg.drift_weight:
            return {"d_loss": -wasserstein, "wasserstein": wasserstein}
        drift = d_real.pow(2).mean()
        return {"d_loss": self.cfg.drift_weight * drift - wasserstein,
                "wasserstein": wasserstein, "drift": drift}

    def g_loss(self, d_fake):
        return -d_fake.mean()

    def penalties(self, critic, real, fake, scale=1.0):
        return {"gradient_penalty": (self.cfg.gp_weight,
                                     gradient_penalty(critic, real, fake, scale=scale))}


class HingeLoss(AdversarialLoss):
    """The hinge loss (Lim & Ye 2017; Miyato et al. 2018)."""

    name = "hinge"

    def d_loss(self, d_real, d_fake):
        loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        return {"d_loss": loss, **_sign_accuracy(d_real, d_fake)}

    def g_loss(self, d_fake):
        return -d_fake.mean()


class LogisticR1Loss(AdversarialLoss):
    """Non-saturating logistic loss + R1 (Goodfellow et al. 2014; Mescheder et al. 2018);
    reports "r1_penalty" (E||grad D(x)||^2, before the r1_gamma / 2) when r1_gamma > 0."""

    name = "logistic"

    @classmethod
    def check(cls, cfg) -> None:
        if cfg.r1_gamma > 0:
            _refuse_minibatch(cfg, "D gradients (R1)", "model.r1_gamma=0")

    def d_loss(self, d_real, d_fake):
        loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        return {"d_loss": loss, **_sign_accuracy(d_real, d_fake)}

    def g_loss(self, d_fake):
        return F.softplus(-d_fake).mean()

    def penalties(self, critic, real, fake, scale=1.0):
        if self.cfg.r1_gamma == 0:
            return {}
        return {"r1_penalty": (self.cfg.r1_gamma / 2, r1_penalty(critic, real, scale))}


ADVERSARIAL_LOSSES: dict[str, type[AdversarialLoss]] = {
    cls.name: cls for cls in (BCELoss, WGANGPLoss, HingeLoss, LogisticR1Loss)}
