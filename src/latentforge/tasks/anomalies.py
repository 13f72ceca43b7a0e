"""Anomaly detection with a run trained on normal data: score items (`items.load_items`:
a folder of images, one image, a data source, a split), flag those above a threshold (a
percentile of the run's validation scores, or a contamination rate), the AUROC when the
run was trained on some classes only and the items are labelled, then the CSV of the
scores and the figure of the most anomalous items (separate functions); `anomaly_detector`
keeps a run's score and threshold to score items given later (one image at a time)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from latentforge.errors import ConfigError
from latentforge.tasks.items import Items, Labels, load_items, split_items


@dataclass
class Anomalies:
    """scores (N,) and flagged (N,) bool tensors of `items`; the threshold and the rule
    that set it; auroc of "not the run's train classes" (None, with auroc_note saying why,
    when it cannot be measured; both None when it does not apply)."""

    items: Items
    score: str
    scores: object
    flagged: object
    threshold: float
    rule: str
    auroc: float | None = None
    auroc_note: str | None = None

    @property
    def names(self) -> list[str]:
        return self.items.names


def score_anomalies(run, data: str | Path | None = None, split: str = "test",
                    score: str = "auto", k: int = 5, contamination: float | None = None,
                    percentile: float = 99.0) -> Anomalies:
    """Score the items of `data` (`load_items`; None: the run's own `split`) by `score`
    ("auto": the model's default, `evaluation.anomaly.default_score`); flag the top
    `contamination` share, or else those above the `percentile` of the validation scores."""
    from latentforge.evaluation import anomaly

    score, scores_of = _scorer(run, score, k)
    items = load_items(run, data, split)
    scores = scores_of(items.x)
    if contamination is not None:
        threshold = anomaly.contamination_threshold(scores, contamination)
        rule = f"top {contamination:g} of the scored items"
    else:
        threshold, rule = _validation_threshold(run, scores_of, percentile)
    result = Anomalies(items, score, scores, scores > threshold, threshold, rule)
    result.auroc, result.auroc_note = run_classes_auroc(run, scores, items)
    return result


@dataclass
class AnomalyDetector:
    """A run's anomaly score (`score`: its name, `scores_of`: items (N, *sample_shape) ->
    scores (N,) tensor) and the threshold above which an item is anomalous, set by `rule`."""

    score: str
    scores_of: Callable
    threshold: float
    rule: str

    def __call__(self, x):
        """(scores (N,), flagged (N,) bool) of items x."""
        scores = self.scores_of(x)
        return scores, scores > self.threshold


def anomaly_detector(run, score: str = "auto", k: int = 5,
                     percentile: float = 99.0) -> AnomalyDetector:
    """The `score` of `score_anomalies` and its threshold (the `percentile` of the
    validation scores), computed once, to score any items later."""
    score, scores_of = _scorer(run, score, k)
    return AnomalyDetector(score, scores_of, *_validation_threshold(run, scores_of,
                                                                    percentile))


def _scorer(run, score: str, k: int) -> tuple[str, Callable]:
    """(the score's name, items -> scores) for `score` ("auto": the model's default)."""
    from latentforge.evaluation import anomaly

    if k < 1:
        raise ConfigError("--k and --top must be at least 1")
    score = anomaly.default_score(run.model) if score == "auto" else score
    anomaly.check_score(run.model, score, run.config.model_name)
    reference = split_items(run, "train") if score == "knn" else None
    return score, anomaly.anomaly_scorer(run.model, score, reference, k, run.encode)


def _validation_threshold(run, scores_of: Callable, percentile: float) -> tuple[float, str]:
    """(the `percentile` of the validation items' scores, the rule's description)."""
    from latentforge.evaluation.anomaly import percentile_threshold

    threshold = percentile_threshold(scores_of(split_items(run, "valid")), percentile)
    return threshold, f"{percentile:g}th percentile of the validation scores"


def run_classes_auroc(run, scores, items: Items) -> tuple[float | None, str | None]:
    """(AUROC of "not the run's train_classes", None) when the run was trained on some
    classes only and the items are labelled; items of another source (e.g. a folder of
    class subfolders) count when their class names are the run's class names. (None, why
    not) when it cannot be measured; (None, None) when it does not apply."""
    normal = run.config.data.train_classes
    if normal is None or items.labels is None:
        return None, None
    import torch

    from latentforge.evaluation.anomaly import auroc

    y, why = _in_run_classes(run, items.labels, items.same_source)
    if y is None:
        return None, why
    is_anomaly = ~torch.isin(y, torch.tensor(normal))
    if is_anomaly.all() or not is_anomaly.any():
        kind = "anomalous" if is_anomaly.all() else "normal"
        return None, f"every item is {kind} (in the run's classes {normal})"
    return auroc(scores, is_anomaly.numpy()), None


def _in_run_classes(run, labels: Labels, same_source: bool):
    """(the items' labels as the run's class indices, "") or (None, why not)."""
    import torch

    if same_source:
        return labels.y, ""
    run_classes = run.split("test").classes or run.split("train").classes
    if not labels.classes or not run_classes:
        return None, "the items' classes have no names to match with the run's classes"
    index = {_norm(name): k for k, name in enumerate(run_classes)}
    index.update({str(k): k for k in range(len(run_classes))})
    unknown = [c for c in labels.classes if _norm(c) not in index]
    if unknown:
        return None, (f"the items' classes {unknown} are not the run's classes "
                      f"({', '.join(map(str, run_classes))}); name the class subfolders "
                      "after those (or their numbers) to get the AUROC")
    mapping = torch.tensor([index[_norm(c)] for c in labels.classes])
    return mapping[labels.y], ""


def _norm(name) -> str:
    """A class name compared loosely: lower case, letters and digits only
    ("T-shirt/top" = "tshirt_top", "Ankle boot" = "ankle-boot")."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def write_anomaly_csv(result: Anomalies, path: str | Path) -> Path:
    """item,score,anomalous[,label] rows (one per item) to `path`; returns the path."""
    from latentforge.atomic import atomic_write_text
    from latentforge.viz.run_figures import csv_field

    labels = result.items.labels
    lines = ["item,score,anomalous" + (",label" if labels is not None else "")]
    for i, (name, s, f) in enumerate(zip(result.names, result.scores.tolist(),
                                         result.flagged.tolist())):
        row = f"{csv_field(name)},{s:.6g},{int(f)}"
        lines.append(row + (f",{csv_field(labels.name(i))}" if labels is not None else ""))
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
    return Path(path)


def anomaly_figure(result: Anomalies, path: str | Path, top: int = 16) -> Path:
    """The `top` most anomalous items (image runs), titled by score; returns the path."""
    from latentforge.viz.figures import image_grid, save_figure

    if top < 1:
        raise ConfigError("--k and --top must be at least 1")
    order = result.scores.argsort(descending=True)[:top].tolist()
    titles = [f"{result.scores[i]:.3g}" for i in order]
    grid = image_grid(result.items.x[order].numpy(), n_cols=min(8, len(order)), titles=titles)
    return save_figure(grid, Path(path))
