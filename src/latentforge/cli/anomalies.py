"""`latentforge anomalies` (score items with a run trained on normal data:
`tasks.score_anomalies`) and `benchmark one-class` (`tasks.one_class`)."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from latentforge.cli.common import ITEM_SPLITS
from latentforge.errors import LatentforgeError
from latentforge.evaluation.anomaly import SCORES

SCORE_CHOICES = ("auto", *SCORES)


def add_anomalies(add) -> None:
    p = add("anomalies", help="anomaly score of every item, a threshold, a CSV of the scores "
            "and a figure of the most anomalous items")
    p.add_argument("run", help="run directory (trained on normal data)")
    p.add_argument("--data", help="items to score: a folder of images (every image in it, "
                   "by file name), one image file, or any data source (fashion-mnist, "
                   ".npy/.npz/.csv...); default: the run's own data")
    p.add_argument("--split", default="test", choices=ITEM_SPLITS,
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


def cmd_anomalies(args) -> int:
    from latentforge import api
    from latentforge.evaluation.capabilities import can, require
    from latentforge.tasks import anomaly_figure, score_anomalies, write_anomaly_csv

    _check_anomaly_args(args)
    run = api.load_run(args.run)
    if args.figure:
        require(run, "images", "anomalies --figure")
    r = score_anomalies(run, args.data, args.split, args.score, args.k, args.contamination,
                        args.percentile)
    csv = write_anomaly_csv(r, Path(args.out) if args.out else Path(args.run) / "anomalies.csv")
    print(f"{len(r.scores)} items scored by {r.score}; threshold {r.threshold:.6g} "
          f"({r.rule}); {int(r.flagged.sum())} flagged ({float(r.flagged.float().mean()):.2%})")
    if r.auroc is not None or r.auroc_note:
        print(f"AUROC of 'not class {run.config.data.train_classes}': {r.auroc:.4f}"
              if r.auroc is not None else f"no AUROC: {r.auroc_note}")
    if not can(run.model, "images"):
        print(f"wrote {csv} (no figure: the items are table rows, not images)")
        return 0
    figure = Path(args.figure) if args.figure else Path(args.run) / "figures" / "anomalies.png"
    print(f"wrote {csv} and {anomaly_figure(r, figure, args.top)}")
    return 0


def _check_anomaly_args(args) -> None:
    if args.k < 1 or args.top < 1:
        raise LatentforgeError("--k and --top must be at least 1")
    for path, suffix in ((args.out, ".csv"), (args.figure, ".png")):
        if path and Path(path).suffix.lower() != suffix:
            raise LatentforgeError(f"'{path}' must end in {suffix}")


def add_benchmark(add) -> None:
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
                   choices=SCORES, help="scores measured (knn reconstruction)")
    p.add_argument("--k", type=int, default=5, help="neighbours of the knn scores (5)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="config override for every model")
    p.add_argument("--out", default="runs/one-class", help="folder of the runs and of "
                   "results.json / results.md (runs/one-class)")
    p.add_argument("--verbose", action="store_true", help="log every epoch of every run "
                   "(default: one line per run)")


def cmd_benchmark(args) -> int:
    from latentforge.tasks import one_class, write_one_class
    from latentforge.tasks.protocols import one_class_table

    if args.epochs < 1 or args.k < 1:
        raise LatentforgeError("--epochs and --k must be at least 1")
    with quiet_runs(args.verbose):
        result = one_class(args.model, args.recipe, args.epochs, args.classes, args.seeds,
                           args.scores, args.k, args.overrides, args.out,
                           progress=lambda line: print(line, flush=True))
    print(one_class_table(result))
    results, table = write_one_class(result, args.out)
    print(f"wrote {table} and {results}")
    return 0


@contextmanager
def quiet_runs(verbose: bool):
    """Commands that train many runs print one line per run, and log per epoch only with
    --verbose (the library's logger level is restored afterwards)."""
    logger = logging.getLogger("latentforge")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


COMMANDS = {"anomalies": cmd_anomalies, "benchmark": cmd_benchmark}
