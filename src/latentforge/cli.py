"""The `latentforge` command line: thin subcommands over the public API.

Heavy libraries (torch, matplotlib, scikit-learn) are imported inside the commands, so
``latentforge --help`` is instant. Errors meant for the user print one line and exit 2
(3 when training diverged, 130 on Ctrl-C); the last saved checkpoint is always kept.
"""
from __future__ import annotations

import argparse
import json
import functools
import logging
import sys
from pathlib import Path

from latentforge.errors import LatentforgeError, TrainingDiverged

EXAMPLES = """examples:
  latentforge models
  latentforge train stacked_ae                      # book recipe, Fashion-MNIST
  latentforge train stacked_ae --epochs 2 --name quick
  latentforge train linear_ae --recipe fast
  latentforge train stacked_ae --data digits --set model.hidden=[32,8]
  latentforge train stacked_ae --resume             # continue runs/stacked_ae-book
  latentforge evaluate runs/stacked_ae-book
  latentforge reconstruct runs/stacked_ae-book --n 8
  latentforge encode runs/stacked_ae-book --split test --out codings.npy
"""


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="registered model name (see 'latentforge models')")
    p.add_argument("--recipe", default="book", help="recipe to start from (default: book)")
    p.add_argument("--config", metavar="FILE", help="JSON or TOML file with model/data/train "
                   "sections, applied after the recipe")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one value, e.g. --set train.epochs=5 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentforge", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train, evaluate and use the autoencoders and GANs of Hands-On ML ch. 17.",
        epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=_version())
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add = functools.partial(sub.add_parser, parents=[common])  # -q works on every command

    add("models", help="list registered models and their recipes")

    p = add("config", help="print the resolved config of a model and recipe")
    _add_config_args(p)

    p = add("train", help="train a model into a run directory")
    _add_config_args(p)
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--data", help="shortcut for --set data.source=SRC (fashion-mnist, mnist, "
                   "digits, synthetic3d, or a folder / .npy / .npz / .csv path)")
    p.add_argument("--device", help="auto | cpu | cuda | mps (shortcut for train.device)")
    p.add_argument("--name", help="run name (default: MODEL-RECIPE)")
    p.add_argument("--runs-dir", default="runs", help="parent folder of runs (default: runs)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last "
                   "checkpoint (its saved config plus any --set/--epochs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = add("evaluate", help="loss and rounded accuracy of a run on valid/test")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", nargs="+", default=["valid", "test"],
                   choices=["train", "valid", "test"])

    p = add("reconstruct", help="figure of originals over reconstructions")
    p.add_argument("run", help="run directory")
    p.add_argument("--n", type=int, default=5, help="number of images (default 5)")
    p.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    p.add_argument("--out", help="PNG path (default RUN/figures/reconstructions.png)")

    p = add("greedy", help="greedy layer-wise training: one shallow autoencoder at a time, "
            "stacked, then fine-tuned (book ch. 17)")
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 30],
                   help="coding sizes of the phases (default: 100 30)")
    p.add_argument("--epochs", type=int, default=10, help="epochs of each phase (book: 10)")
    p.add_argument("--finetune-epochs", type=int, default=10, help="fine-tuning epochs (10)")
    p.add_argument("--data", help="data source (default fashion-mnist)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="data.* / train.* override for every phase")
    p.add_argument("--name", default="greedy", help="folder under --runs-dir (greedy)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--overwrite", action="store_true", help="start over")
    p.add_argument("--no-progress", action="store_true")

    p = add("hashes", help="binary hashes of a hashing_ae run: statistics and a grid of "
            "images sharing the most common hashes")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    p.add_argument("--top", type=int, default=10, help="most common hashes shown (10)")
    p.add_argument("--per-hash", type=int, default=6, help="images per hash (6)")
    p.add_argument("--out", help="PNG path (default RUN/figures/hash_grid.png)")

    p = add("encode", help="write the codings of a split to a .npy file")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--out", help=".npy path (default RUN/codings-SPLIT.npy); labels, if any, "
                   "go beside it as *.labels.npy")
    return parser


def _version() -> str:
    from latentforge import __version__

    return f"latentforge {__version__}"


def cmd_models(args) -> int:
    from latentforge.registry import get_spec, names

    for name in names():
        spec = get_spec(name)
        print(f"{name:14s} {spec.summary}  [recipes: {', '.join(spec.recipes)}]")
    return 0


def cmd_config(args) -> int:
    from latentforge.config import build_config, describe

    print(describe(build_config(args.model, args.recipe, args.config, args.overrides)))
    return 0


