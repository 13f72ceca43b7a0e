"""Variational autoencoders (`vae`, `conv_vae`), their likelihood (ELBO, IWAE) and the
latent-space operations of `latentforge.generation`.

Analytic checks: the KL term against a hand value and torch.distributions, the book loss
against a hand computation, ELBO/IWAE against exact log-likelihoods (a posterior equal to
the prior, and a 1-D latent integrated by quadrature), slerp geometry and TF's resize grid.
The registry-wide basics (train, exact resume, checkpoints) live in test_conformance.py.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import latentforge as lf
from conftest import make_tiny_cfg
from latentforge.api import build_model
from latentforge.config import build_config
from latentforge.errors import ConfigError, RunError
from latentforge.evaluation.likelihood import elbo_nats, iwae_nll_nats, likelihood_report
from latentforge.generation import (grid_interpolation, interpolate, interpolate_images, lerp,
                                    semantic_interpolation, slerp, traversal, traversal_images)
from latentforge.models.vae import kl_divergence, reparameterize


def vae(*overrides, name="vae", shape=(1, 28, 28), recipe="book"):
    return build_model(build_config(name, recipe, overrides=list(overrides)), shape)


# ---------------------------------------------------------------- architecture, config

def test_book_vae_matches_the_keras_model():
    model = vae()
    # Keras summary: encoder 117,750 + 15,100 + 2 x 1,010; decoder 1,100 + 15,150 + 118,384.
    assert sum(p.numel() for p in model.encoder.parameters()) == 134_870
    assert sum(p.numel() for p in model.decoder.parameters()) == 134_634
    assert model.coding_dim == 10
    cfg = build_config("vae", "book").train
    assert (cfg.optimizer, cfg.lr, cfg.rho, cfg.eps) == ("rmsprop", 1e-3, 0.9, 1e-7)
    assert (cfg.epochs, cfg.batch_size) == (25, 128)
    bias = model.encoder.mean.bias
    assert torch.equal(bias, torch.zeros_like(bias))  # Keras: zero biases, Glorot kernels


@pytest.mark.parametrize("name", ["vae", "conv_vae"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8)])
def test_shapes(name, shape):
    tiny = ["model.filters=[4, 4, 4]"] if name == "conv_vae" else []
    model = vae(*tiny, "model.latent_dim=3", name=name, shape=shape).eval()
    x = torch.rand(5, *shape)
    mean, log_var = model.posterior(x)
    assert mean.shape == log_var.shape == (5, 3)
    assert torch.equal(model.encode(x), mean)  # deterministic codings = posterior mean
    assert torch.equal(model.encoder(x), mean)  # model.encoder is reusable (pretraining)
    recon = model.reconstruct(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    assert model.generate(4).shape == (4, *shape)


def test_vae_works_on_tables():
    model = vae("model.latent_dim=2", shape=(7,))
    assert model.reconstruct(torch.rand(3, 7)).shape == (3, 7)


@pytest.mark.parametrize("override,fragment", [
    ('model.arch="rnn"', "model.arch"),
    ('model.output="linear"', "model.output"),
    ("model.latent_dim=0", "model.latent_dim"),
    ("model.beta=-1", "model.beta"),
    ("model.hidden=[]", "model.hidden"),
    ("model.kernel=4", "model.kernel"),
])
def test_bad_config_raises_config_error(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        vae(override, name="conv_vae" if "kernel" in override else "vae")


def test_conv_vae_refuses_tables_and_small_images():
    with pytest.raises(ConfigError, match=r"\(C, H, W\)"):
        vae(name="conv_vae", shape=(7,))
    with pytest.raises(ConfigError, match="at least 8x8"):
        vae(name="conv_vae", shape=(1, 6, 6))


def test_arch_override_equals_conv_vae():
    a = vae('model.arch="conv"', "model.filters=[4, 4]", shape=(1, 8, 8))
    b = vae("model.filters=[4, 4]", name="conv_vae", shape=(1, 8, 8))
    assert a.state_dict().keys() == b.state_dict().keys()


# ---------------------------------------------------------------- sampling and losses

def test_reparameterization_gradient_flows_to_mean_and_log_var():
    mean = torch.tensor([[0.5, -1.0]], requires_grad=True)
    log_var = torch.tensor([[0.2, -0.4]], requires_grad=True)
    eps = torch.tensor([[1.5, -0.3]])
    z = reparameterize(mean, log_var, eps)
    assert torch.allclose(z, mean + torch.exp(log_var / 2) * eps)
    z.sum().backward()
    assert torch.allclose(mean.grad, torch.ones_like(mean))
    assert torch.allclose(log_var.grad, 0.5 * torch.exp(log_var.detach() / 2) * eps)


def test_reparameterization_samples_have_the_posterior_moments():
    torch.manual_seed(0)
    mean, log_var = torch.full((200_000, 1), 2.0), torch.full((200_000, 1), math.log(9.0))
    z = reparameterize(mean, log_var)
    assert abs(z.mean().item() - 2.0) < 0.03 and abs(z.std().item() - 3.0) < 0.03


def test_kl_divergence_analytic():
    mean, log_var = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    # 1/2 sum(exp(g) + mu^2 - 1 - g) = 1/2 (1 + (4 + 4 - 1 - log 4))
    assert kl_divergence(mean, log_var).item() == pytest.approx(0.5 * (8 - math.log(4)))
    q = torch.distributions.Normal(mean, torch.exp(log_var / 2))
    p = torch.distributions.Normal(0.0, 1.0)
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(kl_divergence(mean, log_var), expected)
    assert kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0


def test_loss_is_mean_pixel_bce_plus_kl_over_784():
    model = vae()
    x = torch.rand(6, 1, 28, 28)
    torch.manual_seed(3)
    terms = model.losses(x)
    torch.manual_seed(3)
    mean, log_var = model.posterior(x)
    p = torch.sigmoid(model.decoder(mean + torch.exp(log_var / 2) * torch.randn(6, 10)))
    bce = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).mean()
    kl = (-0.5 * (1 + log_var - log_var.exp() - mean ** 2).sum(1)).mean()
    assert torch.allclose(terms["reconstruction"], bce, atol=1e-6)
    assert torch.allclose(terms["latent"], kl / 784)
    assert torch.allclose(terms["loss"], bce + kl / 784, atol=1e-6)
    beta = vae("model.beta=4")
    beta.load_state_dict(model.state_dict())
    torch.manual_seed(3)
    assert torch.allclose(beta.losses(x)["latent"], 4 * kl / 784)


def test_eval_step_is_reproducible_and_keeps_the_global_rng():
    model = vae().eval()
    x = torch.rand(8, 1, 28, 28)
    state = torch.get_rng_state()
    first, again = model.eval_step(x, None), model.eval_step(x, None)
    assert torch.equal(torch.get_rng_state(), state)
    assert first.keys() == {"loss", "reconstruction", "latent", "rounded_accuracy"}
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert torch.allclose(first["loss"], first["reconstruction"] + first["latent"])
    other = vae("model.eval_seed=1").eval()
    other.load_state_dict(model.state_dict())
    assert not torch.equal(other.eval_step(x, None)["reconstruction"], first["reconstruction"])


def test_generate_range_and_determinism():
    model = vae().eval()
    state = torch.get_rng_state()
    a = model.generate(6, torch.Generator().manual_seed(1))
    b = model.generate(6, torch.Generator().manual_seed(1))
    c = model.generate(6, torch.Generator().manual_seed(2))
    assert torch.equal(torch.get_rng_state(), state)  # a generator given: global RNG kept
    assert a.shape == (6, 1, 28, 28) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(5)
    d = model.generate(6)
    torch.manual_seed(5)
    assert torch.equal(d, model.generate(6))
    assert torch.equal(model.decode(torch.randn(6, 10, generator=torch.Generator()
                                                .manual_seed(1))), a)


# ---------------------------------------------------------------- likelihood

class PriorPosterior(torch.nn.Module):
    """q(z|x) = p(z) = N(0, I) and logits independent of z: log p(x) is exact in closed
    form, and ELBO = IWAE_k = log p(x) for every sample."""

    def __init__(self, logits: torch.Tensor, latent_dim: int = 3):
        super().__init__()
        self.logits, self.latent_dim = logits, latent_dim

    def posterior(self, x):
        zeros = torch.zeros(len(x), self.latent_dim, dtype=x.dtype)
        return zeros, zeros.clone()

    def decoder(self, z):
        return self.logits.expand(len(z), *self.logits.shape)


class OneDimLatent(torch.nn.Module):
    """1-D latent, logits = w z + b for 3 pixels, q(z|x) = N(m, s^2) (not the posterior)."""

    w = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    b = torch.tensor([0.1, 0.2, -0.3], dtype=torch.float64)
    m, s = 0.3, 1.0  # wider than the true posterior N(0.87, 0.76^2): bounded weights

    def posterior(self, x):
        n = len(x)
        return (torch.full((n, 1), self.m, dtype=x.dtype),
                torch.full((n, 1), 2 * math.log(self.s), dtype=x.dtype))

    def decoder(self, z):
        return z * self.w + self.b

    def quadrature(self, x):
        """Exact (log p(x), ELBO) of one x (3,) by integrating over a fine z grid."""
        z = torch.linspace(-12, 12, 48_001, dtype=torch.float64)[:, None]
        log_lik = -F.binary_cross_entropy_with_logits(self.decoder(z), x.expand(len(z), 3),
                                                      reduction="none").sum(1)
        prior = torch.distributions.Normal(0.0, 1.0).log_prob(z[:, 0])
        q = torch.distributions.Normal(self.m, self.s).log_prob(z[:, 0]).exp()
        dz = float(z[1] - z[0])
        log_px = torch.logsumexp(log_lik + prior, 0) + math.log(dz)
        kl = kl_divergence(torch.tensor([[self.m]]), torch.tensor([[2 * math.log(self.s)]]))
        return float(log_px), float((q * log_lik).sum() * dz - kl.double())


def test_posterior_equal_to_prior_gives_the_exact_likelihood():
    torch.manual_seed(0)
    logits, x = torch.randn(1, 4, 4), torch.rand(5, 1, 4, 4)
    model = PriorPosterior(logits)
    exact = -F.binary_cross_entropy_with_logits(logits.expand_as(x), x,
                                                reduction="none").sum((1, 2, 3))
    gen = torch.Generator().manual_seed(0)
    assert torch.allclose(elbo_nats(model, x, gen), exact, atol=1e-5)
    for k in (1, 7, 50):
        assert torch.allclose(iwae_nll_nats(model, x, k, gen), -exact, atol=1e-4)


def test_iwae_approaches_the_exact_likelihood_and_bounds_the_elbo():
    model = OneDimLatent()
    x1 = torch.tensor([1.0, 0.0, 0.7], dtype=torch.float64)
    log_px, elbo_exact = model.quadrature(x1)
    assert elbo_exact < log_px - 0.3  # q is not the posterior: a visible gap
    x = x1.expand(20_000, 3)  # independent estimates of the same image
    gen = torch.Generator().manual_seed(0)
    elbo = elbo_nats(model, x, gen).mean().item()
    assert elbo == pytest.approx(elbo_exact, abs=0.02)
    nll_1 = iwae_nll_nats(model, x, 1, gen).mean().item()
    assert nll_1 == pytest.approx(-elbo_exact, abs=0.03)  # IWAE_1 = ELBO in expectation
    nll_10 = iwae_nll_nats(model, x[:1000], 10, gen).mean().item()
    nll_500 = iwae_nll_nats(model, x[:100], 500, gen, max_rows=64).mean().item()  # chunked
    assert -elbo_exact > nll_10 > nll_500 >= -log_px - 0.01
    assert nll_500 == pytest.approx(-log_px, abs=0.01)


def test_iwae_rejects_k_below_one():
    with pytest.raises(ValueError, match="k must be"):
        iwae_nll_nats(OneDimLatent(), torch.zeros(1, 3, dtype=torch.float64), 0)


def test_eval_loss_is_minus_elbo_per_pixel():
    model = vae().eval()
    x = torch.rand(16, 1, 28, 28)
    loss = model.eval_step(x, None)["loss"]
    elbo = elbo_nats(model, x, torch.Generator().manual_seed(model.cfg.eval_seed))
    assert loss.item() * 784 == pytest.approx(-elbo.mean().item(), rel=1e-5)


def test_likelihood_report_of_a_tiny_run(tmp_path):
    run = lf.train(make_tiny_cfg("vae", epochs=1), run_dir=tmp_path / "vae")
    report = likelihood_report(run, split="test", k=20)
    assert (report["split"], report["n"], report["k"]) == ("test", 40, 20)
    assert report["neg_elbo_nats"] == -report["elbo_nats"]
    assert 0 < report["iwae_nll_nats"] <= report["neg_elbo_nats"]
    again = likelihood_report(run, k=20)  # seeded: the same numbers (timing aside)
    assert {**again, "seconds": 0} == {**report, "seconds": 0}
    stacked = lf.train(make_tiny_cfg("stacked_ae", epochs=1), run_dir=tmp_path / "ae")
    with pytest.raises(RunError, match="not a VAE"):
        likelihood_report(stacked)


# ---------------------------------------------------------------- latent operations

def test_lerp_and_slerp_endpoints_and_shapes():
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    for fn in (lerp, slerp):
        assert torch.allclose(fn(a, b, 0.0), a, atol=1e-6)
        assert torch.allclose(fn(a, b, 1.0), b, atol=1e-5)
        assert fn(a, b, torch.linspace(0, 1, 7)).shape == (7, 4, 5)
    assert torch.allclose(lerp(a, b, 0.25), 0.75 * a + 0.25 * b)
    path = interpolate(a[0], b[0], 6, "slerp")
    assert path.shape == (6, 5) and torch.allclose(path[-1], b[0], atol=1e-5)
    with pytest.raises(ValueError, match="method"):
        interpolate(a, b, 3, "cubic")


def test_slerp_keeps_unit_norm_and_follows_the_great_circle():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(10, 8), dim=-1), F.normalize(torch.randn(10, 8), dim=-1)
    path = slerp(a, b, torch.linspace(0, 1, 9))
    assert torch.allclose(path.norm(dim=-1), torch.ones(9, 10), atol=1e-5)
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(slerp(e1, e2, 0.5), torch.tensor([1.0, 1.0]) / math.sqrt(2))
    assert torch.allclose(slerp(e1, e2, 1 / 3), torch.tensor([math.cos(math.pi / 6),
                                                              math.sin(math.pi / 6)]))


def test_slerp_of_parallel_vectors_is_lerp():
    a = torch.tensor([1.0, 2.0, 3.0])
    for b in (2 * a, a.clone(), -a):
        out = slerp(a, b, torch.linspace(0, 1, 5))
        assert torch.isfinite(out).all()
        assert torch.allclose(out, lerp(a, b, torch.linspace(0, 1, 5)), atol=1e-5)


def test_grid_interpolation_tf_resize_values():
    torch.manual_seed(0)
    grid = torch.randn(3, 4, 10)
    big = grid_interpolation(grid, (5, 7))
    assert big.shape == (5, 7, 10)
    for (r, c), (R, C) in [((0, 0), (0, 0)), ((0, 3), (0, 6)), ((2, 0), (4, 0)),
                           ((2, 3), (4, 6))]:
        assert torch.allclose(big[R, C], grid[r, c], atol=1e-6)  # corners kept
    # TF2 tf.image.resize (half-pixel centres): output row 1 reads source row
    # (1 + 0.5) * 3/5 - 0.5 = 0.4, column 0 reads source column 0 (clamped).
    assert torch.allclose(big[1, 0], 0.6 * grid[0, 0] + 0.4 * grid[1, 0], atol=1e-6)
    aligned = grid_interpolation(grid, (5, 7), align_corners=True)
    assert torch.allclose(aligned[::2, ::2], grid, atol=1e-6)  # originals every other cell
    assert torch.allclose(aligned[1, 1], grid[:2, :2].mean((0, 1)), atol=1e-6)


def test_traversal_changes_only_one_dimension():
    z = torch.arange(4.0)
    out = traversal(z, 2, torch.tensor([-1.0, 0.0, 5.0]))
    assert out.shape == (3, 4)
    assert torch.equal(out[:, 2], torch.tensor([-1.0, 0.0, 5.0]))
    assert torch.equal(out[:, [0, 1, 3]], z[[0, 1, 3]].expand(3, 3))
    with pytest.raises(ValueError, match="out of range"):
        traversal(z, 4, torch.zeros(2))


def test_helpers_decode_paths_grids_and_traversals():
    model = vae("model.latent_dim=3", shape=(1, 8, 8)).eval()
    xa, xb = torch.rand(1, 8, 8), torch.rand(1, 8, 8)
    path = interpolate_images(model, xa, xb, steps=5, method="slerp")
    assert path.shape == (5, 1, 8, 8)
    assert torch.allclose(path[0], model.reconstruct(xa[None])[0], atol=1e-6)
    assert torch.allclose(path[-1], model.reconstruct(xb[None])[0], atol=1e-5)
    batch = interpolate_images(model, torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), 4)
    assert batch.shape == (4, 2, 1, 8, 8)
    grid = semantic_interpolation(model, torch.randn(3, 4, 3), (5, 7))
    assert grid.shape == (5, 7, 1, 8, 8)
    values = torch.linspace(-3, 3, 7)
    trav = traversal_images(model, xa, values, dims=[0, 2])
    assert trav.shape == (2, 7, 1, 8, 8)
    z = model.encode(xa[None])[0]
    assert torch.allclose(trav[1, 0], model.decode(traversal(z, 2, values))[0], atol=1e-6)
