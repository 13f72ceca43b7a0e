"""Quality of a generative run's samples on a feature network: FID, KID, precision/recall
and class coverage against a real split (what ``latentforge evaluate`` reports for VAEs and
GANs).

The network: the one the caller passes (e.g. `featurenet.load_feature_net(path)` of a
network from ``latentforge featurenet train``), else the shipped Fashion-MNIST network when
the run's samples are (1, 28, 28) images; its input shape must equal the run's sample
shape. Runs on data zero-padded by ``data.pad_to`` (e.g. Fashion-MNIST to 32x32 for ProGAN
and StyleGAN) are measured on their unpadded centre when the network takes that size:
samples and reference images are cropped back (`unpadded`; the reference images become
exactly the originals, the samples lose the border G drew around them).
"""
from __future__ import annotations

import time

from latentforge.errors import DataError, RunError

HOW_TO_MAKE = ("make one for this data with 'latentforge featurenet train --data SRC' and "
               "pass it with --feature-net FILE")


def sample_shape(run) -> tuple[int, ...]:
    """The shape of one of the run's samples (its model's items), e.g. (3, 32, 32)."""
    return tuple(run.model.sample_shape)


def unpadded(x, pad: dict | None):
    """Images (N, C, H, W) cropped back to the size before ``data.pad_to``; `pad` is the
    splits' ``info["pad_to"]`` (None: x unchanged)."""
    if pad is None:
        return x
    (h, w), top, left = pad["from"], pad["top"], pad["left"]
    return x[:, :, top:top + h, left:left + w]


def padding(run) -> dict | None:
    """How `run`'s data were padded (the splits' ``info["pad_to"]``), None when not."""
    if run.config.data.pad_to is None:
        return None
    return run.data().info.get("pad_to")


def metric_shape(run, net=None) -> tuple[int, ...]:
    """The image shape the sample metrics see: the run's sample shape, or its unpadded
    size for padded data when `net` takes that size (or is None: the shipped network)."""
    from latentforge.evaluation.featurenet import input_shape_of

    shape, pad = sample_shape(run), padding(run)
    if pad is None:
        return shape
    inner = (shape[0], *pad["from"])
    return inner if net is None or input_shape_of(net) in (None, inner) else shape


def no_network_reason(shape: tuple[int, ...]) -> str | None:
    """Why samples of `shape` have no default feature network (None when the shipped one
    fits)."""
    from latentforge.evaluation.featurenet import INPUT_SHAPE

    if tuple(shape) == INPUT_SHAPE:
        return None
    if len(shape) != 3:
        return (f"the run's items are table rows of shape {tuple(shape)}, and the sample "
                "metrics measure images (C, H, W)")
    return (f"the run's samples are {tuple(shape)} and the shipped feature network takes "
            f"Fashion-MNIST's {INPUT_SHAPE}; {HOW_TO_MAKE}")


def check_fits(net, shape: tuple[int, ...], name: str = "the feature network") -> None:
    """`DataError` when `net` declares an input shape other than `shape` (one of the run's
    samples); networks that declare none are trusted."""
    from latentforge.evaluation.featurenet import input_shape_of

    expected = input_shape_of(net)
    if expected is not None and expected != tuple(shape):
        raise DataError(f"{name} takes {expected} images, but this run's samples are "
                        f"{tuple(shape)}; {HOW_TO_MAKE}.")


def network_for(run, net=None):
    """The feature network for `run`'s samples: `net` (checked against the sample shape),
    else the shipped one for (1, 28, 28) samples; `RunError` when there is none."""
    from latentforge.evaluation.featurenet import load_feature_net

    shape = metric_shape(run, net)
    if net is not None:
        check_fits(net, shape, getattr(net, "path", None) or "the feature network")
        return net
    reason = no_network_reason(shape)
    if reason:
        raise RunError(f"No feature network for '{run.path}': {reason}.")
    return load_feature_net()


def sample_quality(run, n: int = 10_000, split: str = "test", seed: int = 0,
                   net=None) -> dict:
    """`n` samples of `run` (seeded) against the `split` images, on `net` (a
    `featurenet.FeatureNet`; default: see `network_for`). Returns `evaluate_samples`'s dict
    plus "split", "feature_net" (the network's file, when loaded from one) and "seconds".
    Shows the phases on a terminal (`evaluation.progress`)."""
    from latentforge.evaluation.generative import evaluate_samples
    from latentforge.evaluation.progress import phases
    from latentforge.generation.sampling import draw_samples

    if "generate" not in run.model.capabilities():
        raise RunError(f"'{run.path}' holds a {run.config.model_name}, which does not "
                       "generate samples.")
    net = network_for(run, net)
    start = time.perf_counter()
    crop = padding(run) if metric_shape(run, net) != sample_shape(run) else None
    reference = unpadded(run.split(split).x, crop)
    with phases("sample metrics", ["generate samples", "features", "metrics"]) as phase:
        phase("generate samples")
        images = unpadded(draw_samples(run.model, n, seed), crop)
        result = evaluate_samples(images, reference, net=net, seed=seed, phase=phase)
    return {**result, "split": split, "feature_net": getattr(net, "path", None),
            "seconds": round(time.perf_counter() - start, 1)}
