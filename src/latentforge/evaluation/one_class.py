"""The one-class anomaly detection protocol (Ruff et al. 2018, "Deep One-Class
Classification"; Golan & El-Yaniv 2018, "Deep Anomaly Detection Using Geometric
Transformations"): for each class c, train a model on the training items of class c only,
score every test item, and measure the AUROC of "not class c" (9,000 anomalous against
1,000 normal test images on Fashion-MNIST). Repeated over seeds, reported per class as
mean +- std and averaged over classes.

Besides the model's scores, every class also gets the raw-pixel kNN baseline (the same
knn score on pixels instead of codings), so the table shows what the model adds.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from latentforge.errors import DataError
from latentforge.evaluation.anomaly import (anomaly_scores, auroc, check_capable_score,
                                            knn_distance)

log = logging.getLogger(__name__)
PIXELS = "pixel_knn"


def class_scores(run, normal: int, scores, k: int = 5) -> dict[str, float]:
    """AUROC of each score of a run trained on class `normal`, over its test split."""
    test, train = run.split("test"), run.split("train")
    x = test.batch(torch.arange(len(test)))
    reference = train.batch(torch.arange(len(train)))
    is_anomaly = (test.y != normal).numpy()
    return {s: auroc(anomaly_scores(run.model, x, s, reference, k, run.encode), is_anomaly)
            for s in scores}


def pixel_baseline(splits, normal: int, k: int = 5) -> float:
    """AUROC of the kNN distance on raw pixels (no model) for normal class `normal`."""
    from latentforge.data.loader import keep_classes

    train = keep_classes(splits, [normal]).train
    x = splits.test.batch(torch.arange(len(splits.test))).flatten(1)
    reference = train.batch(torch.arange(len(train))).flatten(1)
    return auroc(knn_distance(x, reference, k), (splits.test.y != normal).numpy())


def run_protocol(model: str, recipe: str = "fast", classes=None, seeds=(0,),
                 scores=("knn", "reconstruction"), k: int = 5, overrides=(),
                 runs_dir: str | Path = "runs/one-class", progress=None) -> dict:
    """Train one model per (class, seed) and measure the AUROC of each score.

    Returns {"model", "recipe", "k", "seeds", "scores", "auroc": {score: {class: [per
    seed]}}, "seconds": {class: training + scoring wall time}}; the pixel baseline is
    the score "pixel_knn" (deterministic, one value per class).
    progress: called with a line of text after each (class, seed).
    """
    from latentforge.api import train
    from latentforge.config import build_config
    from latentforge.data import load_data
    from latentforge.data.loader import keep_classes
    from latentforge.registry import get_spec

    base = build_config(model, recipe, overrides=overrides)
    for s in scores:
        check_capable_score(get_spec(model).model_cls.CAPABILITIES, s, model)
    full = load_data(base.data)
    if full.train.y is None or full.test is None:
        raise DataError(f"The one-class protocol needs labelled train and test splits; "
                        f"'{base.data.source}' has none.")
    classes = list(range(int(full.train.y.max()) + 1)) if classes is None else list(classes)
    table = {s: {c: [] for c in classes} for s in (*scores, PIXELS)}
    seconds = {}
    for c in classes:
        start = time.perf_counter()
        splits = keep_classes(full, [c])
        for seed in seeds:
            cfg = build_config(model, recipe, overrides=[*overrides, f"train.seed={seed}",
                                                         f"data.train_classes=[{c}]"])
            run = train(cfg, run_dir=Path(runs_dir) / f"class{c}-seed{seed}",
                        overwrite=True, splits=splits)
            for s, value in class_scores(run, c, scores, k).items():
                table[s][c].append(value)
            if progress:
                progress(f"class {c} seed {seed}: " + ", ".join(
                    f"{s} {table[s][c][-1]:.4f}" for s in scores))
        table[PIXELS][c].append(pixel_baseline(full, c, k))
        seconds[c] = time.perf_counter() - start
    return {"model": model, "recipe": recipe, "k": k, "seeds": list(seeds),
            "overrides": list(overrides), "scores": [*scores, PIXELS],
            "classes": full.test.classes, "auroc": table, "seconds": seconds}


def auroc_rows(result: dict) -> list[list[str]]:
    """Table rows: class, then "mean +- std" per score; last row the mean over classes
    (of the per-class means) +- the std over seeds of the class-averaged AUROC."""
    scores, table = result["scores"], result["auroc"]
    names = result.get("classes")
    rows = []
    for c in next(iter(table.values())):
        label = f"{c} {names[c]}" if names else str(c)
        rows.append([label, *(_mean_std(table[s][c]) for s in scores)])
    means = []
    for s in scores:
        per_seed = np.array([v for v in table[s].values()], dtype=float)  # (classes, seeds)
        means.append(_mean_std(per_seed.mean(0)) if per_seed.shape[1] > 1
                     else f"{per_seed.mean():.4f}")
    rows.append(["mean", *means])
    return rows


def _mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{values.mean():.4f} +- {values.std(ddof=1):.4f}"


def markdown_table(result: dict) -> str:
    """The per-class AUROC table of a `run_protocol` result, as Markdown."""
    head = ["class", *result["scores"]]
    lines = [f"One-class AUROC, {result['model']} ({result['recipe']}), seeds "
             f"{result['seeds']}, k={result['k']}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in auroc_rows(result)]
    return "\n".join(lines)
