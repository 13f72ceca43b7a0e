"""The commands that use trained runs as tools (anomalies, benchmark one-class, report) and
the whole chapter in one command (chapter).

Registered by `latentforge.cli`; each parser adder takes the subparser factory, each
command takes the parsed args and returns the exit code. Heavy imports stay inside.
"""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from pathlib import Path

from latentforge.errors import LatentforgeError

SCORE_CHOICES = ("auto", "reconstruction", "knn", "elbo", "discriminator")


def add_anomaly_commands(add) -> None:
    """anomalies, benchmark."""
    p = add("anomalies", help="anomaly score of every item, a threshold, a CSV of the scores "
            "and a figure of the most anomalous items")
    p.add_argument("run", help="run directory (trained on normal data)")
    p.add_argument("--data", help="items to score: a folder of images (every image in it, "
                   "by file name), one image file, or any data source (fashion-mnist, "
                   ".npy/.npz/.csv...); default: the run's own data")
    p.add_argument("--split", default="test", choices=["train", "valid", "test", "all"],
                   help="split scored when the data is not a folder/image (test)")
    p.add_argument("--score", default="auto", choices=SCORE_CHOICES,
                   help="auto (default): knn for autoencoders, elbo for VAEs, "
                   "discriminator for GANs. knn: mean distance of the codings to the k "
                   "nearest codings of the run's train split (one-class benchmark: mean "
                   "AUROC 0.947, against 0.860 for reconstruction); reconstruction: "
                   "per-item MSE")
    p.add_argument("--k", type=int, default=5, help="neighbours of the knn score (5)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--contamination", type=float, metavar="RATE",
                       help="flag this share of the scored items (e.g. 0.05)")
    group.add_argument("--percentile", type=float, default=99.0, metavar="P",
                       help="flag items above the P-th percentile of the run's validation "
                       "scores (default 99)")
    p.add_argument("--top", type=int, default=16, help="items in the figure (16)")
    p.add_argument("--out", help="CSV path (default RUN/anomalies.csv)")
    p.add_argument("--figure", help="PNG path (default RUN/figures/anomalies.png)")

    p = add("benchmark", help="protocols that train many models: one-class anomaly "
            "detection AUROC per Fashion-MNIST class")
    p.add_argument("protocol", choices=["one-class"])
    p.add_argument("--model", default="conv_ae", help="registered model (conv_ae)")
    p.add_argument("--recipe", default="fast", help="recipe (fast)")
    p.add_argument("--epochs", type=int, default=20, help="epochs on one class's ~5,500 "
                   "training images (20)")
    p.add_argument("--classes", type=int, nargs="+", help="normal classes (default: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (0 1 2)")
    p.add_argument("--scores", nargs="+", default=["knn", "reconstruction"],
                   choices=SCORE_CHOICES[1:], help="scores measured (knn reconstruction)")
    p.add_argument("--k", type=int, default=5, help="neighbours of the knn scores (5)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="config override for every model")
    p.add_argument("--out", default="runs/one-class", help="folder of the runs and of "
                   "results.json / results.md (runs/one-class)")
    p.add_argument("--verbose", action="store_true", help="log every epoch of every run "
                   "(default: one line per run)")


def add_report_command(add) -> None:
    p = add("report", help="write a self-contained report.html of a run: config, learning "
            "curves, metrics, every figure (embedded)")
    p.add_argument("run", help="run directory")
    p.add_argument("--out", help="HTML path (default RUN/report.html)")


def add_chapter_command(add) -> None:
    p = add("chapter", help="reproduce Hands-On ML ch. 17 section by section (every book "
            "recipe and figure) into one chapter.html with a book-vs-ours table")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="fast recipes and cut budgets: "
                       "under 10 minutes on 2 CPU cores")
    group.add_argument("--smoke", action="store_true", help="tiny digits runs of every "
                       "section in about a minute: checks the install, not quality")
    p.add_argument("--out", help="output folder (default runs/chapter-PROFILE)")
    p.add_argument("--sections", nargs="+", metavar="KEY", help="only these sections (and "
                   "what they need), e.g. stacked vae; default: all")
    p.add_argument("--overwrite", action="store_true", help="rerun sections already done "
                   "(by default an interrupted chapter continues where it stopped)")
    p.add_argument("--verbose", action="store_true", help="log every epoch of every run "
                   "(default: one line per section)")


