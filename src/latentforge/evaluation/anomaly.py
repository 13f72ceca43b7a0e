"""Anomaly scores of items under a trained model, thresholds, and AUROC.

Higher scores mean more anomalous. The scores (`SCORES`):

- "reconstruction": mean squared error of the reconstruction per item, in the data range
  (book ch. 17: "autoencoders ... can be used for anomaly detection"); MSE, not the
  training BCE, because per-item BCE mostly measures how much ink an image has.
- "knn": mean Euclidean distance of the item's codings to its k nearest codings of
  reference (normal, usually training) items: distance from the learned manifold of
  normal data in the autoencoder's representation.
- "elbo": the VAE's negative ELBO per item, in nats (-log p(x) bound).
- "discriminator": minus the GAN discriminator's raw score (logit or critic value): the
  less real D finds an item, the more anomalous.

Which scores a model gives follows its declared capabilities (`evaluation.capabilities`):
"reconstruct" -> reconstruction, "encode" -> knn, "posterior" -> elbo, "discriminate" ->
discriminator. Inputs x are (N, *sample_shape) floats in the data range ([0, 1] for
images). numpy and torch are imported inside the functions, so the CLI reads `SCORES`
without them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from latentforge.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

SCORES = ("reconstruction", "knn", "elbo", "discriminator")
# The capability each score needs.
NEEDS = {"reconstruction": "reconstruct", "knn": "encode", "elbo": "posterior",
         "discriminator": "discriminate"}
# The default score: the first of these whose capability the model has, else knn. knn for
# autoencoders: the one-class benchmark (README) measured mean AUROC 0.947 for knn against
# 0.860 for reconstruction with conv_ae on Fashion-MNIST.
DEFAULTS = (("posterior", "elbo"), ("discriminate", "discriminator"))


def default_score(model) -> str:
    """The default score of a model: negative ELBO for models with a posterior (VAEs), the
    discriminator for models with one (GANs), else the kNN distance of the codings
    (autoencoders; measured better than reconstruction error)."""
    caps = model.capabilities()
    return next((score for cap, score in DEFAULTS if cap in caps), "knn")


def usable_scores(capabilities) -> tuple[str, ...]:
    """The scores a model with these capabilities can give, in `SCORES` order."""
    return tuple(s for s in SCORES if NEEDS[s] in capabilities)


def check_capable_score(capabilities, score: str, what: str = "model") -> None:
    """Refuse a score that a model with `capabilities` cannot give; `what` names the model
    in the message (e.g. "gan")."""
    if score not in SCORES:
        raise ConfigError(f"Unknown anomaly score '{score}'. Available: {', '.join(SCORES)}")
    usable = usable_scores(capabilities)
    if score not in usable:
        raise ConfigError(f"A {what} run cannot give the '{score}' score; "
                          f"use one of: {', '.join(usable)}.")


def check_score(model, score: str, what: str = "model") -> None:
    """Refuse a score the model cannot give, with the scores it can."""
    check_capable_score(model.capabilities(), score, what)
    if score == "discriminator" and "conditional" in model.capabilities():
        raise ConfigError("Anomaly scores of a conditional GAN would need each item's "
                          "label; train an unconditional GAN (model.conditional=false).")


def reconstruction_error(model, x: Tensor, batch_size: int = 1000) -> Tensor:
    """Per-item MSE between x and its reconstruction: (N, ...) -> (N,)."""
    import torch

    with torch.inference_mode():
        return torch.cat([(model.reconstruct(xb) - xb).square().flatten(1).mean(1)
                          for xb in x.split(batch_size)])


def discriminator_score(model, x: Tensor, batch_size: int = 1000) -> Tensor:
    """Minus D's raw score of each item (eval mode): (N, ...) -> (N,)."""
    import torch

    from latentforge.models.base import evaluating

    with torch.inference_mode(), evaluating(model):
        return torch.cat([-model.score(model.to_model(xb)).reshape(-1)
                          for xb in x.split(batch_size)])


def knn_distance(codings: Tensor, reference: Tensor, k: int = 5) -> Tensor:
    """Mean Euclidean distance of each coding (N, D) to its k nearest reference codings
    (M, D) -> (N,). An item that is itself in `reference` counts its zero distance."""
    from latentforge.evaluation.search import nearest

    _, dist = nearest(codings, reference, k=k)
    return dist.mean(1)


def anomaly_scorer(model, score: str, reference: Tensor | None = None, k: int = 5,
                   encode=None) -> Callable[[Tensor], Tensor]:
    """A function: items x (N, *sample_shape) -> their scores (N,) under `model` by `score`
    (see `SCORES`); score many sets with it, the reference codings are computed once.

    reference: normal items (M, *sample_shape), needed by "knn"; encode: x -> codings
    (default model.encode, batched by the caller's Run.encode when given)."""
    import torch

    check_score(model, score)
    if score == "reconstruction":
        return lambda x: reconstruction_error(model, x)
    if score == "elbo":
        from latentforge.evaluation.likelihood import elbo_nats

        return lambda x: -elbo_nats(model, x, generator=torch.Generator().manual_seed(0))
    if score == "discriminator":
        return lambda x: discriminator_score(model, x)
    if reference is None:
        raise DataError("The knn score needs reference (normal) items to compare with.")
    encode = encode or model.encode
    with torch.inference_mode():
        codings = encode(reference)

    def knn(x: Tensor) -> Tensor:
        with torch.inference_mode():
            return knn_distance(encode(x), codings, k)

    return knn


def anomaly_scores(model, x: Tensor, score: str, reference: Tensor | None = None,
                   k: int = 5, encode=None) -> Tensor:
    """Scores (N,) of items x under `model` by `score`: `anomaly_scorer(...)(x)`."""
    return anomaly_scorer(model, score, reference, k, encode)(x)


def contamination_threshold(scores: Tensor, rate: float) -> float:
    """The score above which the top `rate` share of `scores` lies (0 < rate < 1)."""
    import torch

    if not 0 < rate < 1:
        raise DataError(f"The contamination rate must be in (0, 1), got {rate}.")
    return float(torch.quantile(scores.double(), 1 - rate))


def percentile_threshold(reference_scores: Tensor, percentile: float) -> float:
    """The `percentile` (0-100) of normal items' scores: items above it are anomalous."""
    import torch

    if not 0 < percentile < 100:
        raise DataError(f"The percentile must be in (0, 100), got {percentile}.")
    return float(torch.quantile(reference_scores.double(), percentile / 100))


def auroc(scores: Tensor | np.ndarray, is_anomaly: Tensor | np.ndarray) -> float:
    """Area under the ROC curve of scores (N,) against is_anomaly (N,) booleans."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(is_anomaly, dtype=bool)
    if labels.all() or not labels.any():
        raise DataError("AUROC needs both normal and anomalous items.")
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64)))
