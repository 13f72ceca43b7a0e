"""Probes of representation quality: how well simple classifiers read the class out of the
codings (the usual protocol for representation learning; see ARCHITECTURE.md).

- `linear_probe_accuracy`: multinomial logistic regression (scikit-learn, lbfgs) on codings
  standardised with the TRAIN codings' mean and std; deterministic.
- `knn_accuracy`: k-nearest-neighbour vote (Euclidean, raw codings: distances in the
  coding space as the model made it).
- `probe_run`: both, on a run's train codings against its test codings (valid when the
  source has no test split).

Codings are arrays (N, D) (numpy or torch), labels int (N,).
"""
from __future__ import annotations

import warnings

import numpy as np

from latentforge.errors import DataError


def _check(train_codes, train_y, test_codes, test_y) -> tuple[np.ndarray, ...]:
    """float64 (N, D) codings and int64 (N,) labels, checked; DataError on bad input."""
    out = []
    for name, codes, y in (("train", train_codes, train_y), ("test", test_codes, test_y)):
        codes = np.asarray(codes, dtype=np.float64)
        y = np.asarray(y)
        if codes.ndim != 2 or len(codes) == 0:
            raise DataError(f"{name} codings must be a non-empty (N, D) array, got shape "
                            f"{codes.shape}")
        if y.shape != (len(codes),):
            raise DataError(f"{name} labels must have shape ({len(codes)},), got {y.shape}")
        if not np.isfinite(codes).all():
            raise DataError(f"{name} codings contain NaN or infinite values; the model "
                            "may have diverged.")
        out += [codes, y.astype(np.int64)]
    if out[0].shape[1] != out[2].shape[1]:
        raise DataError(f"train and test codings differ in size: {out[0].shape[1]} vs "
                        f"{out[2].shape[1]}")
    if len(np.unique(out[1])) < 2:
        raise DataError("The probe's training labels hold a single class; use more items "
                        "(--limit) or a labelled source with several classes.")
    return tuple(out)


def linear_probe_accuracy(train_codes, train_y, test_codes, test_y, c: float = 1.0,
                          max_iter: int = 1000) -> float:
    """Accuracy on the test codings of a logistic regression fit on standardised train codings.

    c: inverse L2 strength (scikit-learn's C); lbfgs, no randomness.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr, ytr, xte, yte = _check(train_codes, train_y, test_codes, test_y)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    with warnings.catch_warnings():  # max_iter bounds the time; the score is still valid
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    return float(clf.score(xte, yte))


def knn_accuracy(train_codes, train_y, test_codes, test_y, k: int = 5) -> float:
    """Accuracy on the test codings of a k-nearest-neighbour vote among the train codings."""
    from sklearn.neighbors import KNeighborsClassifier

    if not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"k must be a positive integer, got {k!r}")
    xtr, ytr, xte, yte = _check(train_codes, train_y, test_codes, test_y)
    if k > len(xtr):
        raise DataError(f"k={k} is larger than the {len(xtr)} training codings; lower --k "
                        "or raise --limit.")
    clf = KNeighborsClassifier(n_neighbors=k).fit(xtr, ytr)
    return float(clf.score(xte, yte))


def _codings(run, data, n: int | None, seed: int):
    """Codings and labels of `n` items of `data` (a seeded sample; all when n is None)."""
    if data.y is None:
        raise DataError(f"Probes need class labels and the data source "
                        f"'{run.config.data.source}' has none.")
    idx = data.sample_indices(n, seed)
    codes = run.encode(data.batch(idx))
    return codes.reshape(len(idx), -1).numpy(), data.y[idx].numpy()


def probe_run(run, n_train: int | None = None, k: int = 5, seed: int = 0) -> dict:
    """Linear-probe and kNN accuracy of `run`'s codings: fit on its train split (a seeded
    sample of `n_train` items when given), score on its test split (valid if no test).

    Returns {"linear_probe", "knn", "k", "n_train", "n_eval", "eval_split", "coding_dim"};
    shows the phases on a terminal (`evaluation.progress`).
    """
    from latentforge.evaluation.capabilities import require
    from latentforge.evaluation.progress import phases

    require(run, "encode", "probe")
    if n_train is not None and n_train < 2:
        raise DataError(f"--limit must be at least 2, got {n_train}")
    splits = run.data()
    eval_split = "test" if splits.test is not None and len(splits.test) else "valid"
    evaluation = run.split(eval_split)
    if len(evaluation) == 0:
        raise DataError("The run's data has neither a test nor a validation split to "
                        "score the probes on.")
    names = ["encode train", f"encode {eval_split}", "logistic regression", "kNN"]
    with phases("probe", names) as phase:
        phase(names[0])
        xtr, ytr = _codings(run, run.split("train"), n_train, seed)
        phase(names[1])
        xte, yte = _codings(run, evaluation, None, seed)
        phase(names[2])
        linear = linear_probe_accuracy(xtr, ytr, xte, yte)
        phase(names[3])
        knn = knn_accuracy(xtr, ytr, xte, yte, k=k)
    return {"linear_probe": linear, "knn": knn, "k": k, "n_train": len(xtr),
            "n_eval": len(xte), "eval_split": eval_split, "coding_dim": int(xtr.shape[1])}


def format_probe_table(result: dict, name: str = "") -> str:
    """The table `latentforge probe` prints."""
    lines = [f"{name + ': ' if name else ''}{result['coding_dim']}-D codings, fit on "
             f"{result['n_train']} train items, scored on {result['n_eval']} "
             f"{result['eval_split']} items",
             f"{'probe':32s} {'accuracy':>9s}",
             f"{'linear (logistic regression)':32s} {result['linear_probe']:9.4f}",
             f"{'kNN (k=' + str(result['k']) + ')':32s} {result['knn']:9.4f}"]
    return "\n".join(lines)