def cmd_chapter(args) -> int:
    from latentforge.chapter import run_chapter

    profile = "quick" if args.quick else "smoke" if args.smoke else "full"
    out = Path(args.out or f"runs/chapter-{profile}")
    with _quiet_runs(args):
        results = run_chapter(out, profile, args.sections, args.overwrite,
                              progress=lambda line: print(line, flush=True))
    total = sum(r.seconds for r in results)
    print(f"{len(results)} sections, {total / 60:.1f} min of section time; wrote "
          f"{out / 'chapter.html'} and {out / 'chapter.json'}")
    return 0


def cmd_report(args) -> int:
    from latentforge.viz.report import write_report

    if args.out and Path(args.out).suffix.lower() not in (".html", ".htm"):
        raise LatentforgeError(f"--out must end in .html, got '{args.out}'")
    print(f"wrote {write_report(Path(args.run), args.out)}")
    return 0


def cmd_anomalies(args) -> int:
    from latentforge import api
    from latentforge.evaluation import anomaly
    from latentforge.evaluation.capabilities import can, require

    _check_anomaly_args(args)
    run = api.load_run(args.run)
    score = anomaly.default_score(run.model) if args.score == "auto" else args.score
    anomaly.check_score(run.model, score)
    figure = can(run.model, "images")
    if args.figure and not figure:
        require(run, "images", "anomalies --figure")
    x, names, items = _items(run, args)
    reference = _split_items(run, "train") if score == "knn" else None
    scores_of = anomaly.anomaly_scorer(run.model, score, reference, args.k, run.encode)
    scores = scores_of(x)
    if args.contamination is not None:
        threshold = anomaly.contamination_threshold(scores, args.contamination)
        rule = f"top {args.contamination:g} of the scored items"
    else:
        threshold = anomaly.percentile_threshold(scores_of(_split_items(run, "valid")),
                                                 args.percentile)
        rule = f"{args.percentile:g}th percentile of the validation scores"
    flagged = scores > threshold
    csv = Path(args.out) if args.out else Path(args.run) / "anomalies.csv"
    _write_csv(csv, names, scores, flagged, items)
    print(f"{len(scores)} items scored by {score}; threshold {threshold:.6g} ({rule}); "
          f"{int(flagged.sum())} flagged ({float(flagged.float().mean()):.2%})")
    _print_auroc(run, scores, items, same_source=not args.data
                 or args.data == run.config.data.source)
    if not figure:
        print(f"wrote {csv} (no figure: the items are table rows, not images)")
        return 0
    print(f"wrote {csv} and {_anomaly_figure(x, names, scores, args)}")
    return 0


def _check_anomaly_args(args) -> None:
    if args.k < 1 or args.top < 1:
        raise LatentforgeError("--k and --top must be at least 1")
    for path, suffix in ((args.out, ".csv"), (args.figure, ".png")):
        if path and Path(path).suffix.lower() != suffix:
            raise LatentforgeError(f"'{path}' must end in {suffix}")


def _split_items(run, split: str):
    import torch

    data = run.split(split)
    if not len(data):
        raise LatentforgeError(f"The run's {split} split is empty; use --contamination to "
                               "set the threshold instead.")
    return data.batch(torch.arange(len(data)))


def _items(run, args):
    """(x (N, *sample_shape) float, names (N,) str, `_Labels` or None)."""
    import torch

    if args.data and Path(args.data).exists() and (
            Path(args.data).is_dir() or Path(args.data).suffix.lower() in _image_suffixes()):
        return _image_files(run, Path(args.data))
    data = _source_split(run, args)
    x = data.batch(torch.arange(len(data)))
    if x.shape[1:] != tuple(run.model.sample_shape):
        raise LatentforgeError(f"The items have shape {tuple(x.shape[1:])}, but the model "
                               f"takes {tuple(run.model.sample_shape)}.")
    labels = None if data.y is None else _Labels(data.y, data.classes)
    return x, [str(i) for i in range(len(x))], labels


def _image_suffixes():
    from latentforge.data.folders import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS


def _image_files(run, path: Path):
    """Every image of a folder (or one image), read as the model's input, by file name."""
    import numpy as np
    import torch

    from latentforge.data.folders import list_images, read_image
    from latentforge.evaluation.capabilities import require

    require(run, "images", "Scoring image files")
    if path.is_dir():
        files, labels, classes = list_images(path)
    else:
        files, labels, classes = [path], None, None
    shape = tuple(run.model.sample_shape)
    x = torch.from_numpy(np.stack([read_image(f, shape) for f in files])).float() / 255
    names = [str(f.relative_to(path)) if path.is_dir() else f.name for f in files]
    return x, names, None if labels is None else _Labels(torch.tensor(labels), classes)


