"""Quality of a generative run's samples on the shipped Fashion-MNIST feature network:
FID, KID, precision/recall and class coverage against a real split (what
``latentforge evaluate`` reports for VAEs and GANs)."""
from __future__ import annotations

import time

from latentforge.errors import RunError

SOURCES = ("fashion-mnist",)  # what the shipped feature network was trained on


def sample_quality(run, n: int = 10_000, split: str = "test", seed: int = 0,
                   net=None) -> dict:
    """`n` samples of `run` (seeded) against the `split` images; `net`: a feature network
    for other data (default: the shipped Fashion-MNIST one, only for Fashion-MNIST runs).
    Returns `evaluate_samples`'s dict plus "split" and "seconds". Shows the phases on a
    terminal (`evaluation.progress`)."""
    from latentforge.evaluation.generative import evaluate_samples
    from latentforge.evaluation.progress import phases
    from latentforge.generation.sampling import draw_samples

    if "generate" not in run.model.capabilities():
        raise RunError(f"'{run.path}' holds a {run.config.model_name}, which does not "
                       "generate samples.")
    if net is None and run.config.data.source not in SOURCES:
        raise RunError(f"Sample metrics use a feature network trained on Fashion-MNIST; "
                       f"this run's data is '{run.config.data.source}'. Pass your own "
                       "network: latentforge.evaluation.generative.evaluate_samples(net=...).")
    start = time.perf_counter()
    reference = run.split(split).x
    with phases("sample metrics", ["generate samples", "features", "metrics"]) as phase:
        phase("generate samples")
        images = draw_samples(run.model, n, seed)
        result = evaluate_samples(images, reference, net=net, seed=seed, phase=phase)
    return {**result, "split": split, "seconds": round(time.perf_counter() - start, 1)}
