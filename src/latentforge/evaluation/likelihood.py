"""Log-likelihood of a VAE in nats: per-image ELBO and the importance-weighted NLL estimate.

For a Gaussian posterior q(z|x) = N(mean, exp(log_var)), prior p(z) = N(0, I) and a
Bernoulli decoder p(x|z) = prod Bernoulli(x_i; sigmoid(logits_i)):

    ELBO(x)   = E_q[log p(x|z)] - KL(q(z|x) || p(z))                  <= log p(x)
    IWAE_k(x) = E[log 1/k sum_i p(x|z_i) p(z_i) / q(z_i|x)], z_i ~ q  (Burda et al. 2016)

IWAE_1 = ELBO in expectation, IWAE_k grows with k towards log p(x); the reported NLL is
-IWAE_k (an upper bound on -log p(x) in expectation). log p(x|z) = -sum of the per-pixel
binary cross-entropies (a sum over pixels, not the book loss's mean).

Fashion-MNIST pixels are not binary: on targets in [0, 1] the Bernoulli "likelihood" is the
book's loss but not a normalised density (the continuous Bernoulli's normaliser is
missing), so these nats compare models on the same data and likelihood only, not with
binarised-MNIST results from the literature.

Model protocol: ``posterior(x) -> (mean, log_var)``, each (B, D), and ``decoder(z)`` ->
logits (B, *sample_shape). Noise comes from the given torch.Generator (on its device), else
the global RNG. The functions do not change the model's train/eval mode.
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import Tensor

from latentforge.errors import RunError
from latentforge.models.vae import kl_divergence, reparameterize
from latentforge.models.base import evaluating

LOG_2PI = math.log(2 * math.pi)
MAX_ROWS = 20_000  # decoded images held at once by iwae_nll_nats (20,000 x 784 floats)


def log_bernoulli(logits: Tensor, x: Tensor, event_dims: int) -> Tensor:
    """log p(x|z) in nats, summed over the last `event_dims` dims (one sample's pixels):
    logits (..., *sample_shape), x broadcastable to them -> (...)."""
    bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return -bce.flatten(-event_dims).sum(-1)


def log_standard_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I) over the last dim: (..., D) -> (...)."""
    return -0.5 * (LOG_2PI + z.square()).sum(-1)


def _noise(shape, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """N(0, 1) of `shape` from `generator` (else the global RNG), on like's device/dtype."""
    device = generator.device if generator is not None else like.device
    return torch.randn(tuple(shape), generator=generator, device=device).to(like)


@torch.no_grad()
def elbo_nats(model, x: Tensor, generator: torch.Generator | None = None, samples: int = 1,
              batch_size: int = 1000) -> Tensor:
    """Per-image ELBO (nats): x (N, *sample_shape) in [0, 1] -> (N,). The reconstruction
    term averages `samples` draws of z; the KL is analytic."""
    out = []
    for xb in x.split(batch_size):
        mean, log_var = model.posterior(xb)
        rec = torch.zeros(len(xb), dtype=mean.dtype, device=mean.device)
        for _ in range(samples):
            z = reparameterize(mean, log_var, _noise(mean.shape, generator, mean))
            rec += log_bernoulli(model.decoder(z), xb, xb.dim() - 1)
        out.append(rec / samples - kl_divergence(mean, log_var))
    return torch.cat(out)


@torch.no_grad()
def iwae_nll_nats(model, x: Tensor, k: int, generator: torch.Generator | None = None,
                  batch_size: int = 1000, max_rows: int = MAX_ROWS) -> Tensor:
    """Importance-weighted NLL estimate with k samples (nats): x (N, *sample_shape) -> (N,).

    -[logsumexp_i (log p(x|z_i) + log p(z_i) - log q(z_i|x)) - log k]; at most `max_rows`
    images are decoded at once (samples are taken in chunks, combined with logaddexp).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    out = []
    for xb in x.split(batch_size):
        mean, log_var = model.posterior(xb)
        total = torch.full((len(xb),), -math.inf, dtype=mean.dtype, device=mean.device)
        chunk = max(1, max_rows // len(xb))
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            log_w = _log_weights(model, xb, mean, log_var, _noise((m, *mean.shape),
                                                                  generator, mean))
            total = torch.logaddexp(total, torch.logsumexp(log_w, 0))
        out.append(math.log(k) - total)
    return torch.cat(out)


def _log_weights(model, x: Tensor, mean: Tensor, log_var: Tensor, eps: Tensor) -> Tensor:
    """log p(x|z) + log p(z) - log q(z|x) for z = mean + std * eps: eps (m, B, D) -> (m, B)."""
    z = reparameterize(mean, log_var, eps)
    m, b, d = z.shape
    logits = model.decoder(z.reshape(m * b, d)).reshape(m, b, *x.shape[1:])
    log_q = -0.5 * (LOG_2PI + log_var + eps.square()).sum(-1)
    return log_bernoulli(logits, x, x.dim() - 1) + log_standard_normal(z) - log_q


def likelihood_report(run, split: str = "test", k: int = 50, seed: int = 0,
                      limit: int | None = None, batch_size: int = 1000) -> dict:
    """Mean test-set ELBO and IWAE NLL (nats per image) of a VAE run.

    run: a `latentforge.api.Run` whose model has `posterior`; limit: a seeded sample of
    that many images (None: the whole split). Returns {"split", "n", "k", "elbo_nats",
    "neg_elbo_nats", "iwae_nll_nats", "seconds"}; iwae_nll_nats <= neg_elbo_nats on average.
    """
    model = run.model
    if "posterior" not in model.capabilities():
        raise RunError(f"'{run.path}' holds a {run.config.model_name}, not a VAE: the "
                       "likelihood needs a model with a Gaussian posterior (vae, conv_vae).")
    data = run.split(split)
    x = data.batch(data.sample_indices(limit, seed))
    device = next(model.parameters()).device
    x = x.to(device)
    start = time.perf_counter()
    with evaluating(model):
        elbo = elbo_nats(model, x, torch.Generator(device).manual_seed(seed),
                         batch_size=batch_size)
        nll = iwae_nll_nats(model, x, k, torch.Generator(device).manual_seed(seed + 1),
                            batch_size)
    return {"split": split, "n": len(x), "k": k, "elbo_nats": float(elbo.mean()),
            "neg_elbo_nats": float(-elbo.mean()), "iwae_nll_nats": float(nll.mean()),
            "seconds": round(time.perf_counter() - start, 2)}