def _source_split(run, args):
    """The --split of the run's data, or of another --data source (same data options)."""
    from dataclasses import replace

    import torch

    from latentforge.data import load_data
    from latentforge.data.dataset import TensorData

    splits = run.data() if not args.data else load_data(
        replace(run.config.data, source=args.data, train_classes=None))
    if args.split != "all":
        return run.split(args.split) if not args.data else _named(splits, args.split)
    parts = [p for p in (splits.train, splits.valid, splits.test) if p is not None and len(p)]
    y = None if any(p.y is None for p in parts) else torch.cat([p.y for p in parts])
    return TensorData(torch.cat([p.x for p in parts]), y, parts[0].classes)


def _named(splits, name: str):
    data = getattr(splits, name)
    if data is None or not len(data):
        raise LatentforgeError(f"The data has no {name} split; use --split all.")
    return data


def _write_csv(path: Path, names, scores, flagged, labels: "_Labels | None") -> None:
    from latentforge.io import atomic_write_text
    from latentforge.viz.run_figures import csv_field

    header = "item,score,anomalous" + (",label" if labels is not None else "")
    lines = [header]
    for i, (name, s, f) in enumerate(zip(names, scores.tolist(), flagged.tolist())):
        row = f"{csv_field(name)},{s:.6g},{int(f)}"
        lines.append(row + (f",{csv_field(labels.name(i))}" if labels is not None else ""))
    atomic_write_text(path, "\n".join(lines) + "\n")


class _Labels:
    """The items' labels: y (N,) int tensor, indices into `classes` (names, or None)."""

    def __init__(self, y, classes):
        self.y, self.classes = y, classes

    def name(self, i: int) -> str:
        """Item i's class name (its label number when the classes have no names)."""
        k = int(self.y[i])
        return str(self.classes[k]) if self.classes else str(k)


def _print_auroc(run, scores, labels, same_source: bool) -> None:
    """AUROC of "not the run's train_classes" when the run was trained on some classes
    only and the items are labelled; items of another source (e.g. a folder of class
    subfolders) count when their class names are the run's class names."""
    normal = run.config.data.train_classes
    if normal is None or labels is None:
        return
    import torch

    from latentforge.evaluation.anomaly import auroc

    y, why = _in_run_classes(run, labels, same_source)
    if y is None:
        print(f"no AUROC: {why}")
        return
    is_anomaly = ~torch.isin(y, torch.tensor(normal))
    if is_anomaly.all() or not is_anomaly.any():
        kind = "anomalous" if is_anomaly.all() else "normal"
        print(f"no AUROC: every item is {kind} (in the run's classes {normal})")
        return
    print(f"AUROC of 'not class {normal}': {auroc(scores, is_anomaly.numpy()):.4f}")


def _in_run_classes(run, labels: _Labels, same_source: bool):
    """(the items' labels as the run's class indices, None) or (None, why not)."""
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


def _anomaly_figure(x, names, scores, args) -> Path:
    from latentforge.viz.figures import image_grid, save_figure

    top = scores.argsort(descending=True)[:args.top].tolist()
    titles = [f"{scores[i]:.3g}" for i in top]
    out = Path(args.figure) if args.figure else Path(args.run) / "figures" / "anomalies.png"
    return save_figure(image_grid(x[top].numpy(), n_cols=min(8, len(top)), titles=titles), out)


def cmd_benchmark(args) -> int:
    from latentforge.evaluation.one_class import markdown_table, run_protocol
    from latentforge.io import atomic_write_text

    if args.epochs < 1 or args.k < 1:
        raise LatentforgeError("--epochs and --k must be at least 1")
    out = Path(args.out)
    overrides = [*args.overrides, f"train.epochs={args.epochs}", "train.progress=false"]
    with _quiet_runs(args):
        result = run_protocol(args.model, args.recipe, args.classes, args.seeds,
                              tuple(dict.fromkeys(args.scores)), args.k, overrides, out,
                              progress=lambda line: print(line, flush=True))
    table = markdown_table(result)
    print(table)
    atomic_write_text(out / "results.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "results.md", table + "\n")
    print(f"wrote {out / 'results.md'} and {out / 'results.json'}")
    return 0


@contextmanager
def _quiet_runs(args):
    """Commands that train many runs print one line per run, and log per epoch only with
    --verbose (the library's logger level is restored afterwards)."""
    logger = logging.getLogger("latentforge")
    level = logger.level
    if not args.verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


COMMANDS = {"anomalies": cmd_anomalies, "benchmark": cmd_benchmark, "report": cmd_report,
            "chapter": cmd_chapter}