def cmd_train(args) -> int:
    from latentforge import api
    from latentforge.viz.run_figures import write_figures

    overrides = list(args.overrides)
    for flag, key in ((args.epochs, "train.epochs"), (args.data, "data.source"),
                      (args.device, "train.device")):
        if flag is not None:
            overrides.append(f"{key}={json.dumps(flag)}")
    if args.no_progress:
        overrides.append("train.progress=false")
    run_dir = Path(args.runs_dir) / (args.name or f"{args.model}-{args.recipe}")
    if args.resume:
        if args.config:
            raise LatentforgeError("--config cannot be combined with --resume; change values "
                                   "of a resumed run with --set section.key=value.")
        cfg = api.read_config(run_dir)
        if cfg.model_name != args.model:
            raise LatentforgeError(f"'{run_dir}' is a {cfg.model_name} run, not {args.model}.")
        run = api.train(args.model, overrides=overrides, run_dir=run_dir, resume=True)
    else:
        from latentforge.config import build_config

        cfg = build_config(args.model, args.recipe, args.config, overrides)
        run = api.train(cfg, run_dir=run_dir, overwrite=args.overwrite)
    figures = write_figures(run)
    _print_metrics(run.history[-1] if run.history else {})
    print(f"run saved in {run_dir} ({len(figures)} figures in {run_dir / 'figures'})")
    return 0


def cmd_evaluate(args) -> int:
    from latentforge import api
    from latentforge.io import atomic_write_text

    run = api.load_run(args.run)
    results = {split: run.evaluate(split) for split in args.split}
    keys = sorted({k for r in results.values() for k in r})
    print(f"{'split':8s}" + "".join(f"{k:>18s}" for k in keys))
    for split, res in results.items():
        print(f"{split:8s}" + "".join(f"{res.get(k, float('nan')):18.4f}" for k in keys))
    atomic_write_text(Path(args.run) / "evaluation.json", json.dumps(results, indent=2) + "\n")
    return 0


def cmd_reconstruct(args) -> int:
    from latentforge import api
    from latentforge.viz.run_figures import reconstruction_pngs

    if args.n < 1:
        raise LatentforgeError(f"--n must be at least 1, got {args.n}")
    run = api.load_run(args.run)
    _require(run, "reconstruct")
    path = reconstruction_pngs(run, args.n, args.split, Path(args.out) if args.out else None)
    print(f"wrote {path}")
    return 0


def cmd_encode(args) -> int:
    import numpy as np

    from latentforge import api
    from latentforge.io import atomic_path

    run = api.load_run(args.run)
    _require(run, "encode")
    data = run.split(args.split)
    import torch

    codings = run.encode(data.batch(torch.arange(len(data)))).numpy()
    out = Path(args.out) if args.out else Path(args.run) / f"codings-{args.split}.npy"
    if out.suffix != ".npy":
        raise LatentforgeError(f"--out must end in .npy, got '{out}'")
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, codings)
    if data.y is not None:
        with atomic_path(out.with_suffix(".labels.npy")) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, data.y.numpy())
    print(f"wrote {out}: {codings.shape[0]} codings of size {codings.shape[1]}")
    return 0


def cmd_greedy(args) -> int:
    from latentforge.training.greedy import GreedyRecipe, train_greedy

    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data.source={json.dumps(args.data)}")
    if args.no_progress:
        overrides.append("train.progress=false")
    recipe = GreedyRecipe(hidden=tuple(args.hidden), epochs=args.epochs,
                          finetune_epochs=args.finetune_epochs, overrides=overrides)
    root = Path(args.runs_dir) / args.name
    summary = train_greedy(root, recipe, overwrite=args.overwrite)
    print(f"{'phase':8s}{'val_loss':>12s}{'val_rounded_accuracy':>22s}")
    for phase, rec in summary.items():
        acc = rec.get("val_rounded_accuracy")
        print(f"{phase:8s}{rec.get('val_loss', float('nan')):12.4f}"
              f"{'-' if acc is None else f'{acc:.4f}':>22s}")
    print(f"phases in {root}; the fine-tuned model is {root / 'stack'}")
    return 0


def cmd_hashes(args) -> int:
    from latentforge import api
    from latentforge.evaluation.hashing import hash_table
    from latentforge.viz.run_figures import codings_of, hash_grid_png

    if args.top < 1 or args.per_hash < 1:
        raise LatentforgeError("--top and --per-hash must be at least 1")
    run = api.load_run(args.run)
    _require(run, "encode")
    codes, _, labels = codings_of(run, args.split)
    for key, value in hash_table(codes, labels).items():
        print(f"  {key:22s} {value:.4f}" if isinstance(value, float) else f"  {key:22s} {value}")
    path = hash_grid_png(run, args.split, args.top, args.per_hash,
                         Path(args.out) if args.out else None)
    print(f"wrote {path}")
    return 0


def _require(run, method: str) -> None:
    if not hasattr(run.model, method):
        raise LatentforgeError(f"Model '{run.config.model_name}' cannot {method}.")


def _print_metrics(record: dict) -> None:
    for key, value in record.items():
        print(f"  {key:22s} {value:.4f}" if isinstance(value, float) else f"  {key:22s} {value}")


COMMANDS = {"models": cmd_models, "config": cmd_config, "train": cmd_train,
            "evaluate": cmd_evaluate, "reconstruct": cmd_reconstruct, "encode": cmd_encode,
            "greedy": cmd_greedy, "hashes": cmd_hashes}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except LatentforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last saved checkpoint is kept; continue with --resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
